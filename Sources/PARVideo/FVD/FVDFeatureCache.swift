import Foundation

/// Features computed so far for one set, keyed by each clip's content
/// (FVDClips.contentKey), so a set is extracted once whatever subset is
/// scored, an interrupted run resumes, and a changed clip is recomputed.
/// One file per (set folder, feature settings) in the cache folder:
///   "PVFVDC1\n", u32 header length, header JSON {settings, dim, count},
///   then count x (32-byte SHA-256, dim float32), little-endian.
/// Written atomically; a file that fails any check is ignored with a warning.
public final class FVDFeatureCache {
    static let magic = Array("PVFVDC1\n".utf8)
    static let maxHeaderBytes = 1 << 16
    public static let maxFileBytes = 4 << 30

    public let path: String?
    let settings: [String: String]
    public let dim: Int
    public private(set) var entries: [String: [Float]] = [:]
    private var unsaved = 0

    /// `dir` nil: no cache (nothing read or written).
    public init(dir: String?, set: String, settings: [String: String], dim: Int, warn: (String) -> Void) {
        self.settings = settings
        self.dim = dim
        guard let dir else { path = nil; return }
        let real = URL(fileURLWithPath: set).resolvingSymlinksInPath().standardizedFileURL.path
        let keys = settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: "\n")
        path = (dir as NSString).appendingPathComponent(String(SHA256.hex("\(real)\n\(keys)").prefix(24)) + ".fvdcache")
        guard FileManager.default.fileExists(atPath: path!) else { return }
        do { entries = try Self.read(path!, settings: settings, dim: dim) } catch {
            warn("warning: ignoring the feature cache \(path!): \(error)")
        }
    }

    public static func defaultDir() -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["PAR_VIDEO_FVD_CACHE"], !d.isEmpty { return d }
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("par-video/fvd")
    }

    static func read(_ path: String, settings: [String: String], dim: Int) throws -> [String: [Float]] {
        let data = try InputFile.read(path, limit: maxFileBytes)
        let bytes = [UInt8](data)
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else { throw FVDInputError("not a par-video feature cache") }
        let hlen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard hlen <= maxHeaderBytes, 12 + hlen <= bytes.count else { throw FVDInputError("bad header length \(hlen)") }
        guard let header = try JSONSerialization.jsonObject(with: Data(bytes[12..<(12 + hlen)])) as? [String: Any],
              let s = header["settings"] as? [String: String], let d = header["dim"] as? Int, let n = header["count"] as? Int
        else { throw FVDInputError("bad header") }
        guard s == settings, d == dim else { throw FVDInputError("written with other feature settings") }
        let record = 32 + 4 * dim
        let (body, over) = n.multipliedReportingOverflow(by: record)
        guard n >= 0, !over, 12 + hlen + body == bytes.count else {
            throw FVDInputError("\(bytes.count) bytes do not hold \(n) entries")
        }
        var out: [String: [Float]] = [:]
        var p = 12 + hlen
        for _ in 0..<n {
            let key = bytes[p..<(p + 32)].map { String(format: "%02x", $0) }.joined()
            var f = [Float](repeating: 0, count: dim)
            for j in 0..<dim {
                let q = p + 32 + 4 * j
                f[j] = Float(bitPattern: UInt32(bytes[q]) | UInt32(bytes[q + 1]) << 8 | UInt32(bytes[q + 2]) << 16 | UInt32(bytes[q + 3]) << 24)
            }
            guard f.allSatisfy({ $0.isFinite }) else { throw FVDInputError("an entry holds NaN or Inf") }
            out[key] = f
            p += record
        }
        return out
    }

    public func insert(_ key: String, _ features: [Float]) {
        precondition(features.count == dim && key.utf8.count == 64)
        entries[key] = features
        unsaved += 1
    }

    /// Writes the file when anything was added since the last save.
    public func save() throws {
        guard let path, unsaved > 0 else { return }
        let dir = (path as NSString).deletingLastPathComponent
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw FVDInputError("cannot create the feature cache folder \(dir): \(error.localizedDescription)")
        }
        let header = try JSONSerialization.data(withJSONObject: ["settings": settings, "dim": dim, "count": entries.count] as [String: Any],
                                                options: [.sortedKeys])
        var out = Self.magic
        out.reserveCapacity(12 + header.count + entries.count * (32 + 4 * dim))
        for s in [0, 8, 16, 24] { out.append(UInt8(truncatingIfNeeded: header.count >> s)) }
        out += header
        for key in entries.keys.sorted() {
            var k = key.utf8.makeIterator()
            func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
            for _ in 0..<32 { out.append(nibble(k.next()!) << 4 | nibble(k.next()!)) }
            for v in entries[key]! { for s in [0, 8, 16, 24] { out.append(UInt8(truncatingIfNeeded: v.bitPattern >> UInt32(s))) } }
        }
        try AtomicOutput.write(to: URL(fileURLWithPath: path)) { tmp in try AtomicOutput.writeFile(Data(out), to: tmp.path) }
        unsaved = 0
    }
}
