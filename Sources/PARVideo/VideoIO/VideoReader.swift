import CFFmpeg
import Foundation

/// Reads clips: any file FFmpeg can demux and decode (MP4, AVI, WebM, ...),
/// or a folder of PNG frames.
public enum VideoReader {
    /// Decodes the first video stream of `url` to RGB8. `size` resizes every
    /// frame (bicubic); `maxFrames` stops early. A folder is read as PNG frames.
    public static func read(_ url: URL, size: (width: Int, height: Int)? = nil,
                            maxFrames: Int? = nil) throws -> VideoFrames {
        if let size, size.width <= 0 || size.height <= 0 {
            throw VideoIOError("bad output size \(size.width)x\(size.height)")
        }
        let kind: InputFile.Kind
        do { kind = try InputFile.kind(of: url.path) } catch let e as InputFileError {
            throw VideoIOError(e.missing ? "cannot read \(url.path): no such file" : e.description)
        }
        if kind == .folder {
            var clip = try FrameFolder.read(url, size: size)
            if let maxFrames, clip.count > maxFrames { clip = clip.frames(0..<maxFrames) }
            return clip
        }
        return try decodeFile(url.path, size: size, maxFrames: maxFrames)
    }

    private static func decodeFile(_ path: String, size: (width: Int, height: Int)?, maxFrames: Int?) throws -> VideoFrames {
        FFmpegLog.quiet()
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        try ffcheck(avformat_open_input(&fmt, path, nil, nil), "cannot open \(path)")
        defer { avformat_close_input(&fmt) }
        guard let fmt else { throw VideoIOError("cannot open \(path)") }
        try ffcheck(avformat_find_stream_info(fmt, nil), "cannot read stream info of \(path)")

        var decoder: UnsafePointer<AVCodec>?
        let index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        try ffcheck(index, "\(path) has no decodable video stream")
        guard let decoder, let stream = fmt.pointee.streams[Int(index)] else {
            throw VideoIOError("\(path) has no decodable video stream")
        }
        var dec = avcodec_alloc_context3(decoder)
        defer { avcodec_free_context(&dec) }
        guard let ctx = dec else { throw VideoIOError("out of memory") }
        try ffcheck(avcodec_parameters_to_context(ctx, stream.pointee.codecpar), "bad codec parameters in \(path)")
        ctx.pointee.thread_count = 1  // clips are small; keeps decoding order simple
        try ffcheck(avcodec_open2(ctx, decoder, nil), "cannot open the decoder of \(path)")

        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        let fps = rate.num > 0 && rate.den > 0 ? Double(rate.num) / Double(rate.den) : VideoFrames.defaultFPS

        var pkt = av_packet_alloc()
        defer { av_packet_free(&pkt) }
        var frm = av_frame_alloc()
        defer { av_frame_free(&frm) }
        guard let packet = pkt, let frame = frm else { throw VideoIOError("out of memory") }

        var clip: VideoFrames?
        var scaler: Scaler?
        let limit = maxFrames ?? Int.max
        func receive() throws -> Bool {  // false once the decoder is drained
            while (clip?.count ?? 0) < limit {
                let rc = avcodec_receive_frame(ctx, frame)
                if rc == cff_averror_eagain() { return true }
                if rc == cff_averror_eof() { return false }
                try ffcheck(rc, "decoding \(path) failed")
                let (image, s) = try rgbImage(from: frame, size: size, cache: scaler)
                scaler = s
                if clip == nil {
                    clip = VideoFrames(width: image.width, height: image.height, count: 0, fps: fps, pixels: [])
                }
                guard image.width == clip!.width, image.height == clip!.height else {
                    throw VideoIOError("\(path) changes frame size mid-stream; read it with a fixed size")
                }
                clip!.pixels += image.pixels
                clip!.count += 1
                av_frame_unref(frame)
            }
            return false
        }

        var more = true
        while more, (clip?.count ?? 0) < limit {
            let rc = av_read_frame(fmt, packet)
            if rc == cff_averror_eof() { break }
            try ffcheck(rc, "reading \(path) failed")
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == index else { continue }
            try ffcheck(avcodec_send_packet(ctx, packet), "decoding \(path) failed")
            more = try receive()
        }
        if (clip?.count ?? 0) < limit {
            _ = avcodec_send_packet(ctx, nil)  // drain delayed frames (B-frames)
            _ = try receive()
        }
        guard let clip, clip.count > 0 else { throw VideoIOError("\(path) holds no decodable frames") }
        return clip
    }
}

extension VideoFrames {
    /// This clip resized to `width` x `height` (swscale bicubic).
    public func resized(width: Int, height: Int) throws -> VideoFrames {
        guard width > 0, height > 0 else { throw VideoIOError("bad size \(width)x\(height)") }
        if width == self.width, height == self.height { return self }
        FFmpegLog.quiet()
        let scaler = try Scaler(srcWidth: Int32(self.width), srcHeight: Int32(self.height), srcFormat: AV_PIX_FMT_RGB24,
                                dstWidth: Int32(width), dstHeight: Int32(height), dstFormat: AV_PIX_FMT_RGB24)
        let frame = try allocFrame(width: Int32(width), height: Int32(height), format: AV_PIX_FMT_RGB24)
        defer { freeFrame(frame) }
        var out = [UInt8](repeating: 0, count: count * width * height * 3)
        try pixels.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { dst in
                let stride = Int(frame.pointee.linesize.0)
                for t in 0..<count {
                    try scaler.scale(rgb: src.baseAddress! + t * frameBytes, into: frame)
                    for y in 0..<height {
                        (dst.baseAddress! + (t * height + y) * width * 3)
                            .update(from: frame.pointee.data.0! + y * stride, count: width * 3)
                    }
                }
            }
        }
        return VideoFrames(width: width, height: height, count: count, fps: fps, pixels: out)
    }
}
