import CFFmpeg
import Foundation

/// SHA-256 through libavutil (already linked; Foundation on Linux has none):
/// the content keys of the FVD feature cache and of clip selection.
final class SHA256 {
    private let context: OpaquePointer

    init() {
        context = av_sha_alloc()!
        av_sha_init(context, 256)
    }

    deinit { av_free(UnsafeMutableRawPointer(context)) }

    func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { update($0.baseAddress!, $0.count) }
    }

    func update(_ p: UnsafePointer<UInt8>, _ n: Int) {
        av_sha_update(context, p, n)
    }

    /// Hashes a regular file's bytes in 1 MiB reads (never holds the whole file).
    func updateFile(_ path: String, limit: Int) throws {
        let fd: Int32
        do { fd = try InputFile.open(path) } catch let e as InputFileError { throw FVDInputError(e.description) }
        defer { close(fd) }
        let chunk = 1 << 20
        let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: chunk)
        defer { buf.deallocate() }
        var total = 0
        while true {
            let n = Glibc.read(fd, buf, chunk)
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw FVDInputError("\(path): read failed (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            total += n
            guard total <= limit else { throw FVDInputError("\(path): more than \(limit) bytes, the limit for this input") }
            update(buf, n)
        }
    }

    /// The digest as 64 lowercase hex digits; call once.
    func hexDigest() -> String {
        var d = [UInt8](repeating: 0, count: 32)
        av_sha_final(context, &d)
        return d.map { String(format: "%02x", $0) }.joined()
    }

    static func hex(_ s: String) -> String {
        let h = SHA256()
        h.update(Array(s.utf8))
        return h.hexDigest()
    }
}
