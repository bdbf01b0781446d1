import ArgumentParser
import Foundation
import PARVideo

/// The tokenizer bundle of --model: the file, or the one tokenizer in a folder.
enum TokenizerLocator {
    static func open(_ model: String?) throws -> VideoTokenizer {
        let bundles = ModelLocator.bundles(explicit: model)
        for url in bundles {
            let file = try SafeTensorsFile(path: url.path)
            if let meta = file.metadata["par_video"], meta.contains("\"tokenizer\"") {
                return try VideoTokenizer(file: file)
            }
        }
        throw RunError("no tokenizer bundle at \(ModelLocator.describe(explicit: model)) (docs/BUNDLE.md; convert one with tools/convert_nbp.py)")
    }
}

private func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }

private func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// `par-video decode cube.npy --model M -o out.mp4`: token cube -> video.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a token cube (.npy, T x H x W integers) with the tokenizer into a video.")

    @Argument(help: "Token cube: .npy of shape (T, H, W) or (1, T, H, W), values in [0, vocabulary).")
    var cube: String

    @Option(name: .long, help: ArgumentHelp("Tokenizer bundle, or a folder holding one. (default: $PAR_VIDEO_MODEL, else ./models)", valueName: "PATH"))
    var model: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output MP4 (--format mp4), frame folder (frames), or .mp4 path (both).", valueName: "OUT"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("mp4, frames (folder of PNGs) or both.", valueName: "mp4|frames|both"))
    var format: OutputFormat = .mp4

    @Option(name: .long, help: "Frames per second of the output.")
    var fps: Double = VideoFrames.defaultFPS

    @Flag(help: "Print one JSON object (seconds, shapes, output).")
    var json = false

    @Flag(name: .long, help: "Show FFmpeg's own log on stderr (by default only par-video's one-line errors).")
    var verbose = false

    func validate() throws {
        try checkInput(cube, option: "", allow: [.file])
        if let model { try checkInput(model, option: "--model") }
        guard fps.isFinite, fps >= VideoWriter.minimumFPS, fps <= 240 else {
            throw ValidationError("--fps \(fps): must be in [\(VideoWriter.minimumFPS), 240]")
        }
        if let problem = VideoWriter.frameRateProblem(fps) { throw ValidationError("--fps: \(problem)") }
        let paths = try OutputPaths(output: output, format: format)
        try paths.checkWritable()
        try paths.refuse(input: cube, option: "")
    }

    func run() throws {
        FFmpegLog.verbose = verbose
        let (shape, values): ([Int], [Int32])
        do { (values, shape) = try NPY.read(cube) } catch let e as WeightsError { throw RunError(e.description) }
        let dims = shape.count == 4 && shape[0] == 1 ? Array(shape.dropFirst()) : shape
        guard dims.count == 3 else {
            throw RunError("\(cube): token cube has shape \(shape), expected (T, H, W) or (1, T, H, W)")
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let tok = try TokenizerLocator.open(model)
        let load = seconds(since: t0)
        let (F, h, w) = tok.config.outputShape(t: dims[0], h: dims[1], w: dims[2])
        let paths = try OutputPaths(output: output, format: format)
        do {
            try ClipOutput.preflight(width: w, height: h, fps: fps, mp4: paths.mp4, frames: paths.frames,
                                     options: VideoEncodeOptions(fps: fps))
        } catch let e as VideoIOError { throw RunError("\(cube): \(e.description)") }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let frames: [Float]
        do { frames = try tok.decode(cube: values, t: dims[0], h: dims[1], w: dims[2]) } catch let e as TokenizerError {
            throw RunError("\(cube): \(e.description)")
        }
        let decode = seconds(since: t1)
        let clip = VideoFrames(floats: frames, count: F, height: h, width: w, fps: fps)
        try ClipOutput.write(clip, mp4: paths.mp4, frames: paths.frames, options: VideoEncodeOptions(fps: fps))
        if json {
            try printJSON(["cube": dims, "frames": [F, h, w], "load_seconds": load, "decode_seconds": decode, "output": output])
        } else {
            print(String(format: "%@: %dx%dx%d tokens -> %d frames %dx%d in %.2f s", output, dims[0], dims[1], dims[2], F, w, h, decode))
        }
    }
}

/// `par-video reconstruct in.mp4 --model M -o out.mp4`: encode, quantize, decode; PSNR.
struct ReconstructCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconstruct",
        abstract: "Encode a video with the tokenizer, quantize, decode, and report the PSNR.",
        discussion: "The first clip-length frames (17 for NBP's UCF tokenizer) are used, resized to the tokenizer's size.")

    @Argument(help: "Input video (any format FFmpeg reads) or a folder of PNG frames.")
    var input: String

    @Option(name: .long, help: ArgumentHelp("Tokenizer bundle, or a folder holding one. (default: $PAR_VIDEO_MODEL, else ./models)", valueName: "PATH"))
    var model: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output MP4 (--format mp4), frame folder (frames), or .mp4 path (both).", valueName: "OUT"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("mp4, frames (folder of PNGs) or both.", valueName: "mp4|frames|both"))
    var format: OutputFormat = .mp4

    @Flag(help: "Print one JSON object (PSNR, seconds, shapes, output).")
    var json = false

    @Flag(name: .long, help: "Show FFmpeg's own log on stderr (by default only par-video's one-line errors).")
    var verbose = false

    func validate() throws {
        try checkInput(input, option: "")
        if let model { try checkInput(model, option: "--model") }
        let paths = try OutputPaths(output: output, format: format)
        try paths.checkWritable()
        try paths.refuse(input: input, option: "")
    }

    func run() throws {
        FFmpegLog.verbose = verbose
        let tok = try TokenizerLocator.open(model)
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
        let paths = try OutputPaths(output: output, format: format)
        do {
            try ClipOutput.preflight(width: clip.width, height: clip.height, fps: clip.fps, mp4: paths.mp4, frames: paths.frames,
                                     options: VideoEncodeOptions(fps: clip.fps))
        } catch let e as VideoIOError { throw RunError("\(input): \(e.description)") }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let cube = try tok.encode(frames: clip.floats(layout: .thwc), count: clip.count, height: clip.height, width: clip.width)
        let encode = seconds(since: t0)
        let (t, h, w) = cfg.latentShape(frames: clip.count, height: clip.height, width: clip.width)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let frames = try tok.decode(cube: cube, t: t, h: h, w: w)
        let decode = seconds(since: t1)
        let out = VideoFrames(floats: frames, count: clip.count, height: clip.height, width: clip.width, fps: clip.fps)
        let psnr = out.psnr(against: clip)
        try ClipOutput.write(out, mp4: paths.mp4, frames: paths.frames, options: VideoEncodeOptions(fps: clip.fps))
        if json {
            try printJSON(["input": input, "output": output, "frames": [clip.count, clip.height, clip.width], "cube": [t, h, w],
                           "psnr_db": psnr.isFinite ? psnr : 999, "encode_seconds": encode, "decode_seconds": decode])
        } else {
            print(String(format: "%@: %d frames %dx%d -> %dx%dx%d tokens -> PSNR %.2f dB (encode %.2f s, decode %.2f s)",
                         output, clip.count, clip.width, clip.height, t, h, w, psnr, encode, decode))
        }
    }
}
