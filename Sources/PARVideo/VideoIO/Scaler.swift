import CFFmpeg

/// swscale between two frame geometries and pixel formats (bicubic). One
/// instance per conversion; recreated when the source geometry changes.
final class Scaler {
    private let context: OpaquePointer
    let srcWidth: Int32, srcHeight: Int32, srcFormat: AVPixelFormat
    let dstWidth: Int32, dstHeight: Int32, dstFormat: AVPixelFormat

    /// `BITEXACT` keeps the output identical across CPUs (swscale's SIMD paths
    /// otherwise round differently), so the same clip gives the same bytes.
    init(srcWidth: Int32, srcHeight: Int32, srcFormat: AVPixelFormat,
         dstWidth: Int32, dstHeight: Int32, dstFormat: AVPixelFormat,
         yuvMatrix: Int32 = SWS_CS_ITU709, yuvFullRange: Bool = false) throws {
        let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP | SWS_BITEXACT
        guard let ctx = sws_getContext(srcWidth, srcHeight, srcFormat, dstWidth, dstHeight, dstFormat,
                                       Int32(flags), nil, nil, nil) else {
            throw VideoIOError("swscale cannot convert \(srcWidth)x\(srcHeight) to \(dstWidth)x\(dstHeight)")
        }
        // RGB <-> YUV with the matrix and range the stream is tagged with.
        let coefficients = sws_getCoefficients(yuvMatrix)
        let range: Int32 = yuvFullRange ? 1 : 0
        let srcIsYUV = Scaler.isYUV(srcFormat), dstIsYUV = Scaler.isYUV(dstFormat)
        _ = sws_setColorspaceDetails(ctx, coefficients, srcIsYUV ? range : 1,
                                     coefficients, dstIsYUV ? range : 1, 0, 1 << 16, 1 << 16)
        context = ctx
        self.srcWidth = srcWidth; self.srcHeight = srcHeight; self.srcFormat = srcFormat
        self.dstWidth = dstWidth; self.dstHeight = dstHeight; self.dstFormat = dstFormat
    }

    deinit {
        sws_freeContext(context)
        if let f = rgbSource { freeFrame(f) }
    }

    static func isYUV(_ format: AVPixelFormat) -> Bool {
        guard let desc = av_pix_fmt_desc_get(format) else { return false }
        return desc.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB) == 0 && desc.pointee.nb_components >= 3
    }

    /// Scales `src` into `dst` (both allocated by the caller).
    func scale(_ src: UnsafePointer<AVFrame>, into dst: UnsafeMutablePointer<AVFrame>) {
        withPlanes(src) { srcData, srcStride in
            withMutablePlanes(dst) { dstData, dstStride in
                _ = sws_scale(context, srcData, srcStride, 0, srcHeight, dstData, dstStride)
            }
        }
    }

    /// Scales one packed RGB24 image (`bytes`, stride width*3) into `dst`.
    /// The image is first copied into a padded, zeroed frame: swscale's SIMD
    /// readers run past the end of a row, and bytes past the caller's buffer
    /// would otherwise leak into the output (seen under valgrind; it made the
    /// same clip encode to different bytes).
    func scale(rgb bytes: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<AVFrame>) throws {
        if rgbSource == nil {
            let f = try allocFrame(width: srcWidth, height: srcHeight, format: AV_PIX_FMT_RGB24)
            clearBuffers(f)
            rgbSource = f
        }
        let src = rgbSource!
        let row = Int(srcWidth) * 3, stride = Int(src.pointee.linesize.0)
        for y in 0..<Int(srcHeight) {
            (src.pointee.data.0! + y * stride).update(from: bytes + y * row, count: row)
        }
        scale(UnsafePointer(src), into: dst)
    }

    private var rgbSource: UnsafeMutablePointer<AVFrame>?

    /// Scales `src` into packed RGB24 `bytes` (stride dstWidth*3).
    func scale(_ src: UnsafePointer<AVFrame>, intoRGB bytes: UnsafeMutablePointer<UInt8>) {
        var dstData: [UnsafeMutablePointer<UInt8>?] = [bytes, nil, nil, nil]
        var dstStride: [Int32] = [dstWidth * 3, 0, 0, 0]
        withPlanes(src) { srcData, srcStride in
            _ = sws_scale(context, srcData, srcStride, 0, srcHeight, &dstData, &dstStride)
        }
    }
}

// AVFrame.data / linesize arrive in Swift as 8-tuples: these unpack them.
private func withPlanes<R>(_ frame: UnsafePointer<AVFrame>,
                           _ body: ([UnsafePointer<UInt8>?], [Int32]) -> R) -> R {
    let f = frame.pointee
    let d = f.data, l = f.linesize
    let data: [UnsafePointer<UInt8>?] = [d.0, d.1, d.2, d.3, d.4, d.5, d.6, d.7].map { $0.map { UnsafePointer($0) } }
    let stride: [Int32] = [l.0, l.1, l.2, l.3, l.4, l.5, l.6, l.7]
    return body(data, stride)
}

private func withMutablePlanes<R>(_ frame: UnsafeMutablePointer<AVFrame>,
                                  _ body: ([UnsafeMutablePointer<UInt8>?], [Int32]) -> R) -> R {
    let f = frame.pointee
    let d = f.data, l = f.linesize
    return body([d.0, d.1, d.2, d.3, d.4, d.5, d.6, d.7], [l.0, l.1, l.2, l.3, l.4, l.5, l.6, l.7])
}

/// Allocates a frame with its own buffers.
func allocFrame(width: Int32, height: Int32, format: AVPixelFormat) throws -> UnsafeMutablePointer<AVFrame> {
    guard let frame = av_frame_alloc() else { throw VideoIOError("out of memory allocating a frame") }
    frame.pointee.width = width
    frame.pointee.height = height
    frame.pointee.format = format.rawValue
    let rc = av_frame_get_buffer(frame, 0)
    if rc < 0 {
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
        try ffcheck(rc, "cannot allocate a \(width)x\(height) frame")
    }
    return frame
}

func freeFrame(_ frame: UnsafeMutablePointer<AVFrame>) {
    var f: UnsafeMutablePointer<AVFrame>? = frame
    av_frame_free(&f)
}

/// Zeroes a frame's buffers, padding included, so nothing uninitialised can
/// reach an encoder that reads past the visible width.
func clearBuffers(_ frame: UnsafeMutablePointer<AVFrame>) {
    let b = frame.pointee.buf
    for buf in [b.0, b.1, b.2, b.3, b.4, b.5, b.6, b.7] {
        if let buf { memset(buf.pointee.data, 0, Int(buf.pointee.size)) }
    }
}
