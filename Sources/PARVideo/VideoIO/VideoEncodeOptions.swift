import CFFmpeg

/// How an MP4 is encoded.
public struct VideoEncodeOptions: Sendable, Equatable {
    public enum Codec: String, Sendable, CaseIterable {
        /// H.264 through libx264 when the linked FFmpeg has it, else mpeg4.
        case auto
        /// H.264 through libx264; an error when it is missing.
        case h264
        /// FFmpeg's native MPEG-4 Part 2 encoder (always built in).
        case mpeg4
    }

    public var codec: Codec = .auto
    /// x264 constant rate factor, 0-51 (0 lossless, about 18 visually
    /// lossless for ordinary footage). Default 12: generated 128x128 clips
    /// are small, so near-transparent quality costs only a few kB a clip,
    /// and reconstructions and continuations read back from MP4 lose little.
    /// 1-51 keeps the High profile that browsers play (0 would need High 4:4:4).
    public var crf: Int = 12
    /// x264 preset (ultrafast ... veryslow).
    public var preset: String = "medium"
    /// Extra libx264 options, "key=value:key=value" (x264's own names).
    public var x264Params: String?
    /// mpeg4 quantizer, 1 (best) - 31.
    public var mpeg4Quality: Int = 2
    /// Frames per second written into the stream (default: the clip's fps).
    public var fps: Double?
    /// Output size; nil keeps the clip's size. Both must be even (yuv420p).
    public var size: (width: Int, height: Int)? {
        get { sizeW.map { ($0, sizeH!) } }
        set { sizeW = newValue?.width; sizeH = newValue?.height }
    }
    private var sizeW: Int?, sizeH: Int?

    public static let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast",
                                 "medium", "slow", "slower", "veryslow", "placebo"]

    public init(codec: Codec = .auto, crf: Int = 12, preset: String = "medium",
                fps: Double? = nil, size: (width: Int, height: Int)? = nil) {
        self.codec = codec
        self.crf = crf
        self.preset = preset
        self.fps = fps
        self.size = size
    }
}

/// x264's `asm` option: the CPU's own SIMD sets up to AVX2, never AVX-512.
/// x264 r3095's AVX-512 paths gave the same clip different bytes from one
/// encode to the next in one process (seen on Zen 4: sizes 3086, 3157, 3174
/// bytes for one 9-frame clip); with AVX2 or no asm at all every encode gave
/// the same bytes as x264's C code. The AVX-512 loss is about 20% of a step
/// that takes under 0.1 s for a 17-frame 128x128 clip.
let x264CPUParam: String = {
    let flags = av_get_cpu_flags()
    let sets: [(Int32, String)] = [
        (AV_CPU_FLAG_MMXEXT, "MMX2"), (AV_CPU_FLAG_SSE, "SSE"), (AV_CPU_FLAG_SSE2, "SSE2"),
        (AV_CPU_FLAG_SSE3, "SSE3"), (AV_CPU_FLAG_SSSE3, "SSSE3"), (AV_CPU_FLAG_SSE4, "SSE4.1"),
        (AV_CPU_FLAG_SSE42, "SSE4.2"), (AV_CPU_FLAG_AVX, "AVX"), (AV_CPU_FLAG_FMA3, "FMA3"),
        (AV_CPU_FLAG_BMI1, "BMI1"), (AV_CPU_FLAG_BMI2, "BMI2"), (AV_CPU_FLAG_AVX2, "AVX2"),
    ]
    let names = sets.filter { flags & $0.0 != 0 }.map(\.1)
    #if arch(x86_64)
    return "asm=" + (names.isEmpty ? "0" : names.joined(separator: ","))
    #else
    return "asm=auto"  // other architectures: x264's own detection
    #endif
}()
