import Foundation

/// A token cube file as `decode` reads it: (T, H, W) or (1, T, H, W) int32.
public struct TokenCubeFile: Sendable {
    public let path: String
    public let values: [Int32]
    public let t: Int, h: Int, w: Int

    public init(path: String) throws {
        let (values, shape) = try NPY.read(path)
        let dims = shape.count == 4 && shape[0] == 1 ? Array(shape.dropFirst()) : shape
        guard dims.count == 3 else {
            throw PipelineError("\(path): token cube has shape \(shape), expected (T, H, W) or (1, T, H, W)")
        }
        (self.path, self.values, t, h, w) = (path, values, dims[0], dims[1], dims[2])
    }

    public var dims: [Int] { [t, h, w] }
}

/// A clip through the tokenizer and back, and the seconds each way.
public struct Reconstruction: Sendable {
    public let frames: VideoFrames
    /// The decoder's frames before 8-bit rounding: F x H x W x 3 in [0, 1].
    public let pixels: [Float]
    public let latent: (t: Int, h: Int, w: Int)
    public let psnr: Double
    public let encodeSeconds: Double, decodeSeconds: Double
}

extension VideoTokenizer {
    /// The frames of a token cube file, playing at `fps`, as 8-bit frames and as the decoder's
    /// floats (F x H x W x 3 in [0, 1]), and the seconds the decoder took.
    public func decode(_ file: TokenCubeFile, fps: Double) throws -> (clip: VideoFrames, pixels: [Float], seconds: Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (count, height, width) = config.outputShape(t: file.t, h: file.h, w: file.w)
        let pixels: [Float]
        do { pixels = try decode(cube: file.values, t: file.t, h: file.h, w: file.w) } catch let e as TokenizerError {
            throw PipelineError("\(file.path): \(e.description)")
        }
        let clip = VideoFrames(floats: pixels, count: count, height: height, width: width, fps: fps)
        return (clip, pixels, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }

    /// The first clip-length frames of a video or frame folder, at the tokenizer's size.
    public func readClip(_ path: String) throws -> VideoFrames {
        let clip: VideoFrames
        do {
            clip = try VideoReader.read(URL(fileURLWithPath: path), size: (config.size, config.size), maxFrames: config.frames)
        } catch {
            throw PipelineError("\(path): not a readable video (\(error))")
        }
        guard clip.count >= config.frames else {
            throw PipelineError("\(path): clip too short to encode: \(clip.count) frames, the tokenizer needs \(config.frames)")
        }
        return clip
    }

    /// Encodes, quantizes and decodes `clip`; the result plays at `fps`.
    public func reconstruct(_ clip: VideoFrames, fps: Double) throws -> Reconstruction {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let cube = try encode(frames: clip.floats(layout: .thwc), count: clip.count, height: clip.height, width: clip.width)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let (t, h, w) = config.latentShape(frames: clip.count, height: clip.height, width: clip.width)
        let pixels = try decode(cube: cube, t: t, h: h, w: w)
        let t2 = DispatchTime.now().uptimeNanoseconds
        let result = VideoFrames(floats: pixels, count: clip.count, height: clip.height, width: clip.width, fps: fps)
        return Reconstruction(frames: result, pixels: pixels, latent: (t, h, w), psnr: result.psnr(against: clip),
                              encodeSeconds: Double(t1 - t0) * 1e-9, decodeSeconds: Double(t2 - t1) * 1e-9)
    }
}

/// Frames as the decoder made them, before 8-bit rounding: a float32 .npy of shape
/// (F, H, W, 3), values in [0, 1], written atomically (no partial file on failure).
public enum FloatFrames {
    public static func write(_ pixels: [Float], count: Int, height: Int, width: Int, to url: URL, overwrite: Bool) throws {
        try AtomicOutput.write(to: url, overwrite: overwrite) { tmp in
            try AtomicOutput.writeFile(NPY.encode(pixels, shape: [count, height, width, 3]), to: tmp.path)
        }
    }
}

extension ModelBundle {
    /// The bundle's video tokenizer, or one line saying how to get one.
    public func videoTokenizer() throws -> VideoTokenizer {
        guard let tok = tokenizer else {
            throw PipelineError("\(path): no tokenizer in the bundle (docs/BUNDLE.md; convert one with python3 -m tools.convert.convert_nbp)")
        }
        return try VideoTokenizer(file: tok.file)
    }
}
