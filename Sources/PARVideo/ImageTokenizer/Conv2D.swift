import COpenBLAS
import CKernels
import Foundation

/// PyTorch's nn.Conv2d with zero padding (any amount per side) and a stride,
/// on the video tokenizer's GEMM kernels: channels last, the kernel packed
/// once as [k][cout] with k = (dy * kw + dx) * cin + ci. With AVX-512 the
/// im2col is implicit (a table of the input pixel each tap reads; a tap in
/// the padding reads a row of zeros); without it, explicit im2col blocks go
/// to OpenBLAS sgemm. The kernel choice follows CausalConv3D's switches.
final class Conv2D {
    let cin, cout, kh, kw, stride: Int
    let pad: (top: Int, left: Int, bottom: Int, right: Int)
    let kernel: CausalConv3D.Kernel
    let bias: [Float]

    var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && pad == (0, 0, 0, 0) }

    /// `w` in PyTorch layout (cout, cin, kh, kw); `pad` nil: k / 2 on every side.
    init(cin: Int, cout: Int, k: Int, stride: Int = 1, pad: (Int, Int, Int, Int)? = nil, w: [Float], bias: [Float], bf16: Bool = false) {
        self.cin = cin; self.cout = cout; kh = k; kw = k; self.stride = stride
        let p = pad ?? (k / 2, k / 2, k / 2, k / 2)
        self.pad = (p.0, p.1, p.2, p.3)
        self.bias = bias
        kernel = .pack(cin: cin, cout: cout, taps: k * k, w: w, bf16: bf16)
    }

    deinit { kernel.deallocate() }

    struct Geometry { let h, w, ho, wo: Int }

    /// Output of one image (frames == 1); `residual` (the output's shape) is added.
    func callAsFunction(_ x: Activation, residual: Activation? = nil) -> Activation {
        LayerTimer.time(.conv) { forward(x, residual: residual) }
    }

    private func forward(_ x: Activation, residual: Activation?) -> Activation {
        precondition(x.channels == cin && x.frames == 1)
        let ho = (x.height + pad.top + pad.bottom - kh) / stride + 1
        let wo = (x.width + pad.left + pad.right - kw) / stride + 1
        let out = Activation(frames: 1, height: ho, width: wo, channels: cout)
        let g = Geometry(h: x.height, w: x.width, ho: ho, wo: wo)
        let positions = ho * wo
        bias.withUnsafeBufferPointer { b in
            parallelFor(positions) { r in
                for p in r {
                    let dst = out.data + p * cout
                    if let residual {
                        let s = residual.data + p * cout
                        for c in 0..<cout { dst[c] = s[c] + b[c] }
                    } else {
                        memcpy(dst, b.baseAddress!, cout * 4)
                    }
                }
            }
        }
        switch kernel {
        case .blas(let w): blasForward(x, g, w, out)
        case .f32(let w): blockedForward(x, g, out, bf16: nil, f32: w)
        case .bf16(let w): blockedForward(x, g, out, bf16: w, f32: nil)
        }
        return out
    }

    /// For output positions [from, from + count) and every tap, the address of
    /// the input pixel it reads, or of `zero` inside the padding.
    private func rowTable(_ base: UnsafeRawPointer, zero: UnsafeRawPointer, g: Geometry, from: Int, count: Int,
                          elem: Int, into table: UnsafeMutablePointer<UnsafeRawPointer?>) {
        let px = cin * elem
        var e = 0
        for i in 0..<count {
            let p = from + i
            let y = p / g.wo, xo = p % g.wo
            for dy in 0..<kh {
                let yy = y * stride + dy - pad.top
                for dx in 0..<kw {
                    let xx = xo * stride + dx - pad.left
                    table[e] = yy >= 0 && yy < g.h && xx >= 0 && xx < g.w ? base + (yy * g.w + xx) * px : zero
                    e += 1
                }
            }
        }
    }

    private func blockedForward(_ x: Activation, _ g: Geometry, _ out: Activation,
                                bf16: UnsafeMutablePointer<UInt16>?, f32: UnsafeMutablePointer<Float>?) {
        let positions = g.ho * g.wo, rows = CausalConv3D.blockRows, taps = kh * kw
        let workers = min(Parallel.threads, max(1, positions / 48))
        let elem = bf16 != nil ? 2 : 4
        // bf16 runs read the input in bf16, converted once; the zero row serves both widths.
        let zero = UnsafeMutableRawPointer.allocate(byteCount: cin * 4, alignment: 64)
        memset(zero, 0, cin * 4)
        var half: UnsafeMutablePointer<UInt16>?
        if bf16 != nil {
            let n = x.count, store = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
            parallelFor(16) { r in
                for part in r { tk_f32_to_bf16(n * (part + 1) / 16 - n * part / 16, x.data + n * part / 16, store + n * part / 16) }
            }
            half = store
        }
        defer { zero.deallocate(); half?.deallocate() }
        let base = half.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(x.data)
        DispatchQueue.concurrentPerform(iterations: workers) { wkr in
            let table = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: rows * taps)
            defer { table.deallocate() }
            let end = positions * (wkr + 1) / workers
            var p0 = positions * wkr / workers
            while p0 < end {
                let n = min(rows, end - p0)
                rowTable(base, zero: zero, g: g, from: p0, count: n, elem: elem, into: table)
                let c = out.data + p0 * cout
                if let bf16 {
                    table.withMemoryRebound(to: UnsafePointer<UInt16>?.self, capacity: n * taps) {
                        if CausalConv3D.useAMX {
                            tk_conv_bf16_amx(Int32(n), Int32(cout), Int32(cin), Int32(taps), $0, bf16, c, cout)
                        } else {
                            tk_conv_bf16(Int32(n), Int32(cout), Int32(cin), Int32(taps), $0, bf16, c, cout)
                        }
                    }
                } else {
                    table.withMemoryRebound(to: UnsafePointer<Float>?.self, capacity: n * taps) {
                        tk_conv_f32(Int32(n), Int32(cout), Int32(cin), Int32(taps), $0, f32!, c, cout)
                    }
                }
                p0 += n
            }
        }
    }

    private func blasForward(_ x: Activation, _ g: Geometry, _ w: UnsafeMutablePointer<Float>, _ out: Activation) {
        let k = kh * kw * cin, positions = g.ho * g.wo
        if isPointwise {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(positions), Int32(cout), Int32(k),
                        1, x.data, Int32(cin), w, Int32(cout), 1, out.data, Int32(cout))
            return
        }
        let block = min(positions, max(512, (24 << 20) / (k * 4)))
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: block * k)
        let zero = UnsafeMutableRawPointer.allocate(byteCount: cin * 4, alignment: 64)
        memset(zero, 0, cin * 4)
        defer { cols.deallocate(); zero.deallocate() }
        var p0 = 0
        while p0 < positions {
            let n = min(block, positions - p0)
            parallelFor(n) { r in
                let taps = kh * kw
                let table = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: r.count * taps)
                defer { table.deallocate() }
                rowTable(UnsafeRawPointer(x.data), zero: zero, g: g, from: p0 + r.lowerBound, count: r.count, elem: 4, into: table)
                for i in 0..<(r.count * taps) { memcpy(cols + (r.lowerBound * taps + i) * cin, table[i]!, cin * 4) }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(cout), Int32(k),
                        1, cols, Int32(k), w, Int32(cout), 1, out.data + p0 * cout, Int32(cout))
            p0 += n
        }
    }
}
