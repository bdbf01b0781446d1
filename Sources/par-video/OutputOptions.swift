import ArgumentParser
import Foundation
import PARVideo

extension FrameSize: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

extension OutputFormat: ExpressibleByArgument {}

extension VideoEncodeOptions.Codec: ExpressibleByArgument {}

/// Where and how every command that writes one clip writes it: `-o`, `-y`,
/// `--format`, `--fps`, `--size`, the encoder settings and FFmpeg's log.
/// The library's OutputTarget parses `-o` and `--format`.
struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp(
        "Output, by its extension: .mp4, .mov, .mkv (H.264), .webm (VP9), .gif (one palette for the clip), "
            + "- (fragmented MP4 on standard output; the command's own lines go to stderr), "
            + "or a folder of PNG frames 000000.png, ... (a path ending in / or without an extension); "
            + "an image model writes .png, .jpg, .webp or a folder of PNG images.",
        valueName: "OUT"))
    var output: String

    @Flag(name: [.customShort("y"), .long], help: "Replace an existing output; without it an existing file or folder at -o is an error and stays as it was.")
    var overwrite = false

    @Option(name: .long, help: ArgumentHelp(
        "frames: OUT is a PNG frame folder whatever its name; both: the video file OUT and its frames in OUT "
            + "without the extension; mp4: OUT must be .mp4, .mov, .mkv or -. (default: by OUT's extension)",
        valueName: "mp4|frames|both"))
    var format: OutputFormat?

    @Option(name: .long, help: ArgumentHelp("Frames per second of the output. (default: \(VideoFrames.defaultFPS.formatted); `reconstruct` keeps the input's)", valueName: "F"))
    var fps: Double?

    @Option(name: .long, help: ArgumentHelp("Output size WxH or N (N x N), even, bicubic scaling. (default: the model's size, see `par-video inspect`)",
                                            valueName: "WxH|N"))
    var size: FrameSize?

    @OptionGroup(title: "Encoding") var encoding: EncodingFlags

    @Flag(name: .long, help: "Show FFmpeg's own log on stderr (by default only par-video's one-line errors).")
    var verbose = false

    func validate() throws {
        if let size, let problem = size.problem { throw ValidationError("--size \(size): \(problem)") }
        if let fps {
            guard fps.isFinite, fps >= VideoWriter.minimumFPS, fps <= 240 else {
                throw ValidationError("--fps \(fps): must be in [\(VideoWriter.minimumFPS), 240]")
            }
            if let problem = VideoWriter.frameRateProblem(fps) { throw ValidationError("--fps: \(problem)") }
        }
        try encoding.check(format: format)
    }

    /// --fps, else `fallback` (the input's for reconstruct), else 8.
    func frameRate(_ fallback: Double? = nil) -> Double { fps ?? fallback ?? VideoFrames.defaultFPS }

    /// `-o` and `--format` as the library parses them; what it refuses is a usage error (exit 2).
    var target: OutputTarget { get throws { try target(stills: false) } }

    /// `stills`: for an image model (true), a clip (false) or either (nil, before the model is known).
    func target(stills: Bool?) throws -> OutputTarget {
        do { return try OutputTarget(parsing: output, format: format, overwrite: overwrite, stills: stills) } catch let e as VideoIOError {
            throw ValidationError(e.description)
        }
    }

    /// True when the video goes to standard output.
    var toStdout: Bool { output == "-" }

    /// No output may be `input`, and the outputs must be creatable (an existing one only with -y).
    func check(input: String? = nil, option: String = "", stills: Bool? = false) throws {
        let target = try target(stills: stills)
        do {
            if let input { try target.refuse(input: input, option: option) }
            try target.checkWritable()
        } catch let e as VideoIOError {
            throw ValidationError(e.description)
        }
    }

    /// The command's own result line: on stdout, or on stderr when the video goes there.
    func report(_ line: String) {
        if toStdout { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
    }

    func encodeOptions(fps: Double) -> VideoEncodeOptions { encoding.options(fps: fps, size: size) }

    /// FFmpeg's log on or off, as --verbose says; before any FFmpeg call.
    func applyLog() { FFmpegLog.verbose = verbose }

    /// The output's width and height: --size, else the frames'.
    func outputSize(_ frames: (width: Int, height: Int)) -> (width: Int, height: Int) {
        size?.pair ?? frames
    }
}

private extension Double {
    /// 8 rather than 8.0.
    var formatted: String { rounded() == self ? String(Int(self)) : String(self) }
}
