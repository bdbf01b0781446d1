import CFFmpeg

/// Every failure of VideoIO: one line that names the file and the problem.
public struct VideoIOError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// FFmpeg's text for an AVERROR code.
func ffmpegErrorText(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 128)
    return buf.withUnsafeMutableBufferPointer { b in
        String(cString: cff_err2str(code, b.baseAddress, b.count))
    }
}

/// Throws `VideoIOError("<what>: <ffmpeg text>")` for a negative return code.
@discardableResult
func ffcheck(_ code: Int32, _ what: @autoclosure () -> String) throws -> Int32 {
    if code < 0 { throw VideoIOError("\(what()): \(ffmpegErrorText(code))") }
    return code
}

/// FFmpeg logging: libx264 prints statistics and the muxers print notices on
/// stderr unless the level is lowered. Called before any libav use.
public enum FFmpegLog {
    private static let once: Void = { av_log_set_level(AV_LOG_ERROR) }()
    static func quiet() { _ = once }
    /// Overrides the level (for example `AV_LOG_QUIET` or `AV_LOG_INFO`).
    public static func setLevel(_ level: Int32) { av_log_set_level(level) }
    /// Runs `body` with FFmpeg's own log off: for reading a user's file whose
    /// failure the caller reports as one line of its own (FFmpeg's text included).
    public static func silenced<R>(_ body: () throws -> R) rethrows -> R {
        quiet()
        av_log_set_level(AV_LOG_QUIET)
        defer { av_log_set_level(AV_LOG_ERROR) }
        return try body()
    }
}
