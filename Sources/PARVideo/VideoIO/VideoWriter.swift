import CFFmpeg
import Foundation

/// Writes clips as MP4, QuickTime or Matroska (H.264 yuv420p through
/// libx264, or mpeg4), WebM (VP9 through libvpx), or fragmented MP4 for a
/// pipe. GIF has its own writer (GIFWriter).
///
/// The bytes depend only on the frames and the options: x264 runs on one
/// thread (its output changes with the thread count) without its AVX-512
/// code, libvpx on one thread too, swscale is bit-exact and reads only zero-padded copies, and the
/// muxer writes no creation time or library version.
public enum VideoWriter {
    /// True when the linked FFmpeg has libx264.
    public static var hasH264: Bool { avcodec_find_encoder_by_name("libx264") != nil }

    /// Writes `clip` to `url` atomically (see `AtomicOutput`).
    public static func writeMP4(_ clip: VideoFrames, to url: URL, options: VideoEncodeOptions = .init()) throws {
        try validate(clip, options: options, path: url.path)
        try AtomicOutput.write(to: url) { tmp in
            try encode(clip, to: tmp.path, container: .mp4, options: options)
        }
    }

    /// The codec name `writeMP4` will use with these options ("h264" or "mpeg4").
    public static func codecName(for options: VideoEncodeOptions) throws -> String {
        try codecName(for: options, container: .mp4)
    }

    /// The codec a `container` file gets with these options: "vp9" for WebM,
    /// else "h264" or "mpeg4" as `options.codec` says.
    public static func codecName(for options: VideoEncodeOptions, container: VideoContainer) throws -> String {
        if container == .webm {
            guard options.codec == .auto else {
                throw VideoIOError("--codec \(options.codec.rawValue) applies to .mp4, .mov and .mkv; WebM holds VP9")
            }
            guard VideoContainer.hasVP9 else {
                throw VideoIOError("the linked FFmpeg has no VP9 encoder (libvpx), so it cannot write .webm; write .mp4, .mov, .mkv or .gif")
            }
            return "vp9"
        }
        switch options.codec {
        case .mpeg4: return "mpeg4"
        case .h264:
            guard hasH264 else { throw VideoIOError("libx264 is not available in the linked FFmpeg; use --codec mpeg4") }
            return "h264"
        case .auto: return hasH264 ? "h264" : "mpeg4"
        }
    }

    static func validate(_ clip: VideoFrames, options: VideoEncodeOptions, path: String) throws {
        guard clip.count >= 1 else { throw VideoIOError("cannot write \(path): the clip has no frames") }
        try validate(width: clip.width, height: clip.height, fps: clip.fps, options: options, path: path)
    }

    /// The stream's frame rate as FFmpeg stores it: 8 -> 8/1, 29.97 -> 2997/100.
    static func rate(_ fps: Double) -> AVRational { av_d2q(fps, 1_001_000) }

    /// The smallest frame rate written: the MP4 muxer refuses the frame
    /// durations after the whole clip is encoded at 2e-5 fps (5e-5 passes),
    /// and below 1e-6 FFmpeg's rational form of the rate is 0.
    public static let minimumFPS = 0.001

    /// Why `fps` cannot be an MP4's frame rate, or nil.
    public static func frameRateProblem(_ fps: Double) -> String? {
        guard fps.isFinite, fps >= minimumFPS, fps <= 1000 else { return "fps \(fps) is outside [\(minimumFPS), 1000]" }
        let r = rate(fps)
        guard r.num > 0, r.den > 0 else { return "fps \(fps) has no rational form FFmpeg can store" }
        return nil
    }

    /// Every setting checked without the frames: the output size (`options.size`,
    /// else `width` x `height`), the frame rate and the encoder options.
    static func validate(width: Int, height: Int, fps clipFPS: Double, options: VideoEncodeOptions, path: String) throws {
        let w = options.size?.width ?? width, h = options.size?.height ?? height
        guard w > 0, h > 0, w % 2 == 0, h % 2 == 0 else {
            throw VideoIOError("cannot write \(path): MP4 (yuv420p) needs an even width and height, got \(w)x\(h)")
        }
        if let problem = frameRateProblem(options.fps ?? clipFPS) { throw VideoIOError("cannot write \(path): \(problem)") }
        guard (0...51).contains(options.crf) else { throw VideoIOError("CRF must be in 0...51, got \(options.crf)") }
        guard VideoEncodeOptions.presets.contains(options.preset) else {
            throw VideoIOError("unknown x264 preset '\(options.preset)' (one of \(VideoEncodeOptions.presets.joined(separator: ", ")))")
        }
        guard (1...31).contains(options.mpeg4Quality) else { throw VideoIOError("mpeg4 quality must be in 1...31") }
    }

