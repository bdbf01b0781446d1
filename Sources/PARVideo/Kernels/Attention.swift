import Foundation
import COpenBLAS
import CKernels

/// Scaled dot-product attention of `rows` queries per sequence against a
/// per-sequence key/value cache. Query j sees cache positions [0, limits[j]).
/// Work is split over (sequence, head) pairs, never inside a sum. Within a
/// pair the C kernel reads the keys and values once (AVX-512); the portable
/// path makes QK^T and PV small sgemm/sgemv calls (OpenBLAS single-threaded).
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
    let L = limits.max() ?? 0
    precondition(scratch.count >= Parallel.threads * rows * L)
    let limits32 = limits.map { Int32($0) }
    Parallel.forEach(seqs * nHead) { item, worker in
        let s = item / nHead, h = item % nHead
        let base = (s * kvHeads + h / group) * maxLen * headDim
        let kp = keys + base, vp = values + base
        let sc = scratch.ptr + worker * rows * L
        let qp = q + s * rows * qStride + h * headDim
        let op = out + s * rows * dim + h * headDim
        if useAVX512DecodeKernels,
           pk_attention_head(Int32(rows), Int32(headDim), qp, qStride, kp, vp, Int32(L), limits32, scale, sc, op, dim) != 0 {
            return
        }
        // scores[j, c] = scale * q_j . k_c for c < L
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(L), Int32(headDim), scale, kp, Int32(headDim), qp, 1, 0, sc, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(L), Int32(headDim),
                        scale, qp, Int32(qStride), kp, Int32(headDim), 0, sc, Int32(L))
        }
        // Softmax over each row's visible keys; hidden keys get weight 0.
        for j in 0..<rows {
            let r = sc + j * L, limit = limits[j]
            if useAVX512DecodeKernels { pk_softmax_row(r, Int32(limit), Int32(L)); continue }
            var mx = -Float.infinity
            for c in 0..<limit { mx = max(mx, r[c]) }
            var sum: Float = 0
            for c in 0..<limit { let e = expf(r[c] - mx); r[c] = e; sum += e }
            let inv = 1 / sum
            for c in 0..<limit { r[c] *= inv }
            for c in limit..<L { r[c] = 0 }
        }
        // out_j = sum_c p[j, c] v_c
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(L), Int32(headDim), 1, vp, Int32(headDim), sc, 1, 0, op, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(headDim), Int32(L),
                        1, sc, Int32(L), vp, Int32(headDim), 0, op, Int32(dim))
        }
    }
}
