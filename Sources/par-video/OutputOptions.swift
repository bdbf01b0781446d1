import ArgumentParser
import Foundation
import PARVideo

/// `--size WxH` or `--size N` (square).
struct FrameSize: ExpressibleByArgument, CustomStringConvertible {
    var width: Int
    var height: Int

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!), w > 0, h > 0 else {
            return nil
        }
        width = w
        height = h
    }

    var description: String { "\(width)x\(height)" }

    /// Even sides (yuv420p halves the chroma), at most 4096.
    func validate(_ option: String) throws {
        guard width % 2 == 0, height % 2 == 0 else {
            throw ValidationError("\(option) \(self): width and height must be even (H.264 yuv420p)")
        }
        guard width <= 4096, height <= 4096 else {
            throw ValidationError("\(option) \(self): at most 4096x4096")
        }
    }
}

/// What `generate` writes.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case mp4, frames, both
}

extension VideoEncodeOptions.Codec: ExpressibleByArgument {}

/// Where and how every command that writes video writes it: `-o`,
/// `--format`, `--fps`, `--size`, the encoder settings and FFmpeg's log.
struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp(
        "Output: the MP4 file (--format mp4), the frame folder (frames), or an .mp4 path whose name without .mp4 is the frame folder (both); for `batch` the run folder.",
        valueName: "OUT"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("mp4: H.264 file; frames: folder of PNG frames 000000.png, ... (StyleGAN-V/FVD layout); both.",
                                            valueName: "mp4|frames|both"))
    var format: OutputFormat = .mp4

    @Option(name: .long, help: ArgumentHelp("Frames per second of the output. (default: \(VideoFrames.defaultFPS.formatted); `reconstruct` keeps the input's)", valueName: "F"))
    var fps: Double?

    @Option(name: .long, help: ArgumentHelp("Output size WxH or N (N x N), even, bicubic scaling. (default: the model's size, see `par-video inspect`)",
                                            valueName: "WxH|N"))
    var size: FrameSize?

    @OptionGroup(title: "Encoding") var encoding: EncodingFlags

    @Flag(name: .long, help: "Show FFmpeg's own log on stderr (by default only par-video's one-line errors).")
    var verbose = false

    func validate() throws {
        try size?.validate("--size")
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

    var paths: OutputPaths { get throws { try OutputPaths(output: output, format: format) } }

    /// The MP4 and/or frame folder must be writable and none may be `input`.
    func check(input: String? = nil, option: String = "") throws {
        let paths = try paths
        try paths.checkWritable()
        if let input { try paths.refuse(input: input, option: option) }
    }

    func encodeOptions(fps: Double) -> VideoEncodeOptions { encoding.options(fps: fps, size: size) }

    /// FFmpeg's log on or off, as --verbose says; before any FFmpeg call.
    func applyLog() { FFmpegLog.verbose = verbose }

    /// The output's width and height: --size, else the frames'.
    func outputSize(_ frames: (width: Int, height: Int)) -> (width: Int, height: Int) {
        size.map { ($0.width, $0.height) } ?? frames
    }
}

private extension Double {
    /// 8 rather than 8.0.
    var formatted: String { rounded() == self ? String(Int(self)) : String(self) }
}

/// Where a run's outputs go: the MP4 file and/or the PNG frame folder.
struct OutputPaths {
    var mp4: URL?
    var frames: URL?

    /// mp4: OUT is the file. frames: OUT is the folder. both: OUT must end
    /// in .mp4, the frames go to OUT without the extension.
    init(output: String, format: OutputFormat) throws {
        let url = URL(fileURLWithPath: output)
        switch format {
        case .mp4:
            mp4 = url
        case .frames:
            frames = url
        case .both:
            guard url.pathExtension.lowercased() == "mp4" else {
                throw ValidationError("-o \(output): with --format both, OUT must end in .mp4 (frames go to OUT without .mp4)")
            }
            mp4 = url
            frames = url.deletingPathExtension()
        }
    }

    /// Refuses an output that is the input `path` (it would be replaced by
    /// what is made from it).
    func refuse(input path: String, option: String) throws {
        let input = URL(fileURLWithPath: path)
        for out in [mp4, frames].compactMap({ $0 }) where AtomicOutput.sameTarget(out, input) {
            throw ValidationError("-o \(out.path) is the input \(option.isEmpty ? "" : option + " ")\(path); give another output path")
        }
    }

    func checkWritable() throws {
        do {
            if let mp4 { try AtomicOutput.checkWritable(mp4, directory: false) }
            if let frames { try AtomicOutput.checkWritable(frames, directory: true) }
        } catch let e as VideoIOError {
            throw ValidationError(e.description)
        }
    }
}
