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
    let cin, cout: Int
    let size: (t: Int, h: Int, w: Int)
    let stride: (t: Int, h: Int, w: Int)
    let relu: Bool
    let bias: [Float]
    private let kernel: CausalConv3D.Kernel   // .f32 or .blas, never bf16

    /// Output positions per block: multiples of the kernels' 6-row tile, as
    /// many as keep four blocks per thread, between these bounds. Longer blocks
    /// reuse each packed kernel slice over more rows; the bounds keep the
    /// stem's explicit im2col block in L2. Every output sums its taps in the
    /// same order whatever the block length, so results do not depend on it.
    static let minBlockRows = 48, maxBlockRows = 192

    static func blockRows(positions: Int, explicit: Bool) -> Int {
        if explicit { return minBlockRows }
        let share = positions / (4 * Parallel.threads) / 6 * 6
        return min(maxBlockRows, max(minBlockRows, share))
    }
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
        let kc = UnsafeMutablePointer<Float>.allocate(capacity: k * cout)
        w.withUnsafeBufferPointer { kc.initialize(from: $0.baseAddress!, count: k * cout) }
        kernel = .packed(kc, k: k, cout: cout, bf16: false, blas: Self.forceBLAS)
    }

    deinit { kernel.deallocate() }

    func outputShape(_ s: (Int, Int, Int)) -> (t: Int, h: Int, w: Int) {
        (samePadding(s.0, size.t, stride.t).out, samePadding(s.1, size.h, stride.h).out,
         samePadding(s.2, size.w, stride.w).out)
    }

    /// Writes the `cout` output channels at `out` (pixels `ldc` floats apart).
    func forward(_ x: ConvInput, into out: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(x.channels == cin)
        let o = outputShape((x.t, x.h, x.w))
        let positions = o.t * o.h * o.w
        let grid = ZeroPaddedTaps(input: (x.t, x.h, x.w), output: o, size: size, stride: stride,
                                  pads: (samePadding(x.t, size.t, stride.t).before, samePadding(x.h, size.h, stride.h).before,
                                         samePadding(x.w, size.w, stride.w).before))
        let zeros = [Float](repeating: 0, count: cin)
        let implicit: Bool
        if case .f32 = kernel, cin >= Self.implicitMinChannels { implicit = true } else { implicit = false }
        let rows = Self.blockRows(positions: positions, explicit: !implicit)
        let blocks = (positions + rows - 1) / rows
        zeros.withUnsafeBufferPointer { zp in
            let zero = zp.baseAddress!
            Parallel.forEach(blocks) { b in
                let p0 = b * rows, n = min(rows, positions - p0)
                let c = out + p0 * ldc
                for i in 0..<n { bias.withUnsafeBufferPointer { (c + i * ldc).update(from: $0.baseAddress!, count: cout) } }
                if implicit {
                    let table = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: n * taps)
                    defer { table.deallocate() }
                    grid.fill(UnsafeRawPointer(x.base), pixelBytes: x.stride * 4, zero: UnsafeRawPointer(zero), from: p0, count: n, into: table)
                    kernel.gemm(n, cout: cout, cin: cin, taps: taps, table: table, into: c, ldc: ldc)
                } else {
                    let k = depth
                    let cols = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
                    defer { cols.deallocate() }
                    grid.gather(x.base, pixelStride: x.stride, cin: cin, from: p0, count: n, into: cols)
                    switch kernel {
                    case .f32:
                        // Taps folded into the depth: one "tap" of depth k per row.
                        let table = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: n)
                        defer { table.deallocate() }
                        for i in 0..<n { table[i] = UnsafeRawPointer(cols + i * k) }
                        kernel.gemm(n, cout: cout, cin: k, taps: 1, table: table, into: c, ldc: ldc)
                    case .blas(let w):
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(cout), Int32(k),
                                    1, cols, Int32(k), w, Int32(cout), 1, c, Int32(ldc))
                    case .bf16:
                        preconditionFailure("I3D packs no bf16 kernel")
                    }
                }
                if relu {
                    for i in 0..<n {
                        let r = c + i * ldc
                        // max, not a guarded store, so the loop vectorises.
                        for j in 0..<cout { r[j] = max(r[j], 0) }
                    }
                }
            }
        }
    }
}
