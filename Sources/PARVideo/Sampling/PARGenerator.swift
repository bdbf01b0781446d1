import Foundation

/// Progress after each decode step.
public struct StepProgress: Sendable {
    public let step: Int, steps: Int, tokensDone: Int
}

/// Decodes token cubes with the PAR schedule (docs/METHOD.md, "Schedule") on the KV
/// cache: B clips and, with CFG, their unconditional twins share every
/// forward pass as one batch [cond_0..cond_{B-1}, uncond_0..uncond_{B-1}].
public final class PARGenerator: @unchecked Sendable {
    public let model: GPT
    public let order: PAROrder
    /// The last-level cache `clipsPerPass` plans for (nil: one pass always).
    public var cacheBytes: Int? = CacheSize.lastLevel

    public init(model: GPT) {
        self.model = model
        let c = model.config
        order = PAROrder(T: c.cube[0], H: c.cube[1], W: c.cube[2], parallel: c.parallel)
    }

    public var steps: Int { model.config.steps }

    /// Checks an action against the model's classes.
    public func validate(actions: [Int]) throws {
        let classes = model.config.numClasses
        guard !actions.isEmpty else { throw SamplingError("no action given") }
        for a in actions where a < 0 || a >= classes {
            throw SamplingError("action \(a) is outside the model's classes 0..<\(classes)")
        }
    }

    /// One step's inputs for a clip whose tokens so far are `seq` (PAR
    /// order): what each of its rows feeds, at which position, with which
    /// cell, seeing which keys, and which sequence indices its rows predict.
    public struct StepPlan: Sendable {
        public var inputs: [InputToken], positions: [Int], cells: [Cell?], limits: [Int], predicts: [Int]
    }

    public func plan(step: Int, classToken: Int, seq: [Int32]) -> StepPlan {
        let n = model.config.parallel
        if step == 0 {
            return StepPlan(inputs: [.classToken(classToken)], positions: [0], cells: [nil], limits: [1], predicts: [0])
        }
        if step < n {  // x_{step-1} at pos step, causal
            return StepPlan(inputs: [.token(seq[step - 1])], positions: [step], cells: [order.cells[step - 1]],
                            limits: [step + 1], predicts: [step])
        }
        if step == n {  // x_{n-1} and M_1..M_{n-1} at n..2n-1, one full block
            let inputs: [InputToken] = [.token(seq[n - 1])] + (1..<n).map { .transition($0) }
            let cells: [Cell?] = [order.cells[n - 1]] + Array(repeating: nil, count: n - 1)
            return StepPlan(inputs: inputs, positions: Array(n..<(2 * n)), cells: cells,
                            limits: Array(repeating: 2 * n, count: n), predicts: Array(n..<(2 * n)))
        }
        let g = step - n  // group g (g >= 1) at positions gn+n..gn+2n-1 predicts group g+1
        let k0 = g * n
        return StepPlan(inputs: (k0..<(k0 + n)).map { .token(seq[$0]) },
                        positions: Array((k0 + n)..<(k0 + 2 * n)), cells: (k0..<(k0 + n)).map { order.cells[$0] },
                        limits: Array(repeating: k0 + 2 * n, count: n), predicts: Array((k0 + n)..<(k0 + 2 * n)))
    }

    /// Decodes one cube per action. Clip b draws from stream `seeds[b]`, or
    /// `options.seed + b` without `seeds`. `logitsHook(step, rows, logits)`
    /// sees the guided logits of each step ([B, rows, vocab]) before sampling.
    /// `prefix[b]`, when given, forces clip b's first K whole latent frames
    /// (K*H*W tokens in (t, y, x) order): t is outermost in the PAR order, so
    /// they are exactly sequence positions 0..<K*H*W; those positions take the
    /// prefix value instead of a draw, later draws keep their keys, and the KV
    /// cache ends up holding the prefix as context.
    /// A batch may run as several passes (`clipsPerPass`); a clip's tokens
    /// are the same either way, since each clip is the clip rendered alone.
    public func generate(actions: [Int], options: SamplingOptions, seeds: [UInt64]? = nil,
                         prefix: [[Int32]]? = nil,
                         progress: ((StepProgress) -> Void)? = nil,
                         logitsHook: ((Int, Int, UnsafePointer<Float>) -> Void)? = nil) throws -> [TokenCube] {
        try validate(actions: actions)
        try options.validate()
        if let seeds, seeds.count != actions.count {
            throw SamplingError("generate: \(seeds.count) seeds for \(actions.count) clips")
        }
        if let prefix, prefix.count != actions.count {
            throw SamplingError("generate: \(prefix.count) prefixes for \(actions.count) clips")
        }
        let streams = seeds ?? actions.indices.map { options.seed &+ UInt64($0) }
        let B = actions.count
        // The logits hook sees whole batches, so it keeps one pass.
        let per = logitsHook == nil ? clipsPerPass(batch: B, cfg: options.usesCFG) : B
        guard per < B else {
            return try decodePass(actions: actions, options: options, streams: streams, prefix: prefix,
                                  progress: progress, logitsHook: logitsHook)
        }
        let passes = (B + per - 1) / per
        var cubes: [TokenCube] = []
        for (k, start) in stride(from: 0, to: B, by: per).enumerated() {
            let r = start..<min(B, start + per)
            let report = progress.map { p in { (s: StepProgress) in
                p(StepProgress(step: k * s.steps + s.step, steps: passes * s.steps, tokensDone: s.tokensDone))
            } }
            cubes += try decodePass(actions: Array(actions[r]), options: options, streams: Array(streams[r]),
                                    prefix: prefix.map { Array($0[r]) }, progress: report, logitsHook: nil)
        }
        return cubes
    }

