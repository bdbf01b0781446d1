import Foundation

/// One generated image and how it was made.
public struct RenderedImage: Sendable {
    public let classID: Int
    public let seed: UInt64
    public let cube: TokenCube
    /// One frame of RGB8.
    public let image: VideoFrames
}

/// Class -> 1 x H x W tokens (PAR / LlamaGen engine, 2d rotary) -> image
/// (the vq2d tokenizer's decoder): a class-to-image bundle's GPT and
/// tokenizer joined, checked against each other once.
public final class ImagePipeline {
    public let bundle: ModelBundle
    public let config: GPTConfig
    public let generator: PARGenerator
    public let tokenizer: VQImageTokenizer
    /// Images are resized to this (bicubic on the decoder output, as the
    /// paper's evaluation does); nil: the decoder's size.
    public let outputSize: (width: Int, height: Int)?

    public init(bundle: ModelBundle, parallel: Int? = nil, outputSize: (width: Int, height: Int)? = nil) throws {
        self.outputSize = outputSize
        self.bundle = bundle
        let entry = try bundle.gpt(parallel: parallel)
        config = entry.config
        guard let vq = bundle.vq else { throw PipelineError("\(bundle.path): the bundle has no vq2d image tokenizer") }
        guard config.makesImages else {
            throw WeightsError("\(entry.file.path): a \(config.cube.map(String.init).joined(separator: "x")) \(config.rope.rawValue) GPT makes video tokens, not a 1 x H x W image grid",
                               badInput: true)
        }
        guard config.vocabSize == vq.config.codebookSize else {
            throw WeightsError("\(bundle.path): the GPT's vocabulary (\(config.vocabSize)) differs from the vq2d tokenizer's codebook (\(vq.config.codebookSize))",
                               badInput: true)
        }
        let side = Checked.multiply(config.cube[1], vq.config.upsample)
        if let size = config.imageSize, size != side {
            throw WeightsError("\(bundle.path): the GPT was trained for \(size)x\(size) images, its \(config.cube[1])x\(config.cube[2]) tokens decode to \(side ?? 0)x\(side ?? 0)",
                               badInput: true)
        }
        tokenizer = try VQImageTokenizer(file: vq.file, decoderOnly: true)
        generator = PARGenerator(model: try GPT(entry))
    }

    /// Pixels per side of a generated image.
    public var imageSize: (width: Int, height: Int) { (config.cube[2] * tokenizer.config.upsample, config.cube[1] * tokenizer.config.upsample) }

    /// Renders one image per class; image b draws from its own stream
    /// `seeds[b]`, so it does not depend on what else is in the batch. Pixels
    /// are round(255 (x + 1) / 2) of the decoder output x (resized to
    /// `outputSize` first), which is LlamaGen's uint8(clamp(127.5 x + 128))
    /// up to float rounding.
    public func render(classes: [Int], seeds: [UInt64], options: SamplingOptions, timings: inout RenderTimings,
                       progress: ((StepProgress) -> Void)? = nil) throws -> [RenderedImage] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let cubes = try generator.generate(actions: classes, options: options, seeds: seeds, progress: progress)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var images: [RenderedImage] = []
        for (b, cube) in cubes.enumerated() {
            let x = try tokenizer.decodeUnclamped(indices: cube.tokens, h: cube.H, w: cube.W)
            let (w, h) = imageSize, (ow, oh) = outputSize ?? imageSize
            let pixels = Bicubic.resize(x, height: h, width: w, channels: 3, toHeight: oh, toWidth: ow).map { min(max(($0 + 1) * 0.5, 0), 1) }
            images.append(RenderedImage(classID: classes[b], seed: seeds[b], cube: cube,
                                        image: VideoFrames(floats: pixels, count: 1, height: oh, width: ow, fps: 1)))
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        timings.tokens += Double(t1 - t0) * 1e-9
        timings.decode += Double(t2 - t1) * 1e-9
        return images
    }
}
