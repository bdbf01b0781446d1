import CFFmpeg
import Foundation

/// A clip as a folder of PNG frames, 000000.png, 000001.png, ...: the layout
/// StyleGAN-V's FVD evaluator reads (one folder per clip). PNG is lossless,
/// so the frames read back bit-exact.
public enum FrameFolder {
    public static func frameName(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".png"
    }

    /// Writes `clip` as a new folder `url` atomically (an existing folder at
    /// `url` is replaced only once every frame is written, and only with `overwrite`).
    public static func write(_ clip: VideoFrames, to url: URL, overwrite: Bool = true) throws {
        guard clip.count >= 1 else { throw VideoIOError("cannot write \(url.path): the clip has no frames") }
        try AtomicOutput.write(to: url, directory: true, overwrite: overwrite) { tmp in
            let encoder = try StillEncoder(.png, width: clip.width, height: clip.height)
            for i in 0..<clip.count {
                let png = try clip.pixels.withUnsafeBufferPointer { buf in
                    try encoder.encode(buf.baseAddress! + i * clip.frameBytes)
                }
                // Encoded outside the writers' lock, written under it (see AtomicOutput.step).
                try AtomicOutput.writeFile(png, to: tmp.appendingPathComponent(frameName(i)).path)
            }
        }
    }

    /// A PNG frame file larger than this is refused before it is read.
    public static let maxFrameFileBytes = 256 << 20

    /// Reads every *.png directly inside `url`, in name order, as one clip.
    /// Frames of another size are an error; `size` resizes (bicubic).
    public static func read(_ url: URL, fps: Double = VideoFrames.defaultFPS,
                            size: (width: Int, height: Int)? = nil) throws -> VideoFrames {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
                .filter { $0.lowercased().hasSuffix(".png") && !$0.hasPrefix(".") }
                .sorted()
        } catch {
            throw VideoIOError("cannot read frame folder \(url.path): \(error.localizedDescription)")
        }
        guard !names.isEmpty else { throw VideoIOError("frame folder \(url.path) holds no .png frames") }
        var clip: VideoFrames?
        for name in names {
            let file = url.appendingPathComponent(name)
            let data: Data
            do { data = try InputFile.read(file.path, limit: maxFrameFileBytes) } catch let e as InputFileError {
                throw VideoIOError(e.description)
            }
            let frame = try decodeImage(data, codec: AV_CODEC_ID_PNG, name: file.path, size: size)
            if clip == nil {
                clip = VideoFrames(width: frame.width, height: frame.height, count: 0, fps: fps, pixels: [])
                clip!.pixels.reserveCapacity(frame.pixels.count * names.count)
            }
            guard frame.width == clip!.width, frame.height == clip!.height else {
                throw VideoIOError("\(file.path) is \(frame.width)x\(frame.height), earlier frames are \(clip!.width)x\(clip!.height)")
            }
            clip!.pixels += frame.pixels
            clip!.count += 1
        }
        return clip!
    }
}

/// Decodes one still image (PNG, ...) held in `data` to RGB8.
func decodeImage(_ data: Data, codec id: AVCodecID, name: String,
                 size: (width: Int, height: Int)? = nil) throws -> VideoFrames {
    FFmpegLog.quiet()
    guard let codec = avcodec_find_decoder(id) else { throw VideoIOError("no decoder for \(name)") }
    var ctx = avcodec_alloc_context3(codec)
    defer { avcodec_free_context(&ctx) }
    guard let ctx else { throw VideoIOError("out of memory") }
    try ffcheck(avcodec_open2(ctx, codec, nil), "cannot open the decoder for \(name)")
    var pkt = av_packet_alloc()
    defer { av_packet_free(&pkt) }
    var frame = av_frame_alloc()
    defer { av_frame_free(&frame) }
    guard let pkt, let frame else { throw VideoIOError("out of memory") }
    try ffcheck(av_new_packet(pkt, Int32(data.count)), "out of memory")
    data.withUnsafeBytes { raw in pkt.pointee.data.update(from: raw.bindMemory(to: UInt8.self).baseAddress!, count: data.count) }
    try ffcheck(avcodec_send_packet(ctx, pkt), "\(name) is not a valid image")
    try ffcheck(avcodec_send_packet(ctx, nil), "\(name) is not a valid image")
    try ffcheck(avcodec_receive_frame(ctx, frame), "\(name) is not a valid image")
    return try rgbImage(from: frame, size: size, cache: nil).image
}

/// Converts a decoded frame of any pixel format to packed RGB8 at `size`
/// (default: its own). Packed RGB24 at its own size is copied as is.
func rgbImage(from frame: UnsafeMutablePointer<AVFrame>, size: (width: Int, height: Int)?,
              cache: Scaler?) throws -> (image: VideoFrames, scaler: Scaler?) {
    let w = Int(frame.pointee.width), h = Int(frame.pointee.height)
    let ow = size?.width ?? w, oh = size?.height ?? h
    var pixels = [UInt8](repeating: 0, count: ow * oh * 3)
    let format = AVPixelFormat(rawValue: frame.pointee.format)
    if format == AV_PIX_FMT_RGB24, ow == w, oh == h {
        let stride = Int(frame.pointee.linesize.0)
        pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                (dst.baseAddress! + y * w * 3).update(from: frame.pointee.data.0! + y * stride, count: w * 3)
            }
        }
        return (VideoFrames(width: w, height: h, count: 1, pixels: pixels), cache)
    }
    var scaler = cache
    if scaler == nil || scaler!.srcWidth != Int32(w) || scaler!.srcHeight != Int32(h) || scaler!.srcFormat != format
        || scaler!.dstWidth != Int32(ow) || scaler!.dstHeight != Int32(oh) {
        // Untagged video is BT.601 by convention; HD-tagged BT.709 as tagged.
        let matrix: Int32 = frame.pointee.colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601
        scaler = try Scaler(srcWidth: Int32(w), srcHeight: Int32(h), srcFormat: format,
                            dstWidth: Int32(ow), dstHeight: Int32(oh), dstFormat: AV_PIX_FMT_RGB24,
                            yuvMatrix: matrix, yuvFullRange: frame.pointee.color_range == AVCOL_RANGE_JPEG
                                || format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P
                                || format == AV_PIX_FMT_YUVJ444P)
    }
    pixels.withUnsafeMutableBufferPointer { dst in scaler!.scale(frame, intoRGB: dst.baseAddress!) }
    return (VideoFrames(width: ow, height: oh, count: 1, pixels: pixels), scaler)
}
