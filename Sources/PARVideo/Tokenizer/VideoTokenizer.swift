import Foundation

/// The MAGVIT-v2 (FSQ) causal 3D video tokenizer in NBP's layout, configured by
/// its bundle: token cubes -> frames in [0, 1] and frames -> token cubes.
/// Layout: frames are F x h x w x 3 (channels last), cubes T x H x W in
/// (t, y, x) raster order. Not reentrant: decoding keeps per-layer causal state.
public final class VideoTokenizer {
    public let config: TokenizerConfig
    public let fsq: FSQ
    private let decoderLayers: [TokenizerLayer]
    private let encoderLayers: [TokenizerLayer]

    /// Latent frames per decoder chunk: each chunk runs through the whole
    /// decoder, carrying the causal context, so memory does not grow with T.
    public var chunkFrames = 1

    /// `decoderOnly` skips loading the encoder (decoding needs only the decoder).
    /// `float32Only` computes BF16-stored kernels in fp32 too (exact reference runs);
    /// otherwise they run with bf16 activations and fp32 accumulation where the
    /// CPU has AVX512_BF16, as PyTorch's bf16 autocast does.
    public init(config: TokenizerConfig, weights: TokenizerWeights, path: String = "weights",
                decoderOnly: Bool = false, float32Only: Bool = false) throws {
        try config.validate()
        self.config = config
        fsq = try FSQ(levels: config.fsqLevels)
        var builder = LayerBuilder(config: config, weights: weights)
        builder.allowBF16 = !float32Only
        do {
            decoderLayers = try builder.decoder()
            encoderLayers = decoderOnly ? [] : try builder.encoder()
        } catch let e as WeightsError {
            throw TokenizerError(e.description)
        }
        let extra = weights.tensorNames.filter { !builder.used.contains($0) && !(decoderOnly && $0.hasPrefix("encoder_layers.")) }.sorted()
        if let first = extra.first {
            throw TokenizerError("\(path): tensor '\(first)' is not part of the configured tokenizer"
                                 + (extra.count > 1 ? " (and \(extra.count - 1) more)" : ""))
        }
    }

    /// Opens a tokenizer bundle (safetensors with `par_video` kind "tokenizer").
    public convenience init(file: SafeTensorsFile, decoderOnly: Bool = false, float32Only: Bool = false) throws {
        let config = try TokenizerConfig.fromMetadata(file.metadata, path: file.path)
        try self.init(config: config, weights: file, path: file.path, decoderOnly: decoderOnly, float32Only: float32Only)
    }

    public convenience init(path: String, decoderOnly: Bool = false, float32Only: Bool = false) throws {
        try self.init(file: try SafeTensorsFile(path: path), decoderOnly: decoderOnly, float32Only: float32Only)
    }

    /// Whether BF16 kernels run on the AVX512_BF16 path on this CPU.
    public static var hasBF16Kernels: Bool { CausalConv3D.hasBF16 }

    // MARK: decode

    /// Token cube (T*H*W indices) -> frames F' x h' x w' x 3 in [0, 1].
    public func decode(cube: [Int32], t: Int, h: Int, w: Int) throws -> [Float] {
        var out = try decodeUnclamped(cube: cube, t: t, h: h, w: w)
        for i in out.indices { out[i] = min(max(out[i], 0), 1) }
        return out
    }

