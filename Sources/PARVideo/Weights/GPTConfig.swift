import Foundation

/// Sampling defaults a bundle may carry (docs/BUNDLE.md).
public struct SamplingDefaults: Codable, Sendable, Equatable {
    public var temperature: Float = 1.0
    public var cfgScale: Float = 1.15
    public var topK: Int = 8000
    public var topP: Float = 1.0

    enum CodingKeys: String, CodingKey {
        case temperature, cfgScale = "cfg_scale", topK = "top_k", topP = "top_p"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 1.0
        cfgScale = try c.decodeIfPresent(Float.self, forKey: .cfgScale) ?? 1.15
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? 8000
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? 1.0
    }
}

/// How rotary positions are assigned (docs/METHOD.md, "Rotary positions").
public enum RopeMode: String, Codable, Sendable {
    case twoD = "2d", threeD = "3d"
}

/// The config of one PAR/LlamaGen GPT, keyed as LlamaGen's `ModelArgs`.
public struct GPTConfig: Codable, Sendable, Equatable {
    /// Why `n` cannot be a GPT's tokens per step (a square: 1, 4, 16, ...), or nil.
    public static func parallelProblem(_ n: Int) -> String? {
        let side = n >= 1 ? Int(Double(n).squareRoot().rounded()) : 0
        return n >= 1 && side * side == n ? nil : "must be a square (1, 4, 16, ...)"
    }

    public var dim: Int
    public var nLayer: Int
    public var nHead: Int
    public var nKVHead: Int?
    public var vocabSize: Int
    public var numClasses: Int
    public var multipleOf: Int = 256
    public var ffnDimMultiplier: Double?
    public var normEps: Float = 1e-5
    public var ropeBase: Float = 10000
    /// [T, H, W] token cube.
    public var cube: [Int]
    /// n, tokens per step.
    public var parallel: Int
    public var rope: RopeMode
    public var sampling: SamplingDefaults = SamplingDefaults()
    public var actions: [String]?
    public var source: String?
    /// Image side of a class-to-image model (T = 1): its H x W tokens decode
    /// through a vq2d tokenizer to image_size x image_size pixels.
    public var imageSize: Int?

    /// A class-to-image GPT: one 1 x H x W token grid with 2d rotary positions.
    public var makesImages: Bool { rope == .twoD && cube[0] == 1 }

    enum CodingKeys: String, CodingKey {
        case dim, nLayer = "n_layer", nHead = "n_head", nKVHead = "n_kv_head"
        case vocabSize = "vocab_size", numClasses = "num_classes"
        case multipleOf = "multiple_of", ffnDimMultiplier = "ffn_dim_multiplier"
        case normEps = "norm_eps", ropeBase = "rope_base"
        case cube, parallel, rope, sampling, actions, source, imageSize = "image_size"
    }

