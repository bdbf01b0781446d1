import Foundation
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

/// Throws `VideoIOError("<what>: <ffmpeg text>")` for a negative return code,
/// with the last error FFmpeg logged (its reason in its own words) when there is one.
@discardableResult
func ffcheck(_ code: Int32, _ what: @autoclosure () -> String) throws -> Int32 {
    if code < 0 {
        let detail = FFmpegLog.takeLastError().map { " (\($0))" } ?? ""
        throw VideoIOError("\(what()): \(ffmpegErrorText(code))\(detail)")
    }
    return code
}

/// FFmpeg's log goes to a callback, never straight to stderr: par-video
/// reports a failure as one line of its own, which quotes the last error
/// FFmpeg logged. With `verbose` (the commands' --verbose) every line at
/// FFmpeg's info level is shown on stderr as FFmpeg wrote it.
public enum FFmpegLog {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var showAll = false
    nonisolated(unsafe) private static var lastError: String?

    private static let once: Void = {
        av_log_set_level(AV_LOG_ERROR)
        av_log_set_callback { avcl, level, format, args in
            // av_log_format_line2 consumes the va_list once, as the callback contract allows.
            guard let args else { return }
            var line = [CChar](repeating: 0, count: 1024)
            var printPrefix: Int32 = 1
            _ = line.withUnsafeMutableBufferPointer { buf in
                av_log_format_line2(avcl, level, format, args, buf.baseAddress, Int32(buf.count), &printPrefix)
            }
            let text = String(cString: line)
            FFmpegLog.received(text, level: level)
        }
    }()

    private static func received(_ text: String, level: Int32) {
        lock.lock()
        let verbose = showAll
        if level <= AV_LOG_ERROR {
            // "[h264 @ 0x55d0...] msg" -> "h264: msg": the same message whatever the address.
            var trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("["), let close = trimmed.firstIndex(of: "]") {
                let context = trimmed[trimmed.index(after: trimmed.startIndex)..<close].split(separator: " ").first ?? ""
                trimmed = context + ": " + trimmed[trimmed.index(after: close)...].trimmingCharacters(in: .whitespaces)
            }
            if !trimmed.isEmpty { lastError = trimmed }
        }
        lock.unlock()
        if verbose, level <= av_log_get_level() { fputs(text, stderr) }
    }

    /// Installs the callback and forgets earlier errors; called before each
    /// use of libav, so a failure quotes only what FFmpeg said about it.
    static func quiet() {
        _ = once
        lock.lock(); lastError = nil; lock.unlock()
    }

    /// The last error FFmpeg logged since `quiet()`, cleared.
    static func takeLastError() -> String? {
        lock.lock(); defer { lock.unlock() }
        let e = lastError
        lastError = nil
        return e
    }

    /// Shows FFmpeg's full log (info level) on stderr, or keeps it off.
    public static var verbose: Bool {
        get { lock.lock(); defer { lock.unlock() }; return showAll }
        set {
            _ = once
            lock.lock(); showAll = newValue; lock.unlock()
            av_log_set_level(newValue ? AV_LOG_INFO : AV_LOG_ERROR)
        }
    }
}
