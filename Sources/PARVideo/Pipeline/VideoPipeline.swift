import Foundation

/// One generated clip and the figures that describe how it was made.
public struct RenderedClip: Sendable {
    public let action: Int
    public let seed: UInt64
    public let cube: TokenCube
    public let frames: VideoFrames
}

/// Wall-clock seconds of one `render` call, by stage.
public struct RenderTimings: Sendable {
    public var tokens: Double = 0
    public var decode: Double = 0
    /// Encoding context frames for longer clips (Continuation.swift).
    public var context: Double = 0
    public init() {}
}

/// A clip the pipeline cannot make from its inputs (a bundle without a
/// tokenizer, a context clip of the wrong size, a bad frame count).
public struct PipelineError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Action -> token cube (PAR engine) -> frames (tokenizer decoder): the
/// engine and the tokenizer of one bundle joined.
public final class VideoPipeline {
    public let bundle: ModelBundle
    public let config: GPTConfig
    public let generator: PARGenerator
    public let tokenizer: VideoTokenizer

    public init(bundle: ModelBundle, parallel: Int? = nil) throws {
        self.bundle = bundle
        let entry = try bundle.gpt(parallel: parallel)
        config = entry.config
        guard let tok = bundle.tokenizer else {
            throw PipelineError("\(bundle.path): the bundle has no tokenizer, so it makes token cubes (`par-video tokens`) but no video")
        }
        tokenizer = try VideoTokenizer(file: tok.file)
        guard tokenizer.fsq.vocabularySize == config.vocabSize else {
            throw PipelineError("\(bundle.path): the GPT's vocabulary (\(config.vocabSize)) differs from the tokenizer's (\(tokenizer.fsq.vocabularySize))")
        }
        generator = PARGenerator(model: try GPT(entry))
    }

    /// Frames one token cube decodes to (17 for a 5-frame cube at 4x in time).
    public var clipFrames: Int { tokenizer.config.outputShape(t: config.cube[0], h: config.cube[1], w: config.cube[2]).frames }

    public var frameSize: (width: Int, height: Int) {
        let s = tokenizer.config.outputShape(t: config.cube[0], h: config.cube[1], w: config.cube[2])
        return (s.width, s.height)
    }

    /// Class names of the model: its own list, UCF-101's for a 101-class
    /// model without one, else none (ids only).
    public var actions: ActionCatalog? { config.selection.catalog }

    public func actionName(_ id: Int) -> String { actions?.names[id] ?? "class\(id)" }

    /// Renders one clip per action; the clips share every forward pass and
    /// clip b draws from its own stream `seeds[b]`, so a clip's frames do not
    /// depend on what else is in the batch.
    public func render(actions: [Int], seeds: [UInt64], options: SamplingOptions, fps: Double,
                       timings: inout RenderTimings,
                       progress: ((StepProgress) -> Void)? = nil) throws -> [RenderedClip] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let cubes = try generator.generate(actions: actions, options: options, seeds: seeds, progress: progress)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var clips: [RenderedClip] = []
        for (b, cube) in cubes.enumerated() {
            let pixels = try tokenizer.decode(cube: cube.tokens, t: cube.T, h: cube.H, w: cube.W)
            let shape = tokenizer.config.outputShape(t: cube.T, h: cube.H, w: cube.W)
            let frames = VideoFrames(floats: pixels, count: shape.frames, height: shape.height, width: shape.width, fps: fps)
            clips.append(RenderedClip(action: actions[b], seed: seeds[b], cube: cube, frames: frames))
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        timings.tokens += Double(t1 - t0) * 1e-9
        timings.decode += Double(t2 - t1) * 1e-9
        return clips
    }
}
