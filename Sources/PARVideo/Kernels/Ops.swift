import Foundation
import CKernels

/// out = x / sqrt(mean(x^2) + eps) * weight, per row of `dim`, in fp32. The sum
/// of squares runs in 16 lanes, so no add waits on the one before it.
public func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: UnsafePointer<Float>, eps: Float,
                    _ out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * dim, o = out + r * dim
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= dim { let v = loadF(xr, i); acc.addProduct(v, v); i += 16 }
        var ss = acc.sum()
        while i < dim { ss += xr[i] * xr[i]; i += 1 }
        let scale = 1 / (ss / Float(dim) + eps).squareRoot()
        for i in 0..<dim { o[i] = xr[i] * scale * weight[i] }
    }
}

/// Rotates interleaved pairs (v[2p], v[2p+1]) of `heads` vectors of
/// `headDim` by the angles whose cos/sin are given per pair.
@inline(__always)
public func applyRotary(_ v: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
                        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let pairs = headDim / 2
    for h in 0..<heads {
        let p = v + h * headDim
        for i in 0..<pairs {
            let a = p[2 * i], b = p[2 * i + 1]
            p[2 * i] = a * cos[i] - b * sin[i]
            p[2 * i + 1] = b * cos[i] + a * sin[i]
        }
    }
}

/// a = silu(a) * b, the SwiGLU gate (silu(x) = x * sigmoid(x)).
public func siluMul(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    if useAVX512DecodeKernels { pk_silu_mul(a, b, count); return }
    for i in 0..<count {
        let x = a[i]
        a[i] = x / (1 + expf(-x)) * b[i]
    }
}

/// x += y.
@inline(__always)
public func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
}
