import COpenBLAS
import CKernels
import Foundation

/// The GEMM machinery shared by the tokenizers' convolutions (CausalConv3D,
/// Conv2D) and I3D's: packing a kernel, the blocks of output positions, one
/// block's GEMM on a tap table, and the OpenBLAS path on explicit im2col rows.
extension CausalConv3D.Kernel {
    /// `kc` ([k][cout], taken over) in the form this CPU's GEMM reads: OpenBLAS
    /// with `blas` or without AVX-512, bf16 when asked and the CPU has it.
    static func packed(_ kc: UnsafeMutablePointer<Float>, k: Int, cout: Int, bf16: Bool, blas: Bool) -> Self {
        if blas { return .blas(kc) }
        if bf16 && CausalConv3D.hasBF16 {
            let p = UnsafeMutablePointer<UInt16>.allocate(capacity: tk_packed_size_bf16(Int32(k), Int32(cout)))
            tk_pack_bf16(Int32(k), Int32(cout), kc, p)
            kc.deallocate()
            return .bf16(p)
        }
        if CausalConv3D.hasAVX512 {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: tk_packed_size_f32(Int32(k), Int32(cout)))
            tk_pack_f32(Int32(k), Int32(cout), kc, p)
            kc.deallocate()
            return .f32(p)
        }
        return .blas(kc)
    }

    /// One block's GEMM: `n` output rows at `c` (`ldc` floats apart) += for
    /// each row the `taps` input vectors of `cin` its table entries point at
    /// (bf16 or fp32, as the kernel), times the kernel.
    func gemm(_ n: Int, cout: Int, cin: Int, taps: Int, table: UnsafeMutablePointer<UnsafeRawPointer?>,
              into c: UnsafeMutablePointer<Float>, ldc: Int) {
        switch self {
        case .bf16(let w):
            table.withMemoryRebound(to: UnsafePointer<UInt16>?.self, capacity: n * taps) {
                if CausalConv3D.useAMX {
                    tk_conv_bf16_amx(Int32(n), Int32(cout), Int32(cin), Int32(taps), $0, w, c, ldc)
                } else {
                    tk_conv_bf16(Int32(n), Int32(cout), Int32(cin), Int32(taps), $0, w, c, ldc)
                }
            }
        case .f32(let w):
            table.withMemoryRebound(to: UnsafePointer<Float>?.self, capacity: n * taps) {
                tk_conv_f32(Int32(n), Int32(cout), Int32(cin), Int32(taps), $0, w, c, ldc)
            }
        case .blas:
            preconditionFailure("a tap-table GEMM needs a packed kernel")
        }
    }
}

extension CausalConv3D {
    /// Output rows [p0, p0 + n) of `bias.count` channels start as the bias
    /// (plus `residual`'s rows); the GEMM accumulates onto them.
    static func startRows(_ out: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, bias: [Float], from p0: Int, count n: Int) {
        let cout = bias.count
        bias.withUnsafeBufferPointer { b in
            for p in p0..<(p0 + n) {
                let dst = out + p * cout
                if let residual {
                    let r = residual + p * cout
                    for c in 0..<cout { dst[c] = r[c] + b[c] }
                } else {
                    memcpy(dst, b.baseAddress!, cout * 4)
                }
            }
        }
    }

