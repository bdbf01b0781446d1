import ArgumentParser
import Foundation
import PARVideo

/// `par-video generate` (the default subcommand): one clip of one action.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate one clip of an action class (the default subcommand).",
        discussion: """
            Examples:
              par-video --action 12 --frames 17 -o out.mp4
              par-video --action PlayingGuitar --format both --size 256 -o clips/guitar.mp4
            """
    )

    @Option(name: .long, help: ArgumentHelp("Action class: a 0-based id or a name, case-insensitive (see `par-video actions`).",
                                            valueName: "id|name"))
    var action: String

    @Option(name: .long, help: ArgumentHelp("Frames to generate, at least 1. (default: the model's clip length, 17 for UCF-101)",
                                            valueName: "N"))
    var frames: Int?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp(
        "Output: the MP4 file (--format mp4), the frame folder (frames), or an .mp4 path whose name without .mp4 is the frame folder (both).",
        valueName: "OUT"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("Output size WxH or N (N x N), even, bicubic scaling. (default: the model's size, 128x128 for UCF-101)",
                                            valueName: "WxH|N"))
    var size: FrameSize?

    @Option(name: .long, help: "Frames per second of the output.")
    var fps: Double = VideoFrames.defaultFPS

    @Option(name: .long, help: ArgumentHelp("mp4: H.264 file; frames: folder of PNG frames 000000.png, ... (StyleGAN-V/FVD layout); both.",
                                            valueName: "mp4|frames|both"))
    var format: OutputFormat = .mp4

    @Option(name: .long, help: "Random seed; the same seed, model and settings give the same clip.")
    var seed: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp("Model bundle: a .safetensors file or a folder of them (docs/BUNDLE.md). (default: $PAR_VIDEO_MODEL, else ./models)",
                                            valueName: "PATH"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Tokens decoded per step: 1, 4 or 16 (a square). (default: the model's)", valueName: "n"))
    var parallel: Int?

    @Option(name: .long, help: ArgumentHelp("Classifier-free guidance scale, >= 0. (default: the model's, 1.15 in the paper)", valueName: "s"))
    var cfg: Double?

    @Option(name: .long, help: ArgumentHelp("Sampling temperature, > 0. (default: the model's, 1.0)", valueName: "t"))
    var temperature: Double?

    @Option(name: .customLong("top-k"), help: ArgumentHelp("Keep the k most likely tokens, 0 = all. (default: the model's, 8000)", valueName: "k"))
    var topK: Int?

    @Option(name: .customLong("top-p"), help: ArgumentHelp("Nucleus sampling mass in (0, 1]. (default: the model's, 1.0)", valueName: "p"))
    var topP: Double?

    @Option(name: .long, help: ArgumentHelp("Compute threads. (default: all cores)", valueName: "N"))
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("MP4 codec: auto (H.264 when libx264 is present, else mpeg4), h264 or mpeg4.",
                                            valueName: "auto|h264|mpeg4"))
    var codec: VideoEncodeOptions.Codec = .auto

    @Option(name: .long, help: "H.264 constant rate factor 0-51, lower is better; 12 is visually lossless.")
    var crf: Int = 12

    @Option(name: .long, help: "x264 preset, ultrafast ... veryslow.")
    var preset: String = "medium"

    func validate() throws {
        _ = try resolvedAction()
        if let frames, !(1...100_000).contains(frames) {
            throw ValidationError("--frames \(frames): must be at least 1 (and at most 100000)")
        }
        try size?.validate("--size")
        guard fps.isFinite, fps > 0, fps <= 240 else { throw ValidationError("--fps \(fps): must be in (0, 240]") }
        if let parallel {
            let s = Int(Double(parallel).squareRoot().rounded())
            guard parallel >= 1, s * s == parallel else {
                throw ValidationError("--parallel \(parallel): must be a square (1, 4, 16, ...)")
            }
        }
        if let cfg, !(cfg.isFinite && cfg >= 0) { throw ValidationError("--cfg \(cfg): must be >= 0") }
        if let temperature, !(temperature.isFinite && temperature > 0) {
            throw ValidationError("--temperature \(temperature): must be > 0")
        }
        if let topK, topK < 0 { throw ValidationError("--top-k \(topK): must be >= 0 (0 keeps all tokens)") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p \(topP): must be in (0, 1]") }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads \(threads): must be at least 1") }
        guard (0...51).contains(crf) else { throw ValidationError("--crf \(crf): must be in 0...51") }
        guard VideoEncodeOptions.presets.contains(preset) else {
            throw ValidationError("--preset \(preset): one of \(VideoEncodeOptions.presets.joined(separator: ", "))")
        }
        if codec == .h264, !VideoWriter.hasH264, format != .frames {
            throw ValidationError("--codec h264: libx264 is not in the linked FFmpeg; use --codec mpeg4")
        }
        if let model, !FileManager.default.fileExists(atPath: model) {
            throw ValidationError("--model \(model): no such file or folder")
        }
        try OutputPaths(output: output, format: format).checkWritable()
    }

    /// The action id, resolved against the model's class names (UCF-101
    /// until a model says otherwise).
    func resolvedAction() throws -> Int {
        do { return try ActionCatalog.ucf101.resolve(action) } catch let e as ActionError {
            throw ValidationError("--action: \(e.description)")
        }
    }

    var encodeOptions: VideoEncodeOptions {
        VideoEncodeOptions(codec: codec, crf: crf, preset: preset, fps: fps, size: size.map { ($0.width, $0.height) })
    }

    func run() throws {
        let bundles = ModelLocator.bundles(explicit: model)
        guard !bundles.isEmpty else {
            throw RunError("no model available: no .safetensors bundle at \(ModelLocator.describe(explicit: model)); "
                           + "give one with --model PATH (docs/BUNDLE.md). No video was written.")
        }
        throw RunError("no model available: this build of par-video cannot run the bundle \(bundles[0].path) yet. No video was written.")
    }
}

/// Where `generate` looks for a model bundle.
enum ModelLocator {
    static var defaultPath: String {
        ProcessInfo.processInfo.environment["PAR_VIDEO_MODEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "models"
    }

    static func describe(explicit: String?) -> String { explicit ?? defaultPath }

    /// The .safetensors files of the bundle: the file itself, or every
    /// *.safetensors directly inside the folder.
    static func bundles(explicit: String?) -> [URL] {
        let path = explicit ?? defaultPath
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return [] }
        let url = URL(fileURLWithPath: path)
        guard isDir.boolValue else { return [url] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") }.sorted().map { url.appendingPathComponent($0) }
    }
}
