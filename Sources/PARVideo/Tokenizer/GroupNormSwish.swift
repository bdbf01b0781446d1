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

    /// Per-channel sums of (x - center[c])^p over all positions, p = 1 or 2, in Double.
    private func channelSums(_ x: UnsafePointer<Float>, positions: Int, center: [Float]?) -> [Double] {
        let c = channels
        let workers = min(Kernels.threads, max(1, positions / 256))
        var partial = [[Double]](repeating: [Double](repeating: 0, count: c), count: workers)
        partial.withUnsafeMutableBufferPointer { parts in
            let parts = parts
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let range = (positions * w / workers)..<(positions * (w + 1) / workers)
                var acc = [Float](repeating: 0, count: c)
                var p = range.lowerBound
                while p < range.upperBound {
                    let end = min(range.upperBound, p + 128)  // flush Float partials to Double often
                    for q in p..<end {
                        let row = x + q * c
                        if let center {
                            for i in 0..<c { let d = row[i] - center[i]; acc[i] += d * d }
                        } else {
                            for i in 0..<c { acc[i] += row[i] }
                        }
                    }
                    for i in 0..<c { parts[w][i] += Double(acc[i]); acc[i] = 0 }
                    p = end
                }
            }
        }
        var total = partial[0]
        for w in 1..<workers { for i in 0..<c { total[i] += partial[w][i] } }
        return total
    }

    private func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, positions: Int) {
        let c = channels, per = channels / groups
        let n = Double(positions * per)
        let sums = channelSums(x, positions: positions, center: nil)
        var mean = [Float](repeating: 0, count: c)
        for g in 0..<groups {
            let m = Float(sums[(g * per)..<((g + 1) * per)].reduce(0, +) / n)
            for i in 0..<per { mean[g * per + i] = m }
        }
        let sq = channelSums(x, positions: positions, center: mean)
        var scale = [Float](repeating: 0, count: c), offset = [Float](repeating: 0, count: c)
        for g in 0..<groups {
            let v = sq[(g * per)..<((g + 1) * per)].reduce(0, +) / n
            let r = Float(1 / (v + Double(eps)).squareRoot())
            for i in (g * per)..<((g + 1) * per) {
                scale[i] = r * gamma[i]
                offset[i] = shift[i] - mean[i] * scale[i]
            }
        }
        let vec = c / 16 * 16
        parallelFor(positions) { range in
            scale.withUnsafeBufferPointer { s in offset.withUnsafeBufferPointer { o in beta.withUnsafeBufferPointer { b in
                for p in range {
                    let src = x + p * c, dst = y + p * c
                    var i = 0
                    while i < vec {
                        let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
                        let sv = UnsafeRawPointer(s.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
                        let ov = UnsafeRawPointer(o.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
                        let bv = UnsafeRawPointer(b.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(dst + i).storeBytes(of: swish(v * sv + ov, bv), as: SIMD16<Float>.self)
                        i += 16
                    }
                    while i < c {
                        let v = src[i] * s[i] + o[i]
                        dst[i] = v / (1 + Foundation.exp(-b[i] * v))
                        i += 1
                    }
                }
            }}}
        }
    }
}