    /// Checks, before any work, that a clip of `width` x `height` at `fps`
    /// can be written to `path` with `options`: the settings, then the
    /// encoder itself opened and closed with them, so a frame size or rate
    /// the encoder refuses is one line now rather than after rendering.
    public static func preflight(width: Int, height: Int, fps: Double, options: VideoEncodeOptions, path: String,
                                 container: VideoContainer = .mp4) throws {
        try validate(width: width, height: height, fps: fps, options: options, path: path)
        FFmpegLog.quiet()
        var ctx: UnsafeMutablePointer<AVCodecContext>? = try openEncoder(width: width, height: height, fps: fps,
                                                                         options: options, container: container,
                                                                         globalHeader: true)
        avcodec_free_context(&ctx)
    }

    /// An open encoder context for these settings (the caller frees it).
    private static func openEncoder(width: Int, height: Int, fps: Double, options: VideoEncodeOptions,
                                    container: VideoContainer, globalHeader: Bool) throws -> UnsafeMutablePointer<AVCodecContext> {
        let outW = Int32(options.size?.width ?? width), outH = Int32(options.size?.height ?? height)
        let codec = try codecName(for: options, container: container)
        let useH264 = codec == "h264"
        let library = ["h264": "libx264", "vp9": "libvpx-vp9"][codec] ?? "mpeg4"
        let rate = rate(options.fps ?? fps)
        let timeBase = AVRational(num: rate.den, den: rate.num)
        let encoder = codec == "mpeg4" ? avcodec_find_encoder(AV_CODEC_ID_MPEG4) : avcodec_find_encoder_by_name(library)
        guard let encoder else { throw VideoIOError("no \(library) encoder in the linked FFmpeg") }
        guard let ctx = avcodec_alloc_context3(encoder) else { throw VideoIOError("cannot allocate the encoder") }
        ctx.pointee.width = outW
        ctx.pointee.height = outH
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.time_base = timeBase
        ctx.pointee.framerate = rate
        ctx.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        // Tag the colours the scaler produces (BT.709, limited range) so
        // players convert back the same way.
        ctx.pointee.colorspace = AVCOL_SPC_BT709
        ctx.pointee.color_primaries = AVCOL_PRI_BT709
        ctx.pointee.color_trc = AVCOL_TRC_BT709
        ctx.pointee.color_range = AVCOL_RANGE_MPEG
        ctx.pointee.thread_count = Int32(ThreadCount.encoder)
        if globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        var codecOptions: OpaquePointer?
        defer { av_dict_free(&codecOptions) }
        if useH264 {
            av_dict_set(&codecOptions, "preset", options.preset, 0)
            av_dict_set(&codecOptions, "crf", String(options.crf), 0)
            var params = [x264CPUParam]
            if let extra = options.x264Params { params.append(extra) }  // later keys win
            av_dict_set(&codecOptions, "x264-params", params.joined(separator: ":"), 0)
        } else if codec == "vp9" {
            // Constant quality (no bitrate target) at the --crf value, on one
            // thread without row threading: the same frames give the same bytes.
            av_dict_set(&codecOptions, "crf", String(options.crf), 0)
            av_dict_set(&codecOptions, "deadline", "good", 0)
            av_dict_set(&codecOptions, "cpu-used", "2", 0)
            av_dict_set(&codecOptions, "row-mt", "0", 0)
            ctx.pointee.bit_rate = 0
        } else {
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE | AV_CODEC_FLAG_BITEXACT
            ctx.pointee.global_quality = FF_QP2LAMBDA * Int32(options.mpeg4Quality)
            ctx.pointee.gop_size = 12
        }
        let rc = avcodec_open2(ctx, encoder, &codecOptions)
        if rc < 0 {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            try ffcheck(rc, "the \(library) encoder refuses \(outW)x\(outH) at \(options.fps ?? fps) fps")
        }
        return ctx
    }

    /// FFmpeg's muxer `muxer` on `url`, bit-exact: no library version or
    /// creation time in the file, so the same clip gives the same bytes.
    static func openMuxer(_ muxer: String, url: String, name: String, path: String) throws -> UnsafeMutablePointer<AVFormatContext> {
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        try ffcheck(avformat_alloc_output_context2(&fmt, nil, muxer, url), "cannot create the \(name) muxer for \(path)")
        guard let fmt else { throw VideoIOError("cannot create the \(name) muxer for \(path)") }
        fmt.pointee.flags |= AVFMT_FLAG_BITEXACT
        return fmt
    }

