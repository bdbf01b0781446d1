import COpenBLAS
import CKernels
import Foundation

/// nn.GroupNorm (biased variance, affine) over one image, optionally followed
/// by swish x * sigmoid(x): LlamaGen's `Normalize` and `nonlinearity`.
struct VQGroupNorm {
    let channels, groups: Int
    let eps: Float
    let gamma, shift: [Float]
    let swish: Bool
    private let ones: [Float]

    init(channels: Int, groups: Int, eps: Float, gamma: [Float], shift: [Float], swish: Bool) {
        self.channels = channels; self.groups = groups; self.eps = eps
        self.gamma = gamma; self.shift = shift; self.swish = swish
        ones = [Float](repeating: 1, count: channels)
    }

    func callAsFunction(_ x: Activation) -> Activation {
        LayerTimer.time(.norm) { apply(x) }
    }

    private func apply(_ x: Activation) -> Activation {
        let c = channels, positions = x.height * x.width
        let out = Activation(frames: 1, height: x.height, width: x.width, channels: c)
        let (scale, offset) = groupNormAffine(x.data, positions: positions, channels: c, groups: groups, eps: eps, gamma: gamma, shift: shift)
        let (src, dst) = (x.data, out.data)
        parallelFor(positions) { range in
            if swish {
                tk_affine_swish(range.count, Int32(c), src + range.lowerBound * c, dst + range.lowerBound * c, scale, offset, ones)
            } else {
                for p in range {
                    let s = src + p * c, d = dst + p * c
                    for i in 0..<c { d[i] = s[i] * scale[i] + offset[i] }
                }
            }
        }
        return out
    }
}

/// LlamaGen's ResnetBlock: GN, swish, conv3x3, GN, swish, conv3x3, plus the
/// input (its 1x1 `nin_shortcut` when the channel count changes).
final class VQResnetBlock {
    let norm1, norm2: VQGroupNorm
    let conv1, conv2: Conv2D
    let shortcut: Conv2D?

    init(norm1: VQGroupNorm, conv1: Conv2D, norm2: VQGroupNorm, conv2: Conv2D, shortcut: Conv2D?) {
        self.norm1 = norm1; self.conv1 = conv1; self.norm2 = norm2; self.conv2 = conv2; self.shortcut = shortcut
    }

    func callAsFunction(_ x: Activation) -> Activation {
        let h = norm2(conv1(norm1(x)))
        return conv2(h, residual: shortcut.map { $0(x) } ?? x)
    }
}

/// LlamaGen's AttnBlock: single-head attention of every position over every
/// position, q k^T / sqrt(C), on 1x1 convs of the group-normed input, plus
/// the input after proj_out.
final class VQAttnBlock {
    let norm: VQGroupNorm
    let q, k, v, proj: Conv2D

    init(norm: VQGroupNorm, q: Conv2D, k: Conv2D, v: Conv2D, proj: Conv2D) {
        self.norm = norm; self.q = q; self.k = k; self.v = v; self.proj = proj
    }

    func callAsFunction(_ x: Activation) -> Activation {
        let h = norm(x)
        let (qa, ka, va) = (q(h), k(h), v(h))
        let n = x.height * x.width, c = x.channels
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { scores.deallocate() }
        let o = Activation(frames: 1, height: x.height, width: x.width, channels: c)
        LayerTimer.time(.conv) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(c),
                        1 / Float(c).squareRoot(), qa.data, Int32(c), ka.data, Int32(c), 0, scores, Int32(n))
            parallelFor(n) { rows in
                for r in rows {
                    let row = scores + r * n
                    var m = -Float.infinity
                    for j in 0..<n { m = max(m, row[j]) }
                    var s: Float = 0
                    for j in 0..<n { row[j] = expf(row[j] - m); s += row[j] }
                    let inv = 1 / s
                    for j in 0..<n { row[j] *= inv }
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(c), Int32(n),
                        1, scores, Int32(n), va.data, Int32(c), 0, o.data, Int32(c))
        }
        return proj(o, residual: x)
    }
}

/// F.interpolate(scale_factor=2, mode="nearest") on a channels-last image.
func upsampleNearest2x(_ x: Activation) -> Activation {
    let (h, w, c) = (x.height, x.width, x.channels)
    let out = Activation(frames: 1, height: 2 * h, width: 2 * w, channels: c)
    LayerTimer.time(.copy) {
        parallelFor(2 * h) { rows in
            for oy in rows {
                let src = x.data + (oy / 2) * w * c, dst = out.data + oy * 2 * w * c
                for xx in 0..<w {
                    memcpy(dst + 2 * xx * c, src + xx * c, c * 4)
                    memcpy(dst + (2 * xx + 1) * c, src + xx * c, c * 4)
                }
            }
        }
    }
    return out
}
