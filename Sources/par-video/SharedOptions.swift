import ArgumentParser
import PARVideo

/// Sampling overrides shared by `generate`, `batch` and `tokens`; unset
/// values keep the bundle's defaults. The ranges are SamplingOptions.validate's.
struct SamplingFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Classifier-free guidance scale, >= 0. (default: the model's, see `par-video inspect`)", valueName: "s"))
    var cfg: Double?

    @Option(name: .long, help: ArgumentHelp("Sampling temperature, > 0. (default: the model's)", valueName: "t"))
    var temperature: Double?

    @Option(name: .customLong("top-k"), help: ArgumentHelp("Keep the k most likely tokens, 0 = all. (default: the model's)", valueName: "k"))
    var topK: Int?

    @Option(name: .customLong("top-p"), help: ArgumentHelp("Nucleus sampling mass in (0, 1]. (default: the model's)", valueName: "p"))
    var topP: Double?

    func validate() throws {
        if let cfg, !(cfg.isFinite && cfg >= 0) { throw ValidationError("--cfg \(cfg): must be >= 0") }
        if let temperature, !(temperature.isFinite && temperature > 0) {
            throw ValidationError("--temperature \(temperature): must be > 0")
        }
        if let topK, topK < 0 { throw ValidationError("--top-k \(topK): must be >= 0 (0 keeps all tokens)") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p \(topP): must be in (0, 1]") }
    }

    /// The bundle's defaults with these overrides.
    func options(_ defaults: SamplingDefaults, seed: UInt64 = 0) -> SamplingOptions {
        var options = SamplingOptions(defaults, seed: seed)
        if let cfg { options.cfgScale = Float(cfg) }
        if let temperature { options.temperature = Float(temperature) }
        if let topK { options.topK = topK }
        if let topP { options.topP = Float(topP) }
        return options
    }
}

/// `--threads N` of every command, in `ThreadCount.range`.
extension ThreadCount {
    static func check(_ threads: Int?) throws {
        if let threads, !range.contains(threads) {
            throw ValidationError("--threads \(threads): must be in \(range.lowerBound)...\(range.upperBound)")
        }
    }
}

/// MP4 encoder settings shared by `generate` and `batch`.
struct EncodingFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Codec of .mp4, .mov and .mkv: auto (H.264 when libx264 is present, else mpeg4), h264 or mpeg4.",
                                            valueName: "auto|h264|mpeg4"))
    var codec: VideoEncodeOptions.Codec = .auto

    @Option(name: .long, help: "H.264 (and VP9) constant rate factor 0-51, lower is better; 12 is visually lossless.")
    var crf: Int = 12

    @Option(name: .long, help: "x264 preset, ultrafast ... veryslow.")
    var preset: String = "medium"

    func validate() throws {
        guard (0...51).contains(crf) else { throw ValidationError("--crf \(crf): must be in 0...51") }
        guard VideoEncodeOptions.presets.contains(preset) else {
            throw ValidationError("--preset \(preset): one of \(VideoEncodeOptions.presets.joined(separator: ", "))")
        }
    }

    /// Refuses --codec h264 when an MP4 is written and libx264 is missing.
    func check(format: OutputFormat?) throws {
        if codec == .h264, !VideoWriter.hasH264, format != .frames {
            throw ValidationError("--codec h264: libx264 is not in the linked FFmpeg; use --codec mpeg4")
        }
    }

    func options(fps: Double, size: FrameSize?) -> VideoEncodeOptions {
        VideoEncodeOptions(codec: codec, crf: crf, preset: preset, fps: fps, size: size?.pair)
    }
}
