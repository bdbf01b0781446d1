import Foundation

/// The class-to-image configs of `par-video bench`: the published PAR and
/// LlamaGen ImageNet layouts (24 x 24 tokens, vocabulary 16384, 1000 classes,
/// 2d rotary, decoded by VQ-16 to 384 x 384), on random weights made in memory.
extension DecodeBenchmark.Preset {
    /// The GPT of an image preset: GPT_XL, GPT_XXL and GPT_3B of the official
    /// code; image-tiny is a quick stand-in for tests.
    var imageConfig: GPTConfig? {
        func c2i(_ dim: Int, _ layers: Int, _ heads: Int, vocab: Int = 16384, side: Int = 24) -> GPTConfig {
            var c = GPTConfig(dim: dim, nLayer: layers, nHead: heads, vocabSize: vocab, numClasses: 1000, cube: [1, side, side], parallel: 16, rope: .twoD)
            c.imageSize = side * (vq?.upsample ?? 16)
            return c
        }
        switch self {
        case .parXL: return c2i(1280, 36, 20)
        case .parXXL: return c2i(1536, 48, 24)
        case .par3B: return c2i(3200, 24, 32)
        case .imageTiny: return c2i(64, 2, 4, vocab: 64, side: 8)
        case .paper, .small: return nil
        }
    }

    /// The image tokenizer: LlamaGen's vq_ds16_c2i layout, or a small one for image-tiny.
    public var vq: VQConfig? {
        switch self {
        case .parXL, .parXXL, .par3B: return .vq16
        case .imageTiny:
            return VQConfig(codebookSize: 64, codebookEmbedDim: 8, codebookL2Norm: true, zChannels: 32, channels: 32,
                            encoderChMult: [1, 2], decoderChMult: [1, 2], numResBlocks: 1, inChannels: 3, normGroups: 32,
                            normEps: 1e-6, imageSize: 16)
        case .paper, .small: return nil
        }
    }

    /// The benchmark's sampling: the paper's per model (CFG 1.50 XL, 1.435 XXL,
    /// 1.345 3B with top-k 0 for images; CFG 1.15, top-k 8000 for UCF-101).
    public var cfgScale: Float {
        switch self {
        case .parXL, .imageTiny: return 1.5
        case .parXXL: return 1.435
        case .par3B: return 1.345
        case .paper, .small: return 1.15
        }
    }

    public var topK: Int { vq == nil ? 8000 : 0 }
    /// Images per batch to run by default: one (with its unconditional twin under CFG), as a user renders.
    public var batches: [Int] { vq == nil ? [1, 8] : [1] }
}

extension DecodeBenchmark {
    /// Bytes of the random weights GPTWeights(randomFor:) allocates for `c`; nil on overflow.
    static func randomWeightBytes(_ c: GPTConfig, dtype: DType) -> Int? {
        let m = Checked.multiply
        let qkv = Checked.product([c.nHead + 2 * c.kvHeads, c.headDim, c.dim])
        let block = Checked.sum([qkv, m(c.dim, c.dim), Checked.product([3, c.ffnHidden, c.dim])])
        let params = Checked.sum([Checked.product([2, c.vocabSize, c.dim]), Checked.product([c.numClasses + 1, c.dim]),
                                  m(max(c.parallel - 1, 0), c.dim), block.flatMap { m($0, c.nLayer) }])
        return params.flatMap { m($0, dtype.byteSize) }
    }

    /// Seconds of one VQ decode of `cube` and its sgemm bound (decoder FLOPs /
    /// the higher conv-shaped sgemm rate, OpenBLAS or the AVX-512 kernel,
    /// measured just after it), wall-clock.
    static func timeDecode(_ vq: VQImageTokenizer, _ cube: TokenCube) throws -> (seconds: Double, bound: Double) {
        let t0 = Date()
        let pixels = try vq.decode(indices: cube.tokens, h: cube.H, w: cube.W)
        let seconds = Date().timeIntervalSince(t0)
        let side = vq.config.upsample
        precondition(pixels.count == cube.H * side * cube.W * side * vq.config.inChannels)
        let rate = max(TokenizerBenchmark.sgemmRate(seconds: 1), TokenizerBenchmark.kernelRate(seconds: 1)) * 1e9
        return (seconds, vq.config.decoderFLOPs(h: cube.H, w: cube.W) / rate)
    }
}
