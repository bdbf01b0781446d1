import CKernels
import Foundation
import COpenBLAS

/// This machine's two ceilings for the roofline bound of a decode run.
/// Each is given twice: per wall-clock second, and per second of process
/// CPU time divided by the thread count (what the run would reach with the
/// cores to itself; the machine is shared).
public enum Roofline {
    public struct Rate {
        public var wall: Double, cpu: Double
        public init(wall: Double, cpu: Double) { self.wall = wall; self.cpu = cpu }
    }

    /// Process CPU time (user + system), seconds.
    public static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// Best of `repeats` timings of `body`, which does `work` units.
    public static func best(_ repeats: Int, work: Double, _ body: () -> Void) -> Rate {
        var r = Rate(wall: 0, cpu: 0)
        for _ in 0..<repeats {
            let c0 = cpuSeconds(), t0 = DispatchTime.now().uptimeNanoseconds
            body()
            let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let cpu = (cpuSeconds() - c0) / Double(Parallel.threads)
            r.wall = max(r.wall, work / wall)
            r.cpu = max(r.cpu, work / max(cpu, 1e-6))
        }
        return r
    }

    /// Read bandwidth in bytes/s: `threads` threads summing a 512 MiB buffer
    /// with SIMD loads (best of 3), four streams per thread, as the few-row
    /// kernel reads four weight rows (one stream per thread reaches less).
    private static func streamRate(megabytes: Int) -> Rate {
        let count = megabytes << 18  // floats
        let buf = FloatBuffer(count)
        for i in stride(from: 0, to: count, by: 1024) { buf.ptr[i] = Float(i & 7) }
        let chunks = 64, per = count / chunks
        let sums = FloatBuffer(chunks)
        let rate = best(3, work: Double(count * 4)) {
            Parallel.forEach(chunks) { c in
                let q = per / 4, p0 = buf.ptr + c * per, p1 = p0 + q, p2 = p1 + q, p3 = p2 + q
                var a = SIMD16<Float>(), b = SIMD16<Float>(), d = SIMD16<Float>(), e = SIMD16<Float>()
                var i = 0
                while i < q { a += loadF(p0, i); b += loadF(p1, i); d += loadF(p2, i); e += loadF(p3, i); i += 16 }
                sums.ptr[c] = (a + b + d + e).sum()
            }
        }
        if sums.ptr[0].isNaN { print("") }  // keeps the sums alive
        return rate
    }

    /// The 512 MiB buffer goes back to the kernel afterwards (the CLI keeps
    /// freed blocks in the heap, where it would count in the runs' peak memory).
    public static func bandwidth(megabytes: Int = 512) -> Rate {
        let rate = streamRate(megabytes: megabytes)
        ck_release_freed_memory()
        return rate
    }

    /// sgemm FLOP/s for an m x k times k x n product split over output
    /// columns as the engine splits it (best of 3).
    public static func sgemmFlops(m: Int = 1024, n: Int = 1024, k: Int = 1024) -> Rate {
        let a = FloatBuffer(m * k), b = FloatBuffer(n * k), c = FloatBuffer(m * n)
        for i in 0..<(m * k) { a.ptr[i] = Float(i % 13) * 0.01 }
        for i in 0..<(n * k) { b.ptr[i] = Float(i % 7) * 0.01 }
        let w = WeightMatrix(rows: n, cols: k, dtype: .f32, data: UnsafeRawPointer(b.ptr), owner: b)
        return best(3, work: 2.0 * Double(m * n * k)) { matmulBLAS(a.ptr, rows: m, w, c.ptr) }
    }

    /// The compute ceiling of products against `dtype` weights: the sgemm rate, or for
    /// bf16 weights on AVX512_BF16 the higher of it and the vdpbf16ps few-row kernel's
    /// rate (64 rows against a 1024 x 1024 matrix held in cache).
    public static func computeFlops(dtype: DType) -> Rate {
        let sgemm = sgemmFlops()
        guard dtype == .bf16, useAVX512DecodeKernels, useBF16DotKernels else { return sgemm }
        let rows = 64, n = 1024, k = 1024
        let x = FloatBuffer(rows * k), y = FloatBuffer(rows * n), b = FloatBuffer((n * k + 1) / 2)
        for i in 0..<(rows * k) { x.ptr[i] = Float(i % 13) * 0.01 }
        let raw = UnsafeMutableRawPointer(b.ptr).assumingMemoryBound(to: UInt16.self)
        for i in 0..<(n * k) { raw[i] = 0x3C00 | UInt16(i % 7) }
        let w = WeightMatrix(rows: n, cols: k, dtype: .bf16, data: UnsafeRawPointer(b.ptr), owner: b)
        let dot = best(3, work: 2.0 * Double(rows * n * k) * 8) { for _ in 0..<8 { matmul(x.ptr, rows: rows, w, y.ptr) } }
        return Rate(wall: max(sgemm.wall, dot.wall), cpu: max(sgemm.cpu, dot.cpu))
    }

    /// Peak resident memory since the last `resetPeakMemory` (VmHWM), bytes.
    public static func peakMemory() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        return statusBytes(text, field: "VmHWM") ?? 0
    }

    /// Bytes of a "Name:<tab>  123 kB" field of /proc/self/status. The
    /// number is padded to 8 columns, so from 10 GB on it follows the tab
    /// with no space: split on both.
    public static func statusBytes(_ status: String, field: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Int(parts[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// Resets the kernel's peak-RSS mark (Linux: "5" to clear_refs).
    public static func resetPeakMemory() {
        if let fh = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            fh.write(Data("5".utf8)); try? fh.close()
        }
    }
}
