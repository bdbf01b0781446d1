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

    @OptionGroup var io: TokenizerOptions

    @Flag(help: "Print one JSON object (seconds, shapes, output).")
    var json = false

    func validate() throws {
        try io.check(input: cube, allow: [.file])
    }

    func run() throws {
        let out = io.out
        out.applyLog()
        let file: TokenCubeFile
        do { file = try TokenCubeFile(path: cube) } catch let e as WeightsError { throw RunError(e.description) }
        let t0 = now()
        let tok = try io.model.tokenizer()
        let load = seconds(since: t0)
        let (F, h, w) = tok.config.outputShape(t: file.t, h: file.h, w: file.w)
        let target = try out.target
        let fps = out.frameRate()
        let encode = out.encodeOptions(fps: fps)
        try io.preflight(target, width: w, height: h, fps: fps, options: encode, input: cube)
        let (clip, pixels, decode) = try tok.decode(file, fps: fps)
        try target.write(clip, options: encode)
        try io.writeFloatFrames(pixels, count: F, height: h, width: w)
        let (ow, oh) = out.outputSize((w, h))
        if json {
            try JSONReport.print(["output": out.output, "cube": file.dims, "frames": F, "width": ow, "height": oh, "fps": fps,
                                  "load_seconds": JSONReport.seconds(load), "decode_seconds": JSONReport.seconds(decode)],
                                 toStderr: out.toStdout)
        } else {
            out.report(String(format: "%@: %dx%dx%d tokens -> %d frames %dx%d in %.2f s", out.output, file.t, file.h, file.w, F, ow, oh, decode))
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

    @OptionGroup var io: TokenizerOptions

    @Flag(help: "Print one JSON object (PSNR, seconds, shapes, output).")
    var json = false

    func validate() throws {
        try io.check(input: input)
    }

    func run() throws {
        let out = io.out
        out.applyLog()
        let tok = try io.model.tokenizer()
        let clip = try tok.readClip(input)
        let target = try out.target
        let fps = out.frameRate(clip.fps)
        let encode = out.encodeOptions(fps: fps)
        try io.preflight(target, width: clip.width, height: clip.height, fps: fps, options: encode, input: input)
        let r = try tok.reconstruct(clip, fps: fps)
        let (t, h, w) = r.latent
        try target.write(r.frames, options: encode)
        try io.writeFloatFrames(r.pixels, count: clip.count, height: clip.height, width: clip.width)
        if json {
            try JSONReport.print(["input": input, "output": out.output, "frames": clip.count, "width": clip.width, "height": clip.height,
                                  "cube": [t, h, w], "psnr_db": r.psnr.isFinite ? (r.psnr * 100).rounded() / 100 : 999,
                                  "encode_seconds": JSONReport.seconds(r.encodeSeconds), "decode_seconds": JSONReport.seconds(r.decodeSeconds)],
                                 toStderr: out.toStdout)
        } else {
            out.report(String(format: "%@: %d frames %dx%d -> %dx%dx%d tokens -> PSNR %.2f dB (encode %.2f s, decode %.2f s)",
                         out.output, clip.count, clip.width, clip.height, t, h, w, r.psnr, r.encodeSeconds, r.decodeSeconds))
        }
    }
}