    /// Clips per decode pass for a batch of `batch`. Every step reads the
    /// weights once and each clip's whole KV cache; when the weights and one
    /// clip's cache fit in the last-level cache but the whole batch's do not
    /// (the built-in model at n = 1, B = 8: 4.4 MB of weights, 16 MB of cache
    /// a clip, 32 MB of L3), passes of as many clips as fit read nothing
    /// from memory, and a single pass of all of them would stream every
    /// clip's cache from memory at every step. Models whose weights alone
    /// overflow the cache (the paper's) keep the batch whole: there batching
    /// shares the weight reads.
    public func clipsPerPass(batch: Int, cfg: Bool) -> Int {
        let c = model.config
        guard batch > 1, let llc = cacheBytes,
              let kv = c.kvCacheFloats(seqs: cfg ? 2 : 1).flatMap({ Checked.multiply($0, 4) }), kv > 0 else { return batch }
        let room = llc - model.weights.streamedBytes
        let fit = room / kv
        guard fit >= 1, fit < batch else { return batch }
        let passes = (batch + fit - 1) / fit
        return (batch + passes - 1) / passes  // near-equal passes
    }

    private func decodePass(actions: [Int], options: SamplingOptions, streams: [UInt64], prefix: [[Int32]]?,
                            progress: ((StepProgress) -> Void)?,
                            logitsHook: ((Int, Int, UnsafePointer<Float>) -> Void)?) throws -> [TokenCube] {
        let c = model.config, n = c.parallel, N = c.tokensPerClip, V = c.vocabSize
        let B = actions.count
        let plane = c.cube[1] * c.cube[2]
        var forced = [[Int32]](repeating: [], count: B)  // per clip, sequence order
        if let prefix {
            for (b, p) in prefix.enumerated() {
                guard p.count % plane == 0, p.count <= N else {
                    throw SamplingError("generate: a prefix of \(p.count) tokens is not whole latent frames of \(c.cube[1])x\(c.cube[2]) within the cube")
                }
                if let bad = p.first(where: { $0 < 0 || Int($0) >= V }) {
                    throw SamplingError("generate: prefix token \(bad) is outside the vocabulary [0, \(V))")
                }
                forced[b] = (0..<p.count).map { p[order.rasterOf[$0]] }
            }
        }
        let cfg = options.usesCFG
        let seqs = cfg ? 2 * B : B
        try InputLimits.checkMemory(c.decodeBytes(batch: B, cfg: cfg, threads: Parallel.threads), for: "decoding \(B) clip\(B == 1 ? "" : "s")")
        let cache = model.makeCache(seqs: seqs)
        let ws = Workspace(config: c, maxRows: seqs * n)
        let logits = FloatBuffer(B * n * V)  // guided logits only
        var seqTokens = [[Int32]](repeating: [Int32](repeating: 0, count: N), count: B)
        // One sampler scratch per thread (about 1 MB each at a 64000 vocabulary), not per row.
        let scratch = (0..<Parallel.threads).map { _ in SamplerScratch() }

        for step in 0..<steps {
            let plans = (0..<B).map { plan(step: step, classToken: actions[$0], seq: seqTokens[$0]) }
            let rows = plans[0].positions.count
            var inputs = plans.flatMap(\.inputs)
            if cfg {  // unconditional twins: same tokens, null class
                inputs += plans.flatMap { p in p.inputs.map { if case .classToken = $0 { .classToken(c.numClasses) } else { $0 } } }
            }
            model.forward(inputs, seqs: seqs, positions: plans[0].positions, cells: plans[0].cells, limits: plans[0].limits,
                          guidance: cfg ? options.cfgScale : nil, cache: cache, workspace: ws, logits: logits.ptr)
            // NaN or infinite weights surface here; drawing from such rows would give token 0 everywhere.
            if let bad = firstNonFinite(logits.ptr, count: B * rows * V) {
                throw SamplingError("the model's logits are not finite (\(bad) at step \(step + 1)): its weights hold NaN or infinite values")
            }
            logitsHook?(step, rows, logits.ptr)
            // Rows are independent and each draw is keyed by (clip seed, index).
            let predicts = plans[0].predicts
            var drawn = [Int32](repeating: 0, count: B * rows)
            drawn.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(B * rows) { r, worker in
                    let b = r / rows, j = r % rows
                    if predicts[j] < forced[b].count { out[r] = forced[b][predicts[j]]; return }
                    let u = uniform(stream: streams[b], index: UInt64(predicts[j]))
                    out[r] = sampleToken(logits.ptr + r * V, vocab: V, options: options, draw: u, scratch: scratch[worker])
                }
            }
            for b in 0..<B { for j in 0..<rows { seqTokens[b][predicts[j]] = drawn[b * rows + j] } }
            progress?(StepProgress(step: step + 1, steps: steps, tokensDone: predicts.last! + 1))
        }
        return seqTokens.map { TokenCube(T: c.cube[0], H: c.cube[1], W: c.cube[2], tokens: order.toRaster($0)) }
    }
}

/// The first NaN or infinity of `count` floats: one pass over a step's
/// logits, which the sampler reads next anyway.
func firstNonFinite(_ p: UnsafePointer<Float>, count: Int) -> Float? {
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        // x - x is 0 for finite x and NaN for NaN and infinities.
        let d = v - v
        if any(d .!= 0) { break }
        i += 8
    }
    while i < count {
        if !p[i].isFinite { return p[i] }
        i += 1
    }
    return nil
}
