import COpenBLAS
import Foundation

/// NBP's CausalConv3d: pad by repeating edge values, 2*(kt/2) frames in front
/// and none behind, kh/2 and kw/2 on each side in space; then a (strided)
/// valid convolution. Computed as chunked im2col + sgemm in channels-last
/// layout: cols[p][k] with k = ((dt*kh + dy)*kw + dx)*cin + ci, times the
/// kernel packed once as [k][cout].
///
/// Streaming: with `streaming` the conv keeps the last 2*(kt/2) input frames
/// and uses them as the front context of the next chunk, so decoding chunk by
/// chunk along time gives exactly the whole-clip result.
final class CausalConv3D {
    let cin, cout, kt, kh, kw: Int
    let stride: (t: Int, h: Int, w: Int)
    let weight: UnsafeMutablePointer<Float>   // [kt*kh*kw*cin][cout]
    let bias: [Float]
    private var context: Activation?

    var kSize: Int { kt * kh * kw * cin }
    var frontPad: Int { 2 * (kt / 2) }

    /// `w` in PyTorch layout (cout, cin, kt, kh, kw).
    init(cin: Int, cout: Int, kernel: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1), w: [Float], bias: [Float]) {
        self.cin = cin; self.cout = cout
        (kt, kh, kw) = kernel
        self.stride = (stride.0, stride.1, stride.2)
        self.bias = bias
        let taps = kt * kh * kw
        weight = .allocate(capacity: taps * cin * cout)
        w.withUnsafeBufferPointer { src in
            for co in 0..<cout {
                for ci in 0..<cin {
                    let s = src.baseAddress! + (co * cin + ci) * taps
                    for tap in 0..<taps { weight[(tap * cin + ci) * cout + co] = s[tap] }
                }
            }
        }
    }

    deinit { weight.deallocate() }

    func reset() { context = nil }

    /// Output of a chunk of input frames; `residual` (same shape as the output) is added.
    func callAsFunction(_ x: Activation, streaming: Bool = false, residual: Activation? = nil) -> Activation {
        precondition(x.channels == cin)
        // Padded time axis: context (or the first frame repeated), then the chunk.
        var frames: [UnsafePointer<Float>] = []
        if frontPad > 0 {
            if let ctx = context, streaming {
                for i in 0..<ctx.frames { frames.append(ctx.frame(i)) }
            } else {
                frames += Array(repeating: UnsafePointer(x.frame(0)), count: frontPad)
            }
        }
        for t in 0..<x.frames { frames.append(x.frame(t)) }
        let to = (frames.count - kt) / stride.t + 1
        let ho = (x.height + 2 * (kh / 2) - kh) / stride.h + 1
        let wo = (x.width + 2 * (kw / 2) - kw) / stride.w + 1
        let out = Activation(frames: to, height: ho, width: wo, channels: cout)
        let positions = to * ho * wo

        // Bias (plus residual) first, so the GEMM accumulates with beta = 1.
        bias.withUnsafeBufferPointer { b in
            parallelFor(positions) { range in
                for p in range {
                    let dst = out.data + p * cout
                    if let residual {
                        let r = residual.data + p * cout
                        for c in 0..<cout { dst[c] = r[c] + b[c] }
                    } else {
                        memcpy(dst, b.baseAddress!, cout * 4)
                    }
                }
            }
        }

        let k = kSize
        if kt == 1 && kh == 1 && kw == 1 && stride == (1, 1, 1) {
            // 1x1x1: the channels-last input already is the im2col matrix.
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(positions), Int32(cout), Int32(k),
                        1, x.data, Int32(cin), weight, Int32(cout), 1, out.data, Int32(cout))
        } else {
            let block = Self.blockPositions(k: k, positions: positions)
            let cols = UnsafeMutablePointer<Float>.allocate(capacity: block * k)
            defer { cols.deallocate() }
            var p0 = 0
            while p0 < positions {
                let n = min(block, positions - p0)
                gather(frames: frames, h: x.height, w: x.width, ho: ho, wo: wo, from: p0, count: n, into: cols)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(cout), Int32(k),
                            1, cols, Int32(k), weight, Int32(cout), 1, out.data + p0 * cout, Int32(cout))
                p0 += n
            }
        }

        if streaming && frontPad > 0 {
            // Keep the last frontPad padded input frames for the next chunk.
            let keep = Activation(frames: frontPad, height: x.height, width: x.width, channels: cin)
            for i in 0..<frontPad { memcpy(keep.frame(i), frames[frames.count - frontPad + i], x.frameSize * 4) }
            context = keep
        }
        return out
    }

    /// Positions per GEMM call: big enough that packing the kernel is amortised,
    /// small enough that the im2col block stays in cache-friendly territory.
    static func blockPositions(k: Int, positions: Int) -> Int {
        let target = max(512, (24 << 20) / (k * 4))
        return min(positions, target)
    }

    /// im2col rows for output positions [from, from + count) (flattened t, y, x).
    private func gather(frames: [UnsafePointer<Float>], h: Int, w: Int, ho: Int, wo: Int,
                        from: Int, count: Int, into cols: UnsafeMutablePointer<Float>) {
        let k = kSize, cin = cin, kt = kt, kh = kh, kw = kw, st = stride
        let ph = kh / 2, pw = kw / 2
        frames.withUnsafeBufferPointer { fr in
            parallelFor(count) { range in
                for i in range {
                    let p = from + i
                    let t = p / (ho * wo), y = (p / wo) % ho, xo = p % wo
                    var dst = cols + i * k
                    let x0 = xo * st.w - pw
                    let inside = x0 >= 0 && x0 + kw <= w
                    for dt in 0..<kt {
                        let f = fr[t * st.t + dt]
                        for dy in 0..<kh {
                            let yy = min(max(y * st.h + dy - ph, 0), h - 1)
                            let row = f + yy * w * cin
                            if inside {
                                memcpy(dst, row + x0 * cin, kw * cin * 4)
                                dst += kw * cin
                            } else {
                                for dx in 0..<kw {
                                    let xx = min(max(x0 + dx, 0), w - 1)
                                    memcpy(dst, row + xx * cin, cin * 4)
                                    dst += cin
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
