import CFFmpeg
import Foundation
@testable import PARVideo

/// What a video file's first video stream is, without decoding it: what the
/// tests check of the files the binary writes.
struct VideoInfo: Sendable, Equatable {
    var codec: String        // "h264", "mpeg4", ...
    var pixelFormat: String  // "yuv420p", ...
    var width: Int
    var height: Int
    var fps: Double
    /// The frame count the container states (0 when it does not say).
    var frames: Int
}

enum VideoProbe {
    static func info(_ url: URL) throws -> VideoInfo {
        FFmpegLog.quiet()
        do { guard try InputFile.kind(of: url.path) == .file else { throw VideoIOError("\(url.path): a folder, not a video file") } }
        catch let e as InputFileError { throw VideoIOError(e.description) }
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        try ffcheck(avformat_open_input(&fmt, url.path, nil, nil), "cannot open \(url.path)")
        defer { avformat_close_input(&fmt) }
        try ffcheck(avformat_find_stream_info(fmt, nil), "cannot read stream info of \(url.path)")
        let index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        try ffcheck(index, "\(url.path) has no video stream")
        let stream = fmt!.pointee.streams[Int(index)]!
        let par = stream.pointee.codecpar.pointee
        let rate = stream.pointee.avg_frame_rate
        let pix = av_get_pix_fmt_name(AVPixelFormat(rawValue: par.format)).map { String(cString: $0) } ?? "unknown"
        return VideoInfo(codec: String(cString: avcodec_get_name(par.codec_id)), pixelFormat: pix,
                         width: Int(par.width), height: Int(par.height),
                         fps: rate.den > 0 ? Double(rate.num) / Double(rate.den) : 0,
                         frames: Int(stream.pointee.nb_frames))
    }

    static func codecName(_ url: URL) throws -> String { try info(url).codec }
}
