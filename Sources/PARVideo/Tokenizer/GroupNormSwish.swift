import CKernels
import Foundation

/// NBP's GroupNorm3D (nn.GroupNorm applied to every frame on its own, biased
/// variance, affine) followed by Swish x * sigmoid(beta * x) with a per-channel
/// beta. The two always appear together in the MAGVIT-v2 layer lists.
struct GroupNormSwish {
    let channels, groups: Int
    let eps: Float
    let gamma, shift, beta: [Float]

    init(channels: Int, groups: Int, eps: Float, gamma: [Float], shift: [Float], beta: [Float]) {
        self.channels = channels; self.groups = groups; self.eps = eps
        self.gamma = gamma; self.shift = shift; self.beta = beta
    }

    func callAsFunction(_ x: Activation) -> Activation {
        let out = Activation(frames: x.frames, height: x.height, width: x.width, channels: channels)
        for t in 0..<x.frames { apply(x.frame(t), out.frame(t), positions: x.height * x.width) }
        return out
    }

    private func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, positions: Int) {
        let c = channels
        let (scale, offset) = groupNormAffine(x, positions: positions, channels: c, groups: groups, eps: eps, gamma: gamma, shift: shift)
        parallelFor(positions) { range in
            tk_affine_swish(range.count, Int32(c), x + range.lowerBound * c, y + range.lowerBound * c, scale, offset, beta)
        }
    }
}

/// Positions are summed in at most this many slices of at least 256, whose
/// partial sums are added in slice order: the rounding follows the frame
/// size alone, never the thread count.
let groupNormSumSlices = 16

/// Per-channel sums of (x - center[c])^power over all positions, in Double.
private func channelSums(_ x: UnsafePointer<Float>, positions: Int, channels c: Int, center: [Float]?) -> [Double] {
    let slices = min(groupNormSumSlices, max(1, positions / 256))
    var partial = [Double](repeating: 0, count: c * slices)
    partial.withUnsafeMutableBufferPointer { parts in
        let parts = parts
        parallelFor(slices) { range in
            for s in range {
                let lo = positions * s / slices, hi = positions * (s + 1) / slices
                tk_channel_sums(hi - lo, Int32(c), x + lo * c, center, center == nil ? 1 : 2, parts.baseAddress! + s * c)
            }
        }
    }
    var total = [Double](repeating: 0, count: c)
    for s in 0..<slices { for i in 0..<c { total[i] += partial[s * c + i] } }
    return total
}

/// nn.GroupNorm (biased variance, affine) of `positions` pixels of `c`
/// channels as one per-channel affine map y = x * scale + offset (GroupNormSwish, VQGroupNorm).
func groupNormAffine(_ x: UnsafePointer<Float>, positions: Int, channels c: Int, groups: Int, eps: Float,
                     gamma: [Float], shift: [Float]) -> (scale: [Float], offset: [Float]) {
    let per = c / groups
    let n = Double(positions * per)
    let sums = channelSums(x, positions: positions, channels: c, center: nil)
    var mean = [Float](repeating: 0, count: c)
    for g in 0..<groups {
        let m = Float(sums[(g * per)..<((g + 1) * per)].reduce(0, +) / n)
        for i in 0..<per { mean[g * per + i] = m }
    }
    let sq = channelSums(x, positions: positions, channels: c, center: mean)
    var scale = [Float](repeating: 0, count: c), offset = [Float](repeating: 0, count: c)
    for g in 0..<groups {
        let v = sq[(g * per)..<((g + 1) * per)].reduce(0, +) / n
        let r = Float(1 / (v + Double(eps)).squareRoot())
        for i in (g * per)..<((g + 1) * per) {
            scale[i] = r * gamma[i]
            offset[i] = shift[i] - mean[i] * scale[i]
        }
    }
    return (scale, offset)
}
