import Foundation

/// The CPU's last-level cache, which decides how many clips one decode pass
/// should carry: a small model's weights and KV caches stay in it at B = 1,
/// and at B = 8 they do not.
public enum CacheSize {
    /// Bytes of the largest cache level sysfs lists for CPU 0 (L3 on the
    /// machines measured), else glibc's figure, else nil.
    public static let lastLevel: Int? = probe()

    static func probe() -> Int? {
        var best: Int?
        for index in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            guard let text = try? String(contentsOfFile: dir + "size", encoding: .utf8) else { continue }
            if let type = try? String(contentsOfFile: dir + "type", encoding: .utf8),
               type.trimmingCharacters(in: .whitespacesAndNewlines) == "Instruction" { continue }
            if let bytes = parse(text), bytes > (best ?? 0) { best = bytes }
        }
        if best == nil {
            let n = sysconf(Int32(_SC_LEVEL3_CACHE_SIZE))
            if n > 0 { best = n }
        }
        return best
    }

    /// sysfs writes sizes as "32768K" (or "2M", or plain bytes).
    static func parse(_ text: String) -> Int? {
        var s = text.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
        var unit = 1
        if s.hasSuffix("K") { unit = 1 << 10 } else if s.hasSuffix("M") { unit = 1 << 20 } else if s.hasSuffix("G") { unit = 1 << 30 }
        if unit > 1 { s.removeLast() }
        guard let v = Int(s), v > 0 else { return nil }
        return Checked.multiply(v, unit)
    }
}
