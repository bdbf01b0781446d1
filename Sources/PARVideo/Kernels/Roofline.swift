import Foundation
import COpenBLAS

/// This machine's two ceilings for the roofline bound of a decode run.
public enum Roofline {
    /// Read bandwidth in bytes/s: `threads` threads summing a 512 MiB buffer
    /// with SIMD loads (best of 3), as a memory-bound gemv sees it.
    public static func bandwidth(megabytes: Int = 512) -> Double {
        let count = megabytes << 18  // floats
        let buf = FloatBuffer(count)
        for i in stride(from: 0, to: count, by: 1024) { buf.ptr[i] = Float(i & 7) }
        let chunks = 64, per = count / chunks
        var best = 0.0
        var sink: Float = 0
        for _ in 0..<3 {
            let sums = FloatBuffer(chunks)
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(chunks) { c in
                let p = buf.ptr + c * per
                var a = SIMD16<Float>(), b = SIMD16<Float>()
                var i = 0
                while i < per { a += loadF(p, i); b += loadF(p, i + 16); i += 32 }
                sums.ptr[c] = (a + b).sum()
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            sink += sums.ptr[0]
            best = max(best, Double(count * 4) / dt)
        }
        if sink.isNaN { print("") }
        return best
    }

    /// sgemm FLOP/s for an m x k times k x n product split over output
    /// columns as the engine splits it (best of 3).
    public static func sgemmFlops(m: Int = 1024, n: Int = 1024, k: Int = 1024) -> Double {
        let a = FloatBuffer(m * k), b = FloatBuffer(n * k), c = FloatBuffer(m * n)
        for i in 0..<(m * k) { a.ptr[i] = Float(i % 13) * 0.01 }
        for i in 0..<(n * k) { b.ptr[i] = Float(i % 7) * 0.01 }
        let w = WeightMatrix(rows: n, cols: k, dtype: .f32, data: UnsafeRawPointer(b.ptr), owner: b)
        var best = 0.0
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            matmul(a.ptr, rows: m, w, c.ptr)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = max(best, 2.0 * Double(m * n * k) / dt)
        }
        return best
    }

    /// Peak resident memory since the last `resetPeakMemory` (VmHWM), bytes.
    public static func peakMemory() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    /// Resets the kernel's peak-RSS mark (Linux: "5" to clear_refs).
    public static func resetPeakMemory() {
        if let fh = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            fh.write(Data("5".utf8)); try? fh.close()
        }
    }
}