    static func closeMuxer(_ fmt: UnsafeMutablePointer<AVFormatContext>) {
        if fmt.pointee.pb != nil { avio_closep(&fmt.pointee.pb) }
        avformat_free_context(fmt)
    }

    /// Encodes `clip` into a `container` file at `path`; nil writes to
    /// standard output (for `.fragmentedMP4`).
    static func encode(_ clip: VideoFrames, to path: String?, container: VideoContainer, options: VideoEncodeOptions) throws {
        let url = path ?? "pipe:1"
        let path = path ?? "standard output"
        let name = container.label
        FFmpegLog.quiet()
        let outW = Int32(options.size?.width ?? clip.width), outH = Int32(options.size?.height ?? clip.height)
        let rate = rate(options.fps ?? clip.fps)
        let timeBase = AVRational(num: rate.den, den: rate.num)

        // The temporary name has no extension: name the muxer explicitly.
        let fmt = try openMuxer(container.muxer, url: url, name: name, path: path)
        defer { closeMuxer(fmt) }

        guard let stream = avformat_new_stream(fmt, nil) else { throw VideoIOError("cannot add a video stream") }
        let ctx = try openEncoder(width: clip.width, height: clip.height, fps: clip.fps, options: options, container: container,
                                  globalHeader: fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0)
        var enc: UnsafeMutablePointer<AVCodecContext>? = ctx
        defer { avcodec_free_context(&enc) }
        try ffcheck(avcodec_parameters_from_context(stream.pointee.codecpar, ctx), "cannot set stream parameters")
        stream.pointee.time_base = timeBase
        stream.pointee.avg_frame_rate = rate

        // Creating the file is a writing step: the shutdown path must not remove the temporary just before it appears.
        try AtomicOutput.step { try ffcheck(avio_open(&fmt.pointee.pb, url, AVIO_FLAG_WRITE), "cannot open \(path) for writing") }
        var muxOptions: OpaquePointer?
        defer { av_dict_free(&muxOptions) }
        for (key, value) in container.muxOptions { av_dict_set(&muxOptions, key, value, 0) }
        try ffcheck(avformat_write_header(fmt, &muxOptions), "cannot write the \(name) header of \(path)")

        let scaler = try Scaler(srcWidth: Int32(clip.width), srcHeight: Int32(clip.height), srcFormat: AV_PIX_FMT_RGB24,
                                dstWidth: outW, dstHeight: outH, dstFormat: AV_PIX_FMT_YUV420P)
        let frame = try allocFrame(width: outW, height: outH, format: AV_PIX_FMT_YUV420P)
        defer { freeFrame(frame) }
        frame.pointee.colorspace = ctx.pointee.colorspace
        frame.pointee.color_range = ctx.pointee.color_range
        frame.pointee.color_primaries = ctx.pointee.color_primaries
        frame.pointee.color_trc = ctx.pointee.color_trc
        guard let packet = av_packet_alloc() else { throw VideoIOError("out of memory") }
        var pkt: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&pkt) }

        func drain() throws {
            while true {
                let rc = avcodec_receive_packet(ctx, packet)
                if rc == cff_averror_eagain() || rc == cff_averror_eof() { return }
                try ffcheck(rc, "encoding \(path) failed")
                // Without a duration the MP4 edit list hides the last frame;
                // one frame in the codec's time base, rescaled with the stamps.
                packet.pointee.duration = 1
                av_packet_rescale_ts(packet, ctx.pointee.time_base, stream.pointee.time_base)
                packet.pointee.stream_index = stream.pointee.index
                try ffcheck(av_interleaved_write_frame(fmt, packet), "writing \(path) failed")
            }
        }

        try clip.pixels.withUnsafeBufferPointer { buf in
            for i in 0..<clip.count {
                try ffcheck(av_frame_make_writable(frame), "frame buffer")
                clearBuffers(frame)
                try scaler.scale(rgb: buf.baseAddress! + i * clip.frameBytes, into: frame)
                frame.pointee.pts = Int64(i)
                try ffcheck(avcodec_send_frame(ctx, frame), "encoding frame \(i) of \(path) failed")
                try drain()
            }
        }
        try ffcheck(avcodec_send_frame(ctx, nil), "flushing the encoder failed")
        try drain()
        try ffcheck(av_write_trailer(fmt), "cannot finish \(path)")
    }
}
