import Foundation

/// One step of the VQ encoder or decoder, built.
enum VQLayer {
    case conv(Conv2D)
    case res(VQResnetBlock)
    case attn(VQAttnBlock)
    case norm(VQGroupNorm)
    case up(Conv2D)

    func run(_ x: Activation) -> Activation {
        switch self {
        case .conv(let c): return c(x)
        case .res(let r): return r(x)
        case .attn(let a): return a(x)
        case .norm(let n): return n(x)
        case .up(let c): return c(upsampleNearest2x(x))
        }
    }
}

/// Builds the layers of a plan from tensors named as in LlamaGen's state dict.
struct VQBuilder {
    let config: VQConfig
    let weights: TokenizerWeights
    let allowBF16: Bool
    var used = Set<String>()

    mutating func get(_ name: String, _ shape: [Int]) throws -> [Float] {
        used.insert(name)
        return try weights.tensor(name, shape: shape)
    }

    mutating func conv(_ p: String, _ cin: Int, _ cout: Int, k: Int, stride: Int = 1, pad: (Int, Int, Int, Int)? = nil) throws -> Conv2D {
        Conv2D(cin: cin, cout: cout, k: k, stride: stride, pad: pad, w: try get(p + ".weight", [cout, cin, k, k]),
               bias: try get(p + ".bias", [cout]), bf16: allowBF16 && weights.storedDType(p + ".weight") == .bf16)
    }

    mutating func norm(_ p: String, _ c: Int, swish: Bool) throws -> VQGroupNorm {
        VQGroupNorm(channels: c, groups: config.normGroups, eps: config.normEps,
                    gamma: try get(p + ".weight", [c]), shift: try get(p + ".bias", [c]), swish: swish)
    }

    mutating func layers(_ plan: [VQStep]) throws -> [VQLayer] {
        try plan.map { s in
            let p = s.prefix
            switch s.kind {
            case .conv1: return .conv(try conv(p, s.cin, s.cout, k: 1))
            case .conv3: return .conv(try conv(p, s.cin, s.cout, k: 3))
            case .up: return .up(try conv(p, s.cin, s.cout, k: 3))
            // Downsample pads right and bottom by one, then a stride-2 valid conv.
            case .down: return .conv(try conv(p, s.cin, s.cout, k: 3, stride: 2, pad: (0, 0, 1, 1)))
            case .normSwish: return .norm(try norm(p, s.cin, swish: true))
            case .res:
                return .res(VQResnetBlock(
                    norm1: try norm(p + "norm1", s.cin, swish: true), conv1: try conv(p + "conv1", s.cin, s.cout, k: 3),
                    norm2: try norm(p + "norm2", s.cout, swish: true), conv2: try conv(p + "conv2", s.cout, s.cout, k: 3),
                    shortcut: s.cin == s.cout ? nil : try conv(p + "nin_shortcut", s.cin, s.cout, k: 1)))
            case .attn:
                return .attn(VQAttnBlock(norm: try norm(p + "norm", s.cin, swish: false), q: try conv(p + "q", s.cin, s.cin, k: 1),
                                         k: try conv(p + "k", s.cin, s.cin, k: 1), v: try conv(p + "v", s.cin, s.cin, k: 1),
                                         proj: try conv(p + "proj_out", s.cin, s.cin, k: 1)))
            }
        }
    }
}

/// LlamaGen's VQ image tokenizer (`VQ-16` of vq_ds16_c2i.pt), configured by a
/// "vq2d" bundle: code index grids -> RGB images and back. Images are
/// H x W x 3, channels last, values in [0, 1]; grids h x w in raster order.
public final class VQImageTokenizer {
    public let config: VQConfig
    /// The codebook as the quantizer uses it (rows l2-normalised when the config says so).
    let codebook: [Float]
    private let decoder: [VQLayer]
    private let encoder: [VQLayer]

    /// `float32Only` computes BF16-stored kernels in fp32 (exact reference
    /// runs); otherwise they run on the bf16 kernels where the CPU has them.
    public init(config: VQConfig, weights: TokenizerWeights, path: String = "weights",
                decoderOnly: Bool = false, float32Only: Bool = false) throws {
        try config.validate()
        self.config = config
        var b = VQBuilder(config: config, weights: weights, allowBF16: !float32Only)
        let (n, e) = (config.codebookSize, config.codebookEmbedDim)
        var rows = try b.get("quantize.embedding.weight", [n, e])
        if config.codebookL2Norm {
            for r in 0..<n {
                var s: Float = 0
                for i in 0..<e { s += rows[r * e + i] * rows[r * e + i] }
                let inv = 1 / max(s.squareRoot(), 1e-12)     // F.normalize's eps
                for i in 0..<e { rows[r * e + i] *= inv }
            }
        }
        codebook = rows
        decoder = try b.layers(config.decoderPlan)
        encoder = decoderOnly ? [] : try b.layers(config.encoderPlan)
        let skipped: (String) -> Bool = { decoderOnly && ($0.hasPrefix("encoder.") || $0.hasPrefix("quant_conv.")) }
        let extra = weights.tensorNames.filter { !b.used.contains($0) && !skipped($0) }.sorted()
        if let first = extra.first {
            throw WeightsError("\(path): tensor '\(first)' is not part of the configured vq2d tokenizer"
                               + (extra.count > 1 ? " (and \(extra.count - 1) more)" : ""))
        }
    }

