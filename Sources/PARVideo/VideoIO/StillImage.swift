import CFFmpeg
import Foundation

/// The still-image files par-video writes, chosen by the extension of `-o`.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp

    public static func forExtension(_ ext: String) -> ImageFormat? {
        switch ext.lowercased() {
        case "png": return .png
        case "jpg", "jpeg": return .jpeg
        case "webp": return .webp
        default: return nil
        }
    }
}

/// One still image file: encoded by FFmpeg (PNG, JPEG at quality 2 of
/// mjpeg's scale, lossless WebP) and written atomically.
public enum StillImage {
    /// Encodes frame `index` of `frames`.
    public static func encode(_ frames: VideoFrames, index: Int = 0, format: ImageFormat) throws -> Data {
        precondition((0..<frames.count).contains(index), "frame index out of range")
        let encoder = try StillEncoder(format, width: frames.width, height: frames.height)
        return try frames.pixels.withUnsafeBufferPointer { try encoder.encode($0.baseAddress! + index * frames.frameBytes) }
    }

    /// Writes frame `index` of `frames` as a new file `url` (an existing file
    /// is replaced, only with `overwrite`, once the new one is complete).
    public static func write(_ frames: VideoFrames, index: Int = 0, to url: URL, format: ImageFormat, overwrite: Bool) throws {
        let data = try encode(frames, index: index, format: format)
        try AtomicOutput.write(to: url, overwrite: overwrite) { tmp in try AtomicOutput.writeFile(data, to: tmp.path) }
    }
}

/// One reusable libavcodec still-image encoder for packed RGB24 images of one size.
final class StillEncoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private let frame: UnsafeMutablePointer<AVFrame>
    private let packet: UnsafeMutablePointer<AVPacket>
    private let width: Int, height: Int
    private let format: ImageFormat
    /// RGB24 -> the encoder's pixel format (JPEG: full-range BT.601 4:4:4, WebP: BGRA).
    private var scaler: Scaler?
    private var converted: UnsafeMutablePointer<AVFrame>?

    init(_ format: ImageFormat, width: Int, height: Int) throws {
        FFmpegLog.quiet()
        self.width = width
        self.height = height
        self.format = format
        let (id, name, pixels): (AVCodecID, String, AVPixelFormat) = switch format {
        case .png: (AV_CODEC_ID_PNG, "PNG", AV_PIX_FMT_RGB24)
        case .jpeg: (AV_CODEC_ID_MJPEG, "JPEG", AV_PIX_FMT_YUVJ444P)
        case .webp: (AV_CODEC_ID_WEBP, "WebP", AV_PIX_FMT_BGRA)
        }
        guard let codec = avcodec_find_encoder(id), let ctx = avcodec_alloc_context3(codec) else {
            throw VideoIOError("no \(name) encoder in the linked FFmpeg")
        }
        context = ctx
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = pixels
        ctx.pointee.time_base = AVRational(num: 1, den: 1)
        ctx.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        var opts: OpaquePointer?
        switch format {
        case .png: av_dict_set(&opts, "pred", "paeth", 0)  // smaller files than no prediction, still fast
        case .jpeg:
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
            ctx.pointee.global_quality = 2 * FF_QP2LAMBDA
            ctx.pointee.color_range = AVCOL_RANGE_JPEG
        case .webp: av_dict_set(&opts, "lossless", "1", 0)  // the decoder's pixels exactly, like PNG
        }
        let rc = avcodec_open2(ctx, codec, &opts)
        av_dict_free(&opts)
        guard rc >= 0, let f = av_frame_alloc(), let p = av_packet_alloc() else {
            avcodec_free_context(&context)
            throw VideoIOError("cannot open the \(name) encoder for \(width)x\(height): \(ffmpegErrorText(rc))")
        }
        frame = f
        packet = p
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        if format != .png {
            scaler = try Scaler(srcWidth: Int32(width), srcHeight: Int32(height), srcFormat: AV_PIX_FMT_RGB24,
                                dstWidth: Int32(width), dstHeight: Int32(height), dstFormat: pixels,
                                yuvMatrix: SWS_CS_ITU601, yuvFullRange: true)
            converted = try allocFrame(width: Int32(width), height: Int32(height), format: pixels)
            clearBuffers(converted!)
            converted!.pointee.color_range = AVCOL_RANGE_JPEG
            converted!.pointee.quality = 2 * FF_QP2LAMBDA
        }
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
        if let converted { freeFrame(converted) }
        var p: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&p)
        avcodec_free_context(&context)
    }

    /// Encodes one packed RGB24 image (stride width*3).
    func encode(_ rgb: UnsafePointer<UInt8>) throws -> Data {
        guard let ctx = context else { throw VideoIOError("image encoder closed") }
        let input: UnsafeMutablePointer<AVFrame>
        if let scaler, let converted {
            try scaler.scale(rgb: rgb, into: converted)
            input = converted
        } else {
            // Point the frame at the caller's bytes: no copy, and the encoder
            // only reads them during send_frame.
            frame.pointee.data.0 = UnsafeMutablePointer(mutating: rgb)
            frame.pointee.linesize.0 = Int32(width * 3)
            input = frame
        }
        let what = "\(format.rawValue.uppercased()) encoding failed"
        try ffcheck(avcodec_send_frame(ctx, input), what)
        var rc = avcodec_receive_packet(ctx, packet)
        if rc == -EAGAIN {
            // libwebp holds the frame until the end of the stream: end it (this encoder then makes no more images).
            try ffcheck(avcodec_send_frame(ctx, nil), what)
            rc = avcodec_receive_packet(ctx, packet)
        }
        try ffcheck(rc, what)
        defer { av_packet_unref(packet) }
        return Data(bytes: packet.pointee.data, count: Int(packet.pointee.size))
    }
}
