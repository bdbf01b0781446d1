import Foundation

/// What one input row of a forward pass is (docs/METHOD.md, "Input rows").
public enum InputToken: Sendable, Equatable {
    /// Class embedding row (`numClasses` = null class).
    case classToken(Int)
    /// A codebook token.
    case token(Int32)
    /// The m-th learned transition token, m in 1..<n.
    case transition(Int)
}

/// PAR/LlamaGen GPT (docs/METHOD.md, "The transformer"): pre-norm LLaMA blocks, fused wqkv,
/// SwiGLU, rotary on (t, y, x), a group mask given as per-row key limits.
public final class GPT: @unchecked Sendable {
    public let config: GPTConfig
    public let weights: GPTWeights
    let rotary: Rotary

    public init(config: GPTConfig, weights: GPTWeights) {
        self.config = config
        self.weights = weights
        rotary = Rotary(headDim: config.headDim, mode: config.rope, base: config.ropeBase)
    }

    public convenience init(_ entry: GPTEntry) throws {
        self.init(config: entry.config, weights: try GPTWeights(config: entry.config, file: entry.file))
    }

    public func makeCache(seqs: Int) -> KVCache {
        KVCache(layers: config.nLayer, seqs: seqs, maxLen: config.tokensPerClip + config.parallel,
                kvHeads: config.kvHeads, headDim: config.headDim)
    }

    /// Embedding rows for `inputs` into `h` (one row each).
    func embed(_ inputs: [InputToken], into h: UnsafeMutablePointer<Float>) {
        for (r, input) in inputs.enumerated() {
            let row = h + r * config.dim
            switch input {
            case .classToken(let c): weights.clsEmbedding.copyRow(c, into: row)
            case .token(let t): weights.tokEmbeddings.copyRow(Int(t), into: row)
            case .transition(let m): weights.specialEmbeddings!.copyRow(m - 1, into: row)
            }
        }
    }

    /// One forward pass for `seqs` sequences in lockstep: each feeds `rows`
    /// inputs (`inputs[s * rows + j]`) at cache positions `positions[j]`
    /// with rotary cells `cells[j]`; query j sees keys [0, limits[j]).
    /// Writes logits [seqs * rows, vocab]. With `guidance` s (CFG), the
    /// second half of the sequences are the unconditional twins of the first,
    /// and only the guided logits u + (c - u) * s of the first half are
    /// written ([seqs / 2 * rows, vocab]).
    public func forward(_ inputs: [InputToken], seqs: Int, positions: [Int], cells: [Cell?], limits: [Int],
                        guidance: Float? = nil,
                        cache: KVCache, workspace ws: Workspace, logits: UnsafeMutablePointer<Float>) {
        let c = config, rows = positions.count, R = seqs * rows
        let dim = c.dim, hd = c.headDim, kvDim = c.kvHeads * hd
        let qkvWidth = dim + 2 * kvDim
        precondition(inputs.count == R && R <= ws.maxRows)
        let h = ws.h.ptr, xn = ws.xn.ptr, qkv = ws.qkv.ptr, att = ws.att.ptr, a = ws.a.ptr, b = ws.b.ptr
        embed(inputs, into: h)

        let pairs = rotary.pairs
        for j in 0..<rows { rotary.fill(cells[j], cos: ws.cos.ptr + j * pairs, sin: ws.sin.ptr + j * pairs) }

        for (l, blk) in weights.blocks.enumerated() {
            rmsNorm(h, rows: R, dim: dim, weight: blk.attentionNorm, eps: c.normEps, xn)
            matmul(xn, rows: R, blk.wqkv, qkv)
            for s in 0..<seqs {
                for j in 0..<rows {
                    let row = qkv + (s * rows + j) * qkvWidth
                    let cs = ws.cos.ptr + j * pairs, sn = ws.sin.ptr + j * pairs
                    applyRotary(row, heads: c.nHead, headDim: hd, cos: cs, sin: sn)
                    applyRotary(row + dim, heads: c.kvHeads, headDim: hd, cos: cs, sin: sn)
                    for kh in 0..<c.kvHeads {
                        cache.store(layer: l, seq: s, head: kh, pos: positions[j],
                                    key: row + dim + kh * hd, value: row + dim + kvDim + kh * hd)
                    }
                }
            }
            attention(q: qkv, qStride: qkvWidth, seqs: seqs, rows: rows, limits: limits,
                      keys: cache.keys[l].ptr, values: cache.values[l].ptr, maxLen: cache.maxLen,
                      nHead: c.nHead, kvHeads: c.kvHeads, headDim: hd, scores: ws.scores, out: att)
            matmul(att, rows: R, blk.wo, xn)
            addInPlace(h, xn, count: R * dim)

            rmsNorm(h, rows: R, dim: dim, weight: blk.ffnNorm, eps: c.normEps, xn)
            matmulSwiGLU(xn, rows: R, blk.w1, blk.w3, a, b)
            matmul(a, rows: R, blk.w2, xn)
            addInPlace(h, xn, count: R * dim)
        }
        rmsNorm(h, rows: R, dim: dim, weight: weights.norm, eps: c.normEps, xn)
        guard let s = guidance else { return matmul(xn, rows: R, weights.output, logits) }
        // The head is linear, so guiding its input guides its output: one
        // head product for the guided rows instead of two (the paper model's
        // head is a tenth of its weights; half of them at 4 layers). Exact in
        // real arithmetic; in fp32 the logits differ from guiding them after
        // the head by rounding alone.
        precondition(seqs % 2 == 0)
        let half = R / 2
        for i in 0..<(half * dim) { xn[i] = xn[half * dim + i] + (xn[i] - xn[half * dim + i]) * s }
        matmul(xn, rows: half, weights.output, logits)
    }
}

/// Scratch activations for up to `maxRows` rows per forward pass.
public final class Workspace: @unchecked Sendable {
    public let maxRows: Int
    let h, xn, qkv, att, a, b, cos, sin, scores: FloatBuffer

    public init(config c: GPTConfig, maxRows: Int) {
        self.maxRows = maxRows
        let kvDim = c.kvHeads * c.headDim
        h = FloatBuffer(maxRows * c.dim); xn = FloatBuffer(maxRows * c.dim)
        qkv = FloatBuffer(maxRows * (c.dim + 2 * kvDim)); att = FloatBuffer(maxRows * c.dim)
        a = FloatBuffer(maxRows * c.ffnHidden); b = FloatBuffer(maxRows * c.ffnHidden)
        cos = FloatBuffer(maxRows * c.headDim / 2); sin = FloatBuffer(maxRows * c.headDim / 2)
        scores = FloatBuffer(max(8, Parallel.threads) * c.parallel * (c.tokensPerClip + c.parallel))
    }
}
