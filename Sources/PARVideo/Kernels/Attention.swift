import Foundation

/// Scaled dot-product attention of `rows` queries per sequence against a
/// per-sequence key/value cache. Query j sees cache positions [0, limits[j]).
/// Work is split over (sequence, head) pairs, never inside a sum.
///
/// - q: [seqs * rows, qStride], heads first (row j of sequence s at s*rows + j)
/// - keys/values: [seqs, kvHeads, maxLen, headDim]
/// - out: [seqs * rows, nHead * headDim]
public func attention(q: UnsafePointer<Float>, qStride: Int, seqs: Int, rows: Int, limits: [Int],
                      keys: UnsafePointer<Float>, values: UnsafePointer<Float>, maxLen: Int,
                      nHead: Int, kvHeads: Int, headDim: Int,
                      scores scratch: FloatBuffer, out: UnsafeMutablePointer<Float>) {
    let dim = nHead * headDim
    let group = nHead / kvHeads
    let scale = 1 / Float(headDim).squareRoot()
    let hd16 = headDim / 16 * 16
    let maxLimit = limits.max() ?? 0
    precondition(scratch.count >= Parallel.threads * maxLimit)
    Parallel.forEach(seqs * nHead) { item, worker in
        let s = item / nHead, h = item % nHead
        let base = (s * kvHeads + h / group) * maxLen * headDim
        let kp = keys + base, vp = values + base
        let sc = scratch.ptr + worker * maxLimit
        for j in 0..<rows {
            let qr = q + (s * rows + j) * qStride + h * headDim
            let limit = limits[j]
            var mx = -Float.infinity
            for c in 0..<limit {
                let kr = kp + c * headDim
                var acc = SIMD16<Float>()
                var d = 0
                while d < hd16 { acc.addProduct(loadF(qr, d), loadF(kr, d)); d += 16 }
                var dot = acc.sum()
                while d < headDim { dot += qr[d] * kr[d]; d += 1 }
                dot *= scale
                sc[c] = dot
                mx = max(mx, dot)
            }
            var sum: Float = 0
            for c in 0..<limit { let e = expf(sc[c] - mx); sc[c] = e; sum += e }
            let o = out + (s * rows + j) * dim + h * headDim
            for d in 0..<headDim { o[d] = 0 }
            for c in 0..<limit {
                let p = sc[c] / sum
                let vr = vp + c * headDim
                for d in 0..<headDim { o[d] += p * vr[d] }
            }
        }
    }
}