    /// Output positions in equal shares per thread, then blocks of `blockRows`
    /// inside a share, so small chunks do not leave a thread idle. `body` gets
    /// a tap table with room for one block, the block's first position and size.
    static func forEachBlock(positions: Int, taps: Int, _ body: (UnsafeMutablePointer<UnsafeRawPointer?>, Int, Int) -> Void) {
        let workers = min(Parallel.threads, max(1, positions / 48))
        DispatchQueue.concurrentPerform(iterations: workers) { wkr in
            let table = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: blockRows * taps)
            defer { table.deallocate() }
            let end = positions * (wkr + 1) / workers
            var p0 = positions * wkr / workers
            while p0 < end {
                let n = min(blockRows, end - p0)
                body(table, p0, n)
                p0 += n
            }
        }
    }

    /// The OpenBLAS path: `out` (holding the bias) += im2col rows of depth `k`
    /// times `w`. The rows are `direct` for a pointwise convolution, else filled
    /// by `gather(rows, from, count)` in parallel, a block of positions at a time.
    static func blasGEMM(positions: Int, k: Int, cout: Int, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                         direct: UnsafePointer<Float>?, gather: (UnsafeMutablePointer<Float>, Int, Int) -> Void) {
        if let direct {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(positions), Int32(cout), Int32(k),
                        1, direct, Int32(k), w, Int32(cout), 1, out, Int32(cout))
            return
        }
        let block = min(positions, max(512, (24 << 20) / (k * 4)))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: block * k * 4, alignment: 64)
        defer { raw.deallocate() }
        let cols = raw.bindMemory(to: Float.self, capacity: block * k)
        var p0 = 0
        while p0 < positions {
            let n = min(block, positions - p0)
            parallelFor(n) { r in gather(cols + r.lowerBound * k, p0 + r.lowerBound, r.count) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(cout), Int32(k),
                        1, cols, Int32(k), w, Int32(cout), 1, out + p0 * cout, Int32(cout))
            p0 += n
        }
    }
}

/// The implicit im2col of a zero-padded convolution (Conv2D, I3D): for output
/// positions [from, from + count) and every tap in (t, y, x) order, the
/// address of the input pixel it reads, or `zero` inside the padding.
struct ZeroPaddedTaps {
    let input: (t: Int, h: Int, w: Int)
    let output: (t: Int, h: Int, w: Int)
    let size: (t: Int, h: Int, w: Int)
    let stride: (t: Int, h: Int, w: Int)
    /// Padding before each axis (what lies past the end reads zeros too).
    let pads: (t: Int, h: Int, w: Int)

    var taps: Int { size.t * size.h * size.w }

    /// Pixels `pixelBytes` apart from `base`, (t, y, x) order.
    func fill(_ base: UnsafeRawPointer, pixelBytes: Int, zero: UnsafeRawPointer, from: Int, count: Int,
              into table: UnsafeMutablePointer<UnsafeRawPointer?>) {
        var e = 0
        for p in from..<(from + count) {
            let to = p / (output.h * output.w), yo = (p / output.w) % output.h, xo = p % output.w
            for dt in 0..<size.t {
                let tt = to * stride.t + dt - pads.t
                for dh in 0..<size.h {
                    let yy = yo * stride.h + dh - pads.h
                    for dw in 0..<size.w {
                        let xx = xo * stride.w + dw - pads.w
                        let inside = tt >= 0 && tt < input.t && yy >= 0 && yy < input.h && xx >= 0 && xx < input.w
                        table[e] = inside ? base + ((tt * input.h + yy) * input.w + xx) * pixelBytes : zero
                        e += 1
                    }
                }
            }
        }
    }

    /// Explicit im2col rows of `taps * cin` floats (zeros in the padding). Each
    /// run of `size.w` taps that lies inside a dense row is one copy, not one
    /// per tap: the I3D stem's 3 channels made per-tap copies its main cost.
    func gather(_ base: UnsafePointer<Float>, pixelStride: Int, cin: Int, from: Int, count: Int,
                into cols: UnsafeMutablePointer<Float>) {
        let run = size.w * cin
        var dst = cols
        for p in from..<(from + count) {
            let to = p / (output.h * output.w), yo = (p / output.w) % output.h, xo = p % output.w
            let x0 = xo * stride.w - pads.w
            let whole = pixelStride == cin && x0 >= 0 && x0 + size.w <= input.w
            for dt in 0..<size.t {
                let tt = to * stride.t + dt - pads.t
                for dh in 0..<size.h {
                    let yy = yo * stride.h + dh - pads.h
                    if tt < 0 || tt >= input.t || yy < 0 || yy >= input.h {
                        dst.update(repeating: 0, count: run)
                    } else {
                        let row = base + (tt * input.h + yy) * input.w * pixelStride
                        if whole {
                            dst.update(from: row + x0 * cin, count: run)
                        } else {
                            for dw in 0..<size.w {
                                let xx = x0 + dw, d = dst + dw * cin
                                if xx >= 0 && xx < input.w { d.update(from: row + xx * pixelStride, count: cin) }
                                else { d.update(repeating: 0, count: cin) }
                            }
                        }
                    }
                    dst += run
                }
            }
        }
    }
}
