import Foundation

/// How tokens are drawn from the logits.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 1.0
    /// Classifier-free guidance scale; 1 runs no unconditional batch.
    public var cfgScale: Float = 1.15
    /// Keep the k largest logits (0 = all); 1 is greedy.
    public var topK: Int = 8000
    public var topP: Float = 1.0
    /// Clip i of a batch draws from stream `seed + i`, so its tokens do not
    /// depend on the batch size or the thread count.
    public var seed: UInt64 = 0

    public init(temperature: Float = 1.0, cfgScale: Float = 1.15, topK: Int = 8000, topP: Float = 1.0, seed: UInt64 = 0) {
        self.temperature = temperature; self.cfgScale = cfgScale; self.topK = topK; self.topP = topP; self.seed = seed
    }

    public init(_ d: SamplingDefaults, seed: UInt64 = 0) {
        self.init(temperature: d.temperature, cfgScale: d.cfgScale, topK: d.topK, topP: d.topP, seed: seed)
    }

    public var greedy: Bool { topK == 1 || temperature <= 0 }
    public var usesCFG: Bool { cfgScale != 1 }

    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw WeightsError("temperature must be >= 0, got \(temperature)") }
        guard topK >= 0 else { throw WeightsError("top-k must be >= 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw WeightsError("top-p must be in (0, 1], got \(topP)") }
        guard cfgScale.isFinite else { throw WeightsError("cfg scale must be finite") }
    }
}

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

/// Draws one token from one row of logits (modified in place): temperature,
/// top-k (ties with the k-th value kept, as torch does), top-p, then an
/// inverse-CDF draw over the kept tokens in index order.
func sampleToken(_ logits: UnsafeMutablePointer<Float>, vocab: Int, options o: SamplingOptions,
                 draw: Double, scratch: inout [Float]) -> Int32 {
    if o.greedy {
        var best = 0
        for i in 1..<vocab where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
    let invT = 1 / max(o.temperature, 1e-5)
    var mx = -Float.infinity
    for i in 0..<vocab { logits[i] *= invT; mx = max(mx, logits[i]) }
    var threshold = -Float.infinity
    if o.topK > 0 && o.topK < vocab {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: logits, count: vocab))
        threshold = kthLargest(&scratch, o.topK)
    }
    // The kept tokens in index order, with their unnormalised probabilities
    // (a compact list: top-k keeps 1/8 of a 64000 vocabulary).
    var kept: [(index: Int32, p: Double)] = []
    kept.reserveCapacity(o.topK > 0 ? min(o.topK + 16, vocab) : vocab)
    var sum: Double = 0
    for i in 0..<vocab where logits[i] >= threshold {
        let e = exp(Double(logits[i] - mx))
        kept.append((Int32(i), e)); sum += e
    }
    if o.topP < 1 {
        // Nucleus: keep the most likely tokens until their mass reaches top_p
        // (the token that crosses it included).
        let ranked = kept.indices.sorted { kept[$0].p > kept[$1].p || (kept[$0].p == kept[$1].p && $0 < $1) }
        var cum: Double = 0, keep = ranked.count
        for (rank, q) in ranked.enumerated() {
            if cum / sum > Double(o.topP) { keep = rank; break }
            cum += kept[q].p
        }
        for q in ranked[keep...] { kept[q].p = 0 }
        sum = cum
    }
    let target = draw * sum
    var acc: Double = 0, last = 0
    for (i, p) in kept where p > 0 {
        acc += p; last = Int(i)
        if acc > target { return i }
    }
    return Int32(last)
}

/// The k-th largest value (1-based) by quickselect; reorders `a`.
func kthLargest(_ a: inout [Float], _ k: Int) -> Float {
    var lo = 0, hi = a.count - 1
    let target = k - 1
    a.withUnsafeMutableBufferPointer { p in
        while lo < hi {
            let pivot = p[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while p[i] > pivot { i += 1 }
                while p[j] < pivot { j -= 1 }
                if i <= j { p.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { hi = j } else if target >= i { lo = i } else { break }
        }
    }
    return a[target]
}
