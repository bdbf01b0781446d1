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

/// The official PAR code's figures at an image config, as
/// tools/bench/bench_par_official.py writes them (--json-out), for `bench --peer`.
public struct PeerFigures: Decodable, Sendable {
    public struct Row: Decodable, Sendable {
        public let parallel: Int, mode: String
        public let tokensSeconds: Double, decodeSeconds: Double, secondsPerImage: Double
    }
    public let size: String
    public let peer: String?
    public let rows: [Row]

    /// The file at `path` (at most 1 MB), for `preset` at `dtype`: a peer of another size, or without a row
    /// of that precision, is refused before any work.
    public static func read(_ path: String, preset: DecodeBenchmark.Preset, dtype: DType) throws -> PeerFigures {
        func fail(_ s: String) -> WeightsError { WeightsError("--peer \(path): \(s)") }
        guard let size = preset.officialSize else { throw fail("a peer is for the image configs (par-xl, par-xxl, par-3b)") }
        let data: Data
        do { data = try InputFile.read(path, limit: 1 << 20) } catch let e as InputFileError { throw fail(e.description) }
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        let figures: PeerFigures
        do { figures = try d.decode(PeerFigures.self, from: data) } catch {
            throw fail("not the JSON of tools/bench/bench_par_official.py --json-out (\(type(of: error)))")
        }
        guard figures.size == size else { throw fail("figures of size \(figures.size), this config is \(size)") }
        let mode = dtype == .f32 ? "fp32" : dtype == .bf16 ? "bf16" : "none"
        guard figures.rows.contains(where: { $0.mode == mode }) else { throw fail("no \(mode) rows for --dtype \(dtype.rawValue.lowercased())") }
        for r in figures.rows where !(r.tokensSeconds.isFinite && r.tokensSeconds > 0 && r.decodeSeconds.isFinite && r.decodeSeconds >= 0) {
            throw fail("n = \(r.parallel) \(r.mode): seconds must be finite and positive")
        }
        return figures
    }

    /// par-video's rows beside the peer's of the same n and precision: seconds per image and the speed-up.
    public func comparison(_ rows: [DecodeBenchmark.Row], dtype: DType, emit: (String) -> Void = { print($0) }) {
        let mode = dtype == .f32 ? "fp32" : "bf16"
        emit("")
        emit("# beside \(peer ?? "the official code") (\(mode)), batch 1 with CFG; s/image = tokens + decode")
        emit("| n | official tokens s | official decode s | official s/image | par-video s/image | speed-up (tokens) | speed-up (image) |")
        emit("|---|---|---|---|---|---|---|")
        for r in rows where r.batch == 1 {
            guard let p = self.rows.first(where: { $0.parallel == r.parallel && $0.mode == mode }) else { continue }
            let mine = r.seconds + (r.decodeSeconds ?? 0)
            emit(String(format: "| %d | %.2f | %.2f | %.2f | %.2f | %.1fx | %.1fx |", r.parallel, p.tokensSeconds, p.decodeSeconds,
                        p.secondsPerImage, mine, p.tokensSeconds / max(r.seconds, 1e-9), p.secondsPerImage / max(mine, 1e-9)))
        }
    }
}

extension DecodeBenchmark.Preset {
    /// The official code's name of the size (bench_par_official.py --size).
    public var officialSize: String? {
        switch self {
        case .parXL: return "XL"
        case .parXXL: return "XXL"
        case .par3B: return "3B"
        case .imageTiny: return "tiny"
        case .paper, .small: return nil
        }
    }
}
