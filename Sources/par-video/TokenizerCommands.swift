import ArgumentParser
import Foundation
import PARVideo

/// `par-video decode cube.npy -o out.mp4`: token cube -> video.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a token cube (.npy, T x H x W integers) with the model's tokenizer into a video.")

    @Argument(help: "Token cube: .npy of shape (T, H, W) or (1, T, H, W), values in [0, vocabulary).")
    var cube: String

    @OptionGroup(title: "Model") var model: BundleOptions
    @OptionGroup(title: "Output") var out: OutputOptions

    @Flag(help: "Print one JSON object (seconds, shapes, output).")
    var json = false

    func validate() throws {
        try checkInput(cube, option: "", allow: [.file])
        try out.check(input: cube)
    }

    func run() throws {
        out.applyLog()
        let (shape, values): ([Int], [Int32])
        do { (values, shape) = try NPY.read(cube) } catch let e as WeightsError { throw RunError(e.description) }
        let dims = shape.count == 4 && shape[0] == 1 ? Array(shape.dropFirst()) : shape
        guard dims.count == 3 else {
            throw RunError("\(cube): token cube has shape \(shape), expected (T, H, W) or (1, T, H, W)")
        }
        let t0 = now()
        let tok = try model.tokenizer()
        let load = seconds(since: t0)
        let (F, h, w) = tok.config.outputShape(t: dims[0], h: dims[1], w: dims[2])
        let target = try out.target
        let fps = out.frameRate()
        let encode = out.encodeOptions(fps: fps)
        do {
            try target.preflight(width: w, height: h, fps: fps, options: encode)
        } catch let e as VideoIOError { throw RunError("\(cube): \(e.description)") }
        let t1 = now()
        let frames: [Float]
        do { frames = try tok.decode(cube: values, t: dims[0], h: dims[1], w: dims[2]) } catch let e as TokenizerError {
            throw RunError("\(cube): \(e.description)")
        }
        let decode = seconds(since: t1)
        let clip = VideoFrames(floats: frames, count: F, height: h, width: w, fps: fps)
        try target.write(clip, options: encode)
        let (ow, oh) = out.outputSize((w, h))
        if json {
            try JSONReport.print(["output": out.output, "cube": dims, "frames": F, "width": ow, "height": oh, "fps": fps,
                                  "load_seconds": JSONReport.seconds(load), "decode_seconds": JSONReport.seconds(decode)],
                                 toStderr: out.toStdout)
        } else {
            out.report(String(format: "%@: %dx%dx%d tokens -> %d frames %dx%d in %.2f s", out.output, dims[0], dims[1], dims[2], F, ow, oh, decode))
        }
    }
}

/// `par-video reconstruct in.mp4 -o out.mp4`: encode, quantize, decode; PSNR.
struct ReconstructCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconstruct",
        abstract: "Encode a video with the model's tokenizer, quantize, decode, and report the PSNR.",
        discussion: "The first clip-length frames of the input (see `par-video inspect`) are used, resized to the tokenizer's size.")

    @Argument(help: "Input video (any format FFmpeg reads) or a folder of PNG frames.")
    var input: String

    @OptionGroup(title: "Model") var model: BundleOptions
    @OptionGroup(title: "Output") var out: OutputOptions

    @Flag(help: "Print one JSON object (PSNR, seconds, shapes, output).")
    var json = false

    func validate() throws {
        try checkInput(input, option: "")
        try out.check(input: input)
    }

    func run() throws {
        out.applyLog()
        let tok = try model.tokenizer()
        let cfg = tok.config
        let clip: VideoFrames
        do {
            clip = try VideoReader.read(URL(fileURLWithPath: input), size: (cfg.size, cfg.size), maxFrames: cfg.frames)
        } catch {
            throw RunError("\(input): not a readable video (\(error))")
        }
        guard clip.count >= cfg.frames else {
            throw RunError("\(input): clip too short to encode: \(clip.count) frames, the tokenizer needs \(cfg.frames)")
        }
        let target = try out.target
        let fps = out.frameRate(clip.fps)
        let encode = out.encodeOptions(fps: fps)
        do {
            try target.preflight(width: clip.width, height: clip.height, fps: fps, options: encode)
        } catch let e as VideoIOError { throw RunError("\(input): \(e.description)") }
        let t0 = now()
        let cube = try tok.encode(frames: clip.floats(layout: .thwc), count: clip.count, height: clip.height, width: clip.width)
        let encodeSeconds = seconds(since: t0)
        let (t, h, w) = cfg.latentShape(frames: clip.count, height: clip.height, width: clip.width)
        let t1 = now()
        let frames = try tok.decode(cube: cube, t: t, h: h, w: w)
        let decode = seconds(since: t1)
        let result = VideoFrames(floats: frames, count: clip.count, height: clip.height, width: clip.width, fps: fps)
        let psnr = result.psnr(against: clip)
        try target.write(result, options: encode)
        if json {
            try JSONReport.print(["input": input, "output": out.output, "frames": clip.count, "width": clip.width, "height": clip.height,
                                  "cube": [t, h, w], "psnr_db": psnr.isFinite ? (psnr * 100).rounded() / 100 : 999,
                                  "encode_seconds": JSONReport.seconds(encodeSeconds), "decode_seconds": JSONReport.seconds(decode)],
                                 toStderr: out.toStdout)
        } else {
            out.report(String(format: "%@: %d frames %dx%d -> %dx%dx%d tokens -> PSNR %.2f dB (encode %.2f s, decode %.2f s)",
                         out.output, clip.count, clip.width, clip.height, t, h, w, psnr, encodeSeconds, decode))
        }
    }
}