    /// Opens a "vq2d" bundle file through the one bundle check (BundleConfig.read).
    public convenience init(file: SafeTensorsFile, decoderOnly: Bool = false, float32Only: Bool = false) throws {
        guard case .vq2d(let config) = try BundleConfig.read(file.metadata, path: file.path) else {
            throw WeightsError("\(file.path): not a vq2d tokenizer bundle")
        }
        try config.checkTensors(file)
        try self.init(config: config, weights: file, path: file.path, decoderOnly: decoderOnly, float32Only: float32Only)
    }

    // MARK: decode

    /// The decoder output of an h x w index grid, (h * up) x (w * up) x 3 in
    /// about [-1, 1], before clamping (for comparisons with references).
    public func decodeUnclamped(indices: [Int32], h: Int, w: Int) throws -> [Float] {
        guard h >= 1, w >= 1, indices.count == Checked.multiply(h, w) else {
            throw WeightsError("code grid has \(indices.count) values, expected \(h)x\(w)")
        }
        let up = config.upsample
        guard let oh = Checked.multiply(h, up), let ow = Checked.multiply(w, up),
              oh <= VQConfig.Limits.imageSize, ow <= VQConfig.Limits.imageSize else {
            throw WeightsError("a \(h)x\(w) code grid decodes to an image larger than \(VQConfig.Limits.imageSize)x\(VQConfig.Limits.imageSize)")
        }
        try InputLimits.checkMemory(config.decodeBytes(h: h, w: w), for: "decoding a \(h)x\(w) code grid")
        if let bad = indices.firstIndex(where: { $0 < 0 || Int($0) >= config.codebookSize }) {
            throw WeightsError("code \(indices[bad]) at position \(bad) is outside the codebook [0, \(config.codebookSize))")
        }
        let e = config.codebookEmbedDim
        var x = Activation(frames: 1, height: h, width: w, channels: e)
        codebook.withUnsafeBufferPointer { cb in
            for (i, code) in indices.enumerated() { memcpy(x.data + i * e, cb.baseAddress! + Int(code) * e, e * 4) }
        }
        for layer in decoder { x = layer.run(x) }
        let out = Array(UnsafeBufferPointer(start: x.data, count: x.count))
        if let bad = out.withUnsafeBufferPointer({ firstNonFinite($0.baseAddress!, count: $0.count) }) {
            throw WeightsError("the vq2d tokenizer's output is not finite (\(bad)): its weights hold NaN or infinite values")
        }
        return out
    }

    /// An h x w index grid -> image in [0, 1]: (x + 1) / 2, clamped.
    public func decode(indices: [Int32], h: Int, w: Int) throws -> [Float] {
        try decodeUnclamped(indices: indices, h: h, w: w).map { min(max(($0 + 1) * 0.5, 0), 1) }
    }

    // MARK: encode

    /// Image H x W x 3 in [0, 1] -> quant_conv latents (H / down) x (W / down) x e.
    public func encodeLatents(image: [Float], height: Int, width: Int) throws -> [Float] {
        let c = config.inChannels, f = config.downsample
        guard height >= 1, width >= 1, image.count == Checked.product([height, width, c]) else {
            throw WeightsError("image has \(image.count) values, expected \(height)x\(width)x\(c)")
        }
        guard !encoder.isEmpty else { throw WeightsError("this vq2d tokenizer was loaded without its encoder") }
        guard height % f == 0, width % f == 0 else { throw WeightsError("image size \(width)x\(height) is not a multiple of \(f)") }
        try InputLimits.checkMemory(config.decodeBytes(h: height / f, w: width / f), for: "encoding a \(width)x\(height) image")
        var x = Activation(frames: 1, height: height, width: width, channels: c)
        for i in 0..<image.count { x.data[i] = image[i] * 2 - 1 }
        for layer in encoder { x = layer.run(x) }
        return Array(UnsafeBufferPointer(start: x.data, count: x.count))
    }

    /// Image -> index grid: the codebook row nearest the (l2-normalised) latent.
    public func encode(image: [Float], height: Int, width: Int) throws -> [Int32] {
        let z = try encodeLatents(image: image, height: height, width: width)
        if let bad = z.withUnsafeBufferPointer({ firstNonFinite($0.baseAddress!, count: $0.count) }) {
            throw WeightsError("the vq2d tokenizer's latents are not finite (\(bad)): its weights hold NaN or infinite values")
        }
        return quantize(z)
    }

    /// Nearest rows by |z|^2 + |e|^2 - 2 z.e as the official quantizer (|z|^2 is
    /// the same for every row, so it is left out); the lowest index wins a tie.
    func quantize(_ z: [Float]) -> [Int32] {
        let e = config.codebookEmbedDim, n = config.codebookSize, count = z.count / e
        var norms = [Float](repeating: 0, count: n)
        for r in 0..<n { for i in 0..<e { norms[r] += codebook[r * e + i] * codebook[r * e + i] } }
        var out = [Int32](repeating: 0, count: count)
        let l2 = config.codebookL2Norm
        codebook.withUnsafeBufferPointer { cb in
            out.withUnsafeMutableBufferPointer { res in
                let res = res
                parallelFor(count) { range in
                    var q = [Float](repeating: 0, count: e)
                    for p in range {
                        var s: Float = 0
                        for i in 0..<e { q[i] = z[p * e + i]; s += q[i] * q[i] }
                        if l2 { let inv = 1 / max(s.squareRoot(), 1e-12); for i in 0..<e { q[i] *= inv } }
                        var best = 0, bestD = Float.infinity
                        for r in 0..<n {
                            var dot: Float = 0
                            for i in 0..<e { dot += q[i] * cb[r * e + i] }
                            let d = norms[r] - 2 * dot
                            if d < bestD { bestD = d; best = r }
                        }
                        res[p] = Int32(best)
                    }
                }
            }
        }
        return out
    }
}
