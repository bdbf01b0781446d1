import Foundation

/// The limits on sizes read from files, stated once. A file names sizes that
/// are multiplied into byte counts and allocations; every such product goes
/// through `Checked`, and whatever it allocates is held against `memoryBytes`.
public enum InputLimits {
    /// JSON header of a safetensors file.
    public static let headerBytes = 100_000_000
    /// Tensors in one safetensors file (a 36-layer GPT holds about 330).
    public static let tensors = 100_000
    /// Dimensions of one tensor or .npy array.
    public static let dims = 32
    /// Header of a .npy file (numpy itself refuses more than 10 KB by default).
    public static let npyHeaderBytes = 65_536

    /// Physical memory of this machine: a run that needs more cannot fit.
    public static var memoryBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        return Checked.product([pages, size]) ?? Int.max
    }

    /// Throws "`what` needs about X GB of memory, this machine has Y GB"
    /// when `bytes` (nil: beyond Int) exceeds physical memory.
    public static func checkMemory(_ bytes: Int?, for what: String) throws {
        let have = memoryBytes
        if let bytes, bytes <= have { return }
        let need = bytes.map { String(format: "about %.1f GB", Double($0) / 1e9) } ?? "more than 9.2e9 GB"
        throw WeightsError("\(what) needs \(need) of memory, this machine has \(String(format: "%.1f GB", Double(have) / 1e9))")
    }
}

/// Overflow-checked arithmetic for sizes from files: nil instead of a wrap.
public enum Checked {
    public static func product(_ values: [Int]) -> Int? {
        var p = 1
        for v in values {
            guard v >= 0 else { return nil }
            let (q, overflow) = p.multipliedReportingOverflow(by: v)
            if overflow { return nil }
            p = q
        }
        return p
    }

    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    public static func sum(_ values: [Int?]) -> Int? {
        var s = 0
        for v in values {
            guard let v else { return nil }
            let (t, overflow) = s.addingReportingOverflow(v)
            if overflow { return nil }
            s = t
        }
        return s
    }
}
