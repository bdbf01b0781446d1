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
        parallelFor(positions) { r in
            CausalConv3D.startRows(out.data, residual: residual.map { UnsafePointer($0.data) }, bias: bias, from: r.lowerBound, count: r.count)
        }
        switch kernel {
        case .blas(let w): blasForward(x, g, w, out)
        case .f32: blockedForward(x, g, out, bf16: false)
        case .bf16: blockedForward(x, g, out, bf16: true)
        }
        return out
    }

    /// The taps of this convolution over an input of `g`'s size.
    private func tapGrid(_ g: Geometry) -> ZeroPaddedTaps {
        ZeroPaddedTaps(input: (1, g.h, g.w), output: (1, g.ho, g.wo), size: (1, kh, kw), stride: (1, stride, stride),
                       pads: (0, pad.top, pad.left))
    }

    private func blockedForward(_ x: Activation, _ g: Geometry, _ out: Activation, bf16: Bool) {
        let grid = tapGrid(g)
        let elem = bf16 ? 2 : 4
        // bf16 runs read the input in bf16, converted once; the zero row serves both widths.
        let zero = UnsafeMutableRawPointer.allocate(byteCount: cin * 4, alignment: 64)
        memset(zero, 0, cin * 4)
        var half: UnsafeMutablePointer<UInt16>?
        if bf16 {
            let n = x.count, store = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
            parallelFor(16) { r in
                for part in r { tk_f32_to_bf16(n * (part + 1) / 16 - n * part / 16, x.data + n * part / 16, store + n * part / 16) }
            }
            half = store
        }
        defer { zero.deallocate(); half?.deallocate() }
        let base = half.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(x.data)
        CausalConv3D.forEachBlock(positions: g.ho * g.wo, taps: grid.taps) { table, p0, n in
            grid.fill(base, pixelBytes: cin * elem, zero: zero, from: p0, count: n, into: table)
            kernel.gemm(n, cout: cout, cin: cin, taps: grid.taps, table: table, into: out.data + p0 * cout, ldc: cout)
        }
    }

    private func blasForward(_ x: Activation, _ g: Geometry, _ w: UnsafeMutablePointer<Float>, _ out: Activation) {
        let grid = tapGrid(g), cin = cin
        CausalConv3D.blasGEMM(positions: g.ho * g.wo, k: grid.taps * cin, cout: cout, w: w, out: out.data,
                              direct: isPointwise ? UnsafePointer(x.data) : nil) {
            grid.gather(x.data, pixelStride: cin, cin: cin, from: $1, count: $2, into: $0)
        }
    }
}