    public init(dim: Int, nLayer: Int, nHead: Int, nKVHead: Int? = nil, vocabSize: Int, numClasses: Int,
                cube: [Int], parallel: Int, rope: RopeMode) {
        self.dim = dim; self.nLayer = nLayer; self.nHead = nHead; self.nKVHead = nKVHead
        self.vocabSize = vocabSize; self.numClasses = numClasses
        self.cube = cube; self.parallel = parallel; self.rope = rope
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dim = try c.decode(Int.self, forKey: .dim)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nKVHead = try c.decodeIfPresent(Int.self, forKey: .nKVHead)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        numClasses = try c.decode(Int.self, forKey: .numClasses)
        multipleOf = try c.decodeIfPresent(Int.self, forKey: .multipleOf) ?? 256
        ffnDimMultiplier = try c.decodeIfPresent(Double.self, forKey: .ffnDimMultiplier)
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? 1e-5
        ropeBase = try c.decodeIfPresent(Float.self, forKey: .ropeBase) ?? 10000
        cube = try c.decode([Int].self, forKey: .cube)
        parallel = try c.decode(Int.self, forKey: .parallel)
        rope = try c.decode(RopeMode.self, forKey: .rope)
        sampling = try c.decodeIfPresent(SamplingDefaults.self, forKey: .sampling) ?? SamplingDefaults()
        actions = try c.decodeIfPresent([String].self, forKey: .actions)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize)
    }

    public var kvHeads: Int { nKVHead ?? nHead }
    public var headDim: Int { dim / nHead }
    /// SwiGLU hidden size: find_multiple(int(2*4*dim/3 [* mult]), multiple_of).
    public var ffnHidden: Int {
        var h = Int(2.0 * Double(4 * dim) / 3.0)
        if let m = ffnDimMultiplier { h = Int(m * Double(h)) }
        return (h + multipleOf - 1) / multipleOf * multipleOf
    }
    public var tokensPerClip: Int { cube.reduce(1, *) }
    /// Decode steps: n + (N - n) / n (docs/METHOD.md, "Schedule").
    public var steps: Int { parallel + (tokensPerClip - parallel) / parallel }

    /// Limits on a config's sizes: far above any PAR model (the paper's is
    /// dim 1280, 36 layers, 64000 tokens, 5x16x16), low enough that every
    /// product of them fits an Int.
    public enum Limits {
        public static let dim = 65_536, layers = 4_096, vocab = 1 << 24, classes = 1 << 24
        public static let cubeSide = 4_096, tokensPerClip = 1 << 24, multipleOf = 65_536
        public static let ffnMultiplier = 64.0
    }

    /// Sizes that make the schedule and the rotary table well defined, sampling
    /// values that mean something, and a decode of one clip that fits in memory.
    public func validate() throws {
        func bad(_ m: String) -> WeightsError { WeightsError("model config: \(m)") }
        guard dim > 0, nLayer > 0, nHead > 0, vocabSize > 0, numClasses > 0 else { throw bad("sizes must be positive") }
        guard dim <= Limits.dim, nLayer <= Limits.layers, vocabSize <= Limits.vocab, numClasses <= Limits.classes else {
            throw bad("sizes beyond the limits (dim <= \(Limits.dim), n_layer <= \(Limits.layers), vocab_size <= \(Limits.vocab), num_classes <= \(Limits.classes))")
        }
        if let k = nKVHead { guard k > 0 else { throw bad("n_kv_head must be positive, got \(k)") } }
        guard multipleOf > 0, multipleOf <= Limits.multipleOf else { throw bad("multiple_of must be in 1...\(Limits.multipleOf), got \(multipleOf)") }
        if let m = ffnDimMultiplier {
            guard m.isFinite, m > 0, m <= Limits.ffnMultiplier else { throw bad("ffn_dim_multiplier must be in (0, \(Int(Limits.ffnMultiplier))], got \(m)") }
            guard ffnHidden > 0 else { throw bad("ffn_dim_multiplier \(m) leaves no hidden units") }
        }
        guard normEps.isFinite, normEps > 0 else { throw bad("norm_eps must be finite and > 0, got \(normEps)") }
        guard ropeBase.isFinite, ropeBase > 0 else { throw bad("rope_base must be finite and > 0, got \(ropeBase)") }
        guard nHead <= dim, dim % nHead == 0, headDim % 2 == 0 else { throw bad("dim \(dim) must split into \(nHead) heads of even size") }
        guard kvHeads <= nHead, nHead % kvHeads == 0 else { throw bad("n_head \(nHead) is not a multiple of n_kv_head \(kvHeads)") }
        guard cube.count == 3, cube.allSatisfy({ $0 > 0 && $0 <= Limits.cubeSide }) else {
            throw bad("cube must be [T, H, W] with sides in 1...\(Limits.cubeSide), got \(cube)")
        }
        guard let n = Checked.product(cube), n <= Limits.tokensPerClip else {
            throw bad("cube \(cube) holds more than \(Limits.tokensPerClip) tokens")
        }
        guard parallel >= 1, parallel <= n else { throw bad("parallel \(parallel) must be in 1...\(n), the tokens of cube \(cube)") }
        let s = Int(Double(parallel).squareRoot().rounded())
        guard s * s == parallel else { throw bad("parallel \(parallel) is not a square") }
        guard cube[1] % s == 0, cube[2] % s == 0 else { throw bad("parallel \(parallel): H and W (\(cube[1])x\(cube[2])) must divide by \(s)") }
        guard tokensPerClip >= 2 * parallel || parallel == 1 else { throw bad("cube \(cube) is too small for parallel \(parallel)") }
        if rope == .twoD { guard cube[0] == 1 else { throw bad("rope 2d needs T = 1, cube is \(cube)") } }
        if rope == .threeD { guard headDim >= 8 else { throw bad("rope 3d needs head_dim >= 8") } }
        if let size = imageSize {
            guard cube[0] == 1, cube[1] == cube[2], (1...VQConfig.Limits.imageSize).contains(size), size % cube[1] == 0 else {
                throw bad("image_size \(size) must be a multiple of H = W in 1...\(VQConfig.Limits.imageSize) for a 1 x H x W cube, cube is \(cube)")
            }
        }
        if let a = actions { guard a.count == numClasses else { throw bad("\(a.count) action names for \(numClasses) classes") } }
        do { try SamplingOptions(sampling).validate() } catch let e as SamplingError { throw bad("sampling: \(e.description)") }
        try InputLimits.checkMemory(decodeBytes(batch: 1, cfg: sampling.cfgScale != 1, threads: 1), for: "model config: decoding one clip")
    }

    /// Bytes a decode of `batch` clips allocates besides the (mapped) weights:
    /// KV cache, workspace, logits, token arrays, the PAR order and the
    /// samplers' scratch; nil when the count overflows. Call on a valid config.
    /// Floats of the KV cache of `seqs` sequences: keys and values of every
    /// layer at every position a clip's decode reaches.
    public func kvCacheFloats(seqs: Int) -> Int? {
        Checked.multiply(seqs, (tokensPerClip + parallel) * kvHeads * headDim).flatMap { Checked.multiply($0, nLayer * 2) }
    }

    public func decodeBytes(batch: Int, cfg: Bool, threads: Int) -> Int? {
        let n = parallel, N = tokensPerClip, maxLen = N + n, kvDim = kvHeads * headDim
        guard let seqs = Checked.multiply(batch, cfg ? 2 : 1), let rows = Checked.multiply(seqs, n) else { return nil }
        let m = Checked.multiply
        let cache = kvCacheFloats(seqs: seqs)
        let rowFloats = 4 * dim + 2 * kvDim + 2 * ffnHidden + headDim
        let workspace = Checked.sum([m(rows, rowFloats), m(max(8, threads), n * maxLen)])
        let logits = m(batch, n * vocabSize)
        let tokens = m(batch, 2 * N)
        let floats = Checked.sum([cache, workspace, logits, tokens, 5 * N, m(threads, 4 * vocabSize)])
        return floats.flatMap { m($0, 4) }
    }
}