    /// The decoder output before clamping (for comparisons with references).
    public func decodeUnclamped(cube: [Int32], t: Int, h: Int, w: Int) throws -> [Float] {
        guard t >= 1, h >= 1, w >= 1 else { throw TokenizerError("token cube \(t)x\(h)x\(w) is empty") }
        guard cube.count == Checked.product([t, h, w]) else {
            throw TokenizerError("token cube has \(cube.count) values, expected \(t)x\(h)x\(w)")
        }
        // Frames beyond 4096x4096 could not be written; the check also keeps the sizes below in range.
        guard let out = config.checkedOutputShape(t: t, h: h, w: w), out.height <= TokenizerConfig.Limits.size,
              out.width <= TokenizerConfig.Limits.size else {
            throw TokenizerError("a \(t)x\(h)x\(w) token cube decodes to frames larger than \(TokenizerConfig.Limits.size)x\(TokenizerConfig.Limits.size)")
        }
        do { try InputLimits.checkMemory(config.decodeBytes(t: t, h: h, w: w), for: "decoding a \(t)x\(h)x\(w) token cube") } catch let e as WeightsError {
            throw TokenizerError(e.description)
        }
        let vocab = fsq.vocabularySize
        if let bad = cube.firstIndex(where: { $0 < 0 || Int($0) >= vocab }) {
            throw TokenizerError("token \(cube[bad]) at position \(bad) is outside the vocabulary [0, \(vocab))")
        }
        let d = config.embedDim
        let (F, oh, ow) = config.outputShape(t: t, h: h, w: w)
        var result = [Float](repeating: 0, count: F * oh * ow * config.inChannels)
        decoderLayers.forEach { $0.reset() }
        defer { decoderLayers.forEach { $0.reset() } }
        var written = 0
        var t0 = 0
        while t0 < t {
            let n = min(max(1, chunkFrames), t - t0)
            var x = Activation(frames: n, height: h, width: w, channels: d)
            for i in 0..<(n * h * w) { fsq.codes(Int(cube[t0 * h * w + i]), into: x.data + i * d) }
            for layer in decoderLayers { x = layer.run(x, streaming: true) }
            result.withUnsafeMutableBufferPointer { r in
                _ = memcpy(r.baseAddress! + written, x.data, x.count * 4)
            }
            written += x.count
            t0 += n
        }
        precondition(written == result.count, "decoder produced \(written) values, expected \(result.count)")
        // NaN or infinite weights would otherwise clamp to a black (or white) clip without a word.
        if let bad = result.withUnsafeBufferPointer({ firstNonFinite($0.baseAddress!, count: $0.count) }) {
            throw TokenizerError("the tokenizer's output is not finite (\(bad)): its weights hold NaN or infinite values")
        }
        return result
    }

    // MARK: encode

    /// Frames (F x h x w x 3 in [0, 1]) -> pre-quantization latents T x H x W x d.
    public func encodeLatents(frames: [Float], count: Int, height: Int, width: Int) throws -> [Float] {
        let c = config.inChannels
        guard count >= 1, height >= 1, width >= 1, frames.count == count * height * width * c else {
            throw TokenizerError("clip has \(frames.count) values, expected \(count)x\(height)x\(width)x\(c)")
        }
        guard !encoderLayers.isEmpty else { throw TokenizerError("this tokenizer was loaded without its encoder") }
        let tf = config.timeFactor, sf = config.spaceFactor
        guard (count - 1) % tf == 0 else {
            throw TokenizerError("a clip of \(count) frames cannot be encoded: need 1 + \(tf)k frames (e.g. \(1 + tf * max(1, (count - 1) / tf)))")
        }
        guard height % sf == 0, width % sf == 0 else {
            throw TokenizerError("frame size \(width)x\(height) is not a multiple of \(sf)")
        }
        var x = Activation(frames: count, height: height, width: width, channels: c)
        frames.withUnsafeBufferPointer { _ = memcpy(x.data, $0.baseAddress!, frames.count * 4) }
        encoderLayers.forEach { $0.reset() }
        for layer in encoderLayers { x = layer.run(x, streaming: false) }
        return Array(UnsafeBufferPointer(start: x.data, count: x.count))
    }

    /// Frames -> token cube T*H*W (indices in (t, y, x) order).
    public func encode(frames: [Float], count: Int, height: Int, width: Int) throws -> [Int32] {
        let z = try encodeLatents(frames: frames, count: count, height: height, width: width)
        // The quantizer rounds to an Int, which a NaN cannot become.
        if let bad = z.withUnsafeBufferPointer({ firstNonFinite($0.baseAddress!, count: $0.count) }) {
            throw TokenizerError("the tokenizer's latents are not finite (\(bad)): its weights hold NaN or infinite values")
        }
        let d = config.embedDim
        return z.withUnsafeBufferPointer { zp in
            (0..<(z.count / d)).map { Int32(fsq.quantize(zp.baseAddress! + $0 * d)) }
        }
    }
}
