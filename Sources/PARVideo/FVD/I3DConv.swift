import COpenBLAS
import CKernels
import Foundation

/// A clip's activations in channels-last layout: frames x height x width x
/// channels, contiguous. Owns its memory.
final class FeatureMap: @unchecked Sendable {
    let t, h, w, c: Int
    let data: UnsafeMutablePointer<Float>
    var positions: Int { t * h * w }
    var count: Int { t * h * w * c }

    init(t: Int, h: Int, w: Int, c: Int) {
        self.t = t; self.h = h; self.w = w; self.c = c
        data = .allocate(capacity: max(1, t * h * w * c))
    }
    deinit { data.deallocate() }
}

/// Where a convolution reads its input: `channels` values per pixel, pixels
/// `stride` floats apart (a slice of a wider map, e.g. one Inception branch).
struct ConvInput {
    let base: UnsafePointer<Float>
    let t, h, w, channels, stride: Int

    init(_ m: FeatureMap, offset: Int = 0, channels: Int? = nil) {
        base = UnsafePointer(m.data + offset)
        t = m.t; h = m.h; w = m.w; self.channels = channels ?? m.c; stride = m.c
    }
}

/// TensorFlow "SAME" padding along one axis: (pad before, output size); the
/// odd extra pad goes after, as in i3d-jax.
@inline(__always)
func samePadding(_ n: Int, _ k: Int, _ s: Int) -> (before: Int, out: Int) {
    let out = (n + s - 1) / s
    let total = max((out - 1) * s + k - n, 0)
    return (total / 2, out)
}

/// One I3D unit: a 3D convolution with TF SAME zero padding, inference
/// BatchNorm folded into its kernel and bias, then ReLU. A GEMM of im2col rows
/// (k = ((dt*kh + dh)*kw + dw)*cin + ci) with the kernel as [k][cout], as the
/// tokenizer's convolutions: with AVX-512 the rows stay implicit (a table of
/// each tap's input pixel, padding pointing at zeros) unless cin is small;
/// without it, explicit im2col blocks go to OpenBLAS sgemm. Output positions
/// are cut into fixed blocks and every output sums its taps in one fixed
/// order, so the result does not depend on the thread count.
final class I3DConv: @unchecked Sendable {
    enum Kernel {
        case blas(UnsafeMutablePointer<Float>)   // [k][cout]
        case f32(UnsafeMutablePointer<Float>)    // tk_pack_f32
    }

    let cin, cout: Int
    let size: (t: Int, h: Int, w: Int)
    let stride: (t: Int, h: Int, w: Int)
    let relu: Bool
    let bias: [Float]
    private let kernel: Kernel

    /// Output positions per block (a multiple of the kernels' 6-row tile).
    static let blockRows = 48
    /// Below this many input channels the im2col is explicit (taps folded into
    /// the depth): the stem's 3 channels would waste the 16-wide tiles.
    nonisolated(unsafe) static var implicitMinChannels = 16
    /// Tests set this to run the OpenBLAS path on AVX-512 machines.
    nonisolated(unsafe) static var forceBLAS = false

    var taps: Int { size.t * size.h * size.w }
    var depth: Int { taps * cin }

