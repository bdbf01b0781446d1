import Foundation
import CKernels

/// A counter-based uniform draw in [0, 1): a hash of (stream, index), so a
/// token's draw depends only on its clip's seed and its sequence index.
@inline(__always)
func uniform(stream: UInt64, index: UInt64) -> Double {
    var z = stream &* 0x9E3779B97F4A7C15 &+ index &* 0xD1B54A32D192ED03 &+ 0x632BE59BD9B4E019
    z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
    z ^= z >> 31
    z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
    z ^= z >> 31
    return Double(z >> 11) * 0x1.0p-53
}

/// Per-row scratch of the sampler, reused from token to token.
final class SamplerScratch {
    var keys: [UInt32] = []
    var kept: [Int32] = []
    var weights: [Double] = []
}

/// Draws one token from one row of logits (modified in place): temperature,
/// top-k (ties with the k-th value kept, as torch does), top-p, then an
/// inverse-CDF draw over the kept tokens in index order.
func sampleToken(_ logits: UnsafeMutablePointer<Float>, vocab: Int, options o: SamplingOptions,
                 draw: Double, scratch: SamplerScratch) -> Int32 {
    if o.greedy {
        var best = 0
        for i in 1..<vocab where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
    let mx = pk_scale_max(logits, Int32(vocab), 1 / max(o.temperature, 1e-5))
    var threshold = -Float.infinity
    if o.topK > 0 && o.topK < vocab {
        if scratch.keys.count < vocab { scratch.keys = [UInt32](repeating: 0, count: vocab) }
        threshold = scratch.keys.withUnsafeMutableBufferPointer {
            pk_kth_largest(logits, Int32(vocab), Int32(o.topK), $0.baseAddress!)
        }
    }
    // The kept tokens in index order, with their unnormalised probabilities.
    if scratch.kept.count < vocab { scratch.kept = [Int32](repeating: 0, count: vocab) }
    if scratch.weights.count < vocab { scratch.weights = [Double](repeating: 0, count: vocab) }
    return scratch.kept.withUnsafeMutableBufferPointer { keptBuf in
        scratch.weights.withUnsafeMutableBufferPointer { pBuf in
            let kept = keptBuf.baseAddress!, p = pBuf.baseAddress!
            let count = Int(pk_indices_at_least(logits, Int32(vocab), threshold, kept))
            var sum: Double = 0
            for q in 0..<count {
                p[q] = exp(Double(logits[Int(kept[q])] - mx))
                sum += p[q]
            }
            if o.topP < 1 {
                // Nucleus: keep the most likely tokens until their mass reaches top_p
                // (the token that crosses it included).
                let ranked = (0..<count).sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }
                var cum: Double = 0, keep = ranked.count
                for (rank, q) in ranked.enumerated() {
                    if cum / sum > Double(o.topP) { keep = rank; break }
                    cum += p[q]
                }
                for q in ranked[keep...] { p[q] = 0 }
                sum = cum
            }
            let target = draw * sum
            var acc: Double = 0, last: Int32 = 0
            for q in 0..<count where p[q] > 0 {
                acc += p[q]; last = kept[q]
                if acc > target { return kept[q] }
            }
            return last
        }
    }
}

/// The k-th largest value (1-based, k <= a.count) of `a`.
func kthLargest(_ a: [Float], _ k: Int) -> Float {
    var keys = [UInt32](repeating: 0, count: a.count)
    return keys.withUnsafeMutableBufferPointer { pk_kth_largest(a, Int32(a.count), Int32(k), $0.baseAddress!) }
}
