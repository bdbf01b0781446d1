import CFFmpeg
import Foundation

/// Writes clips as animated GIF (looping forever): one palette for the
/// clip (Palette), each frame mapped to it, FFmpeg's GIF encoder and muxer.
/// The encoder stores each frame as the rectangle that changed, with the
/// unchanged pixels in it transparent, so a still background costs nothing.
enum GIFWriter {
    /// GIF delays are whole hundredths of a second, and browsers play a
    /// delay under 2/100 s as 10/100 s: 50 fps is the fastest that plays right.
    static let maximumFPS = 50.0

    /// The settings checked without the frames.
    static func validate(width: Int, height: Int, fps clipFPS: Double, options: VideoEncodeOptions, path: String) throws {
        let w = options.size?.width ?? width, h = options.size?.height ?? height
        guard (1...65535).contains(w), (1...65535).contains(h) else {
            throw VideoIOError("cannot write \(path): GIF frames are 1 to 65535 pixels a side, got \(w)x\(h)")
        }
        let fps = options.fps ?? clipFPS
        guard fps.isFinite, fps >= VideoWriter.minimumFPS, fps <= maximumFPS else {
            throw VideoIOError("cannot write \(path): GIF plays at most \(Int(maximumFPS)) fps (delays are hundredths of a second), got \(fps) fps")
        }
        guard options.codec == .auto else {
            throw VideoIOError("--codec \(options.codec.rawValue) applies to .mp4, .mov and .mkv, not to GIF")
        }
    }

    /// Opens and closes the GIF encoder at the output size.
    static func preflight(width: Int, height: Int, fps: Double, options: VideoEncodeOptions, path: String) throws {
        try validate(width: width, height: height, fps: fps, options: options, path: path)
        FFmpegLog.quiet()
        var ctx: UnsafeMutablePointer<AVCodecContext>? = try openEncoder(width: Int32(options.size?.width ?? width),
                                                                         height: Int32(options.size?.height ?? height))
        avcodec_free_context(&ctx)
    }

    private static func openEncoder(width: Int32, height: Int32) throws -> UnsafeMutablePointer<AVCodecContext> {
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_GIF) else { throw VideoIOError("no GIF encoder in the linked FFmpeg") }
        guard let ctx = avcodec_alloc_context3(encoder) else { throw VideoIOError("cannot allocate the GIF encoder") }
        ctx.pointee.width = width
        ctx.pointee.height = height
        ctx.pointee.pix_fmt = AV_PIX_FMT_PAL8
        ctx.pointee.time_base = AVRational(num: 1, den: 100)
        ctx.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        let rc = avcodec_open2(ctx, encoder, nil)
        if rc < 0 {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            try ffcheck(rc, "the GIF encoder refuses \(width)x\(height)")
        }
        return ctx
    }

    /// Frame `i`'s start in hundredths of a second.
    static func centiseconds(_ i: Int, fps: Double) -> Int64 { Int64((Double(i) * 100 / fps).rounded()) }

    static func encode(_ input: VideoFrames, to path: String, options: VideoEncodeOptions) throws {
        try validate(width: input.width, height: input.height, fps: input.fps, options: options, path: path)
        let clip = try options.size.map { try input.resized(width: $0.width, height: $0.height) } ?? input
        let fps = options.fps ?? input.fps
        let palette = Palette(rgb: clip.pixels)
        FFmpegLog.quiet()

        let fmt = try VideoWriter.openMuxer("gif", url: path, name: "GIF", path: path)
        defer { VideoWriter.closeMuxer(fmt) }
        guard let stream = avformat_new_stream(fmt, nil) else { throw VideoIOError("cannot add a video stream") }
        let ctx = try openEncoder(width: Int32(clip.width), height: Int32(clip.height))
        var enc: UnsafeMutablePointer<AVCodecContext>? = ctx
        defer { avcodec_free_context(&enc) }
        try ffcheck(avcodec_parameters_from_context(stream.pointee.codecpar, ctx), "cannot set stream parameters")
        stream.pointee.time_base = ctx.pointee.time_base
        try AtomicOutput.step { try ffcheck(avio_open(&fmt.pointee.pb, path, AVIO_FLAG_WRITE), "cannot open \(path) for writing") }
        try ffcheck(avformat_write_header(fmt, nil), "cannot write the GIF header of \(path)")

        let frame = try allocFrame(width: Int32(clip.width), height: Int32(clip.height), format: AV_PIX_FMT_PAL8)
        defer { freeFrame(frame) }
        guard let packet = av_packet_alloc() else { throw VideoIOError("out of memory") }
        var pkt: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&pkt) }

        var written = 0
        func drain() throws {
            while true {
                let rc = avcodec_receive_packet(ctx, packet)
                if rc == cff_averror_eagain() || rc == cff_averror_eof() { return }
                try ffcheck(rc, "encoding \(path) failed")
                // One packet a frame, in order: the last frame's delay comes from its duration.
                packet.pointee.duration = centiseconds(written + 1, fps: fps) - centiseconds(written, fps: fps)
                written += 1
                av_packet_rescale_ts(packet, ctx.pointee.time_base, stream.pointee.time_base)
                packet.pointee.stream_index = stream.pointee.index
                try ffcheck(av_interleaved_write_frame(fmt, packet), "writing \(path) failed")
            }
        }

        for i in 0..<clip.count {
            try ffcheck(av_frame_make_writable(frame), "frame buffer")
            clearBuffers(frame)
            let indices = palette.indices(rgb: clip.frame(i))
            let stride = Int(frame.pointee.linesize.0)
            indices.withUnsafeBufferPointer { src in
                for y in 0..<clip.height {
                    (frame.pointee.data.0! + y * stride).update(from: src.baseAddress! + y * clip.width, count: clip.width)
                }
            }
            // Palette entries as 0xAARRGGBB; the unused entries stay 0 (transparent).
            frame.pointee.data.1!.withMemoryRebound(to: UInt32.self, capacity: 256) { entries in
                for (j, c) in palette.colors.enumerated() {
                    entries[j] = 0xFF00_0000 | UInt32(c.r) << 16 | UInt32(c.g) << 8 | UInt32(c.b)
                }
            }
            frame.pointee.pts = centiseconds(i, fps: fps)
            try ffcheck(avcodec_send_frame(ctx, frame), "encoding frame \(i) of \(path) failed")
            try drain()
        }
        try ffcheck(avcodec_send_frame(ctx, nil), "flushing the GIF encoder failed")
        try drain()
        try ffcheck(av_write_trailer(fmt), "cannot finish \(path)")
    }
}