    /// `w`: [k][cout] with k in (kt, kh, kw, cin) order (the flax layout).
    init(kernel w: [Float], size: (Int, Int, Int), cin: Int, cout: Int, bias: [Float],
         stride: (Int, Int, Int) = (1, 1, 1), relu: Bool = true) {
        precondition(w.count == size.0 * size.1 * size.2 * cin * cout && bias.count == cout)
        self.cin = cin; self.cout = cout; self.relu = relu; self.bias = bias
        self.size = (size.0, size.1, size.2)
        self.stride = (stride.0, stride.1, stride.2)
        let k = size.0 * size.1 * size.2 * cin
        if !Self.forceBLAS && ck_has_avx512() != 0 {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: tk_packed_size_f32(Int32(k), Int32(cout)))
            w.withUnsafeBufferPointer { tk_pack_f32(Int32(k), Int32(cout), $0.baseAddress!, p) }
            kernel = .f32(p)
        } else {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: k * cout)
            w.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: k * cout) }
            kernel = .blas(p)
        }
    }

    deinit {
        switch kernel {
        case .blas(let p), .f32(let p): p.deallocate()
        }
    }

    func outputShape(_ s: (Int, Int, Int)) -> (t: Int, h: Int, w: Int) {
        (samePadding(s.0, size.t, stride.t).out, samePadding(s.1, size.h, stride.h).out,
         samePadding(s.2, size.w, stride.w).out)
    }

    /// Writes the `cout` output channels at `out` (pixels `ldc` floats apart).
    func forward(_ x: ConvInput, into out: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(x.channels == cin)
        let o = outputShape((x.t, x.h, x.w))
        let positions = o.t * o.h * o.w
        let pads = (samePadding(x.t, size.t, stride.t).before, samePadding(x.h, size.h, stride.h).before,
                    samePadding(x.w, size.w, stride.w).before)
        let rows = Self.blockRows
        let blocks = (positions + rows - 1) / rows
        let zeros = [Float](repeating: 0, count: cin)
        let implicit: Bool
        if case .f32 = kernel, cin >= Self.implicitMinChannels { implicit = true } else { implicit = false }
        zeros.withUnsafeBufferPointer { zp in
            let zero = zp.baseAddress!
            Parallel.forEach(blocks) { b in
                let p0 = b * rows, n = min(rows, positions - p0)
                let c = out + p0 * ldc
                for i in 0..<n { bias.withUnsafeBufferPointer { (c + i * ldc).update(from: $0.baseAddress!, count: cout) } }
                let table = UnsafeMutablePointer<UnsafePointer<Float>?>.allocate(capacity: n * (implicit ? taps : 1))
                defer { table.deallocate() }
                if implicit {
                    tapTable(x, o: o, pads: pads, from: p0, count: n, zero: zero, into: table)
                    if case .f32(let w) = kernel {
                        tk_conv_f32(Int32(n), Int32(cout), Int32(cin), Int32(taps), table, w, c, ldc)
                    }
                } else {
                    let k = depth
                    let cols = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
                    defer { cols.deallocate() }
                    im2col(x, o: o, pads: pads, from: p0, count: n, into: cols)
                    switch kernel {
                    case .f32(let w):
                        for i in 0..<n { table[i] = UnsafePointer(cols + i * k) }
                        tk_conv_f32(Int32(n), Int32(cout), Int32(k), 1, table, w, c, ldc)
                    case .blas(let w):
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(cout), Int32(k),
                                    1, cols, Int32(k), w, Int32(cout), 1, c, Int32(ldc))
                    }
                }
                if relu {
                    for i in 0..<n {
                        let r = c + i * ldc
                        for j in 0..<cout where r[j] < 0 { r[j] = 0 }
                    }
                }
            }
        }
    }

    /// For output positions [from, from + count) and every tap, the address of
    /// the input pixel it reads, or of `zero` where the tap falls in the padding.
    private func tapTable(_ x: ConvInput, o: (t: Int, h: Int, w: Int), pads: (Int, Int, Int), from: Int, count: Int,
                          zero: UnsafePointer<Float>, into table: UnsafeMutablePointer<UnsafePointer<Float>?>) {
        var e = 0
        for i in 0..<count {
            let p = from + i
            let to = p / (o.h * o.w), yo = (p / o.w) % o.h, xo = p % o.w
            for dt in 0..<size.t {
                let tt = to * stride.t + dt - pads.0
                for dh in 0..<size.h {
                    let yy = yo * stride.h + dh - pads.1
                    for dw in 0..<size.w {
                        let xx = xo * stride.w + dw - pads.2
                        if tt < 0 || tt >= x.t || yy < 0 || yy >= x.h || xx < 0 || xx >= x.w {
                            table[e] = zero
                        } else {
                            table[e] = x.base + ((tt * x.h + yy) * x.w + xx) * x.stride
                        }
                        e += 1
                    }
                }
            }
        }
    }

    /// Explicit im2col rows (depth `taps * cin`, zeros in the padding).
    private func im2col(_ x: ConvInput, o: (t: Int, h: Int, w: Int), pads: (Int, Int, Int), from: Int, count: Int,
                        into cols: UnsafeMutablePointer<Float>) {
        let cin = cin
        var dst = cols
        for i in 0..<count {
            let p = from + i
            let to = p / (o.h * o.w), yo = (p / o.w) % o.h, xo = p % o.w
            for dt in 0..<size.t {
                let tt = to * stride.t + dt - pads.0
                for dh in 0..<size.h {
                    let yy = yo * stride.h + dh - pads.1
                    let rowInside = tt >= 0 && tt < x.t && yy >= 0 && yy < x.h
                    for dw in 0..<size.w {
                        let xx = xo * stride.w + dw - pads.2
                        if rowInside && xx >= 0 && xx < x.w {
                            dst.update(from: x.base + ((tt * x.h + yy) * x.w + xx) * x.stride, count: cin)
                        } else {
                            dst.update(repeating: 0, count: cin)
                        }
                        dst += cin
                    }
                }
            }
        }
    }
}
