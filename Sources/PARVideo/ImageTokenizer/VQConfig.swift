import Foundation

/// The `config` of a "vq2d" bundle: LlamaGen's VQ image tokenizer (`VQ-16`,
/// `VQ-8`), keyed as its `ModelArgs` / constructor arguments (docs/BUNDLE.md).
public struct VQConfig: Codable, Equatable, Sendable {
    public var codebookSize: Int
    public var codebookEmbedDim: Int
    public var codebookL2Norm: Bool
    public var zChannels: Int
    /// Base width `ch`; level i has ch * mult[i] channels.
    public var channels: Int
    public var encoderChMult: [Int]
    public var decoderChMult: [Int]
    public var numResBlocks: Int
    public var inChannels: Int
    public var normGroups: Int
    public var normEps: Float
    /// The image side the tokenizer's GPTs were trained for (384 or 256).
    public var imageSize: Int
    public var source: String?

    /// vq_ds16_c2i.pt.
    public static let vq16 = VQConfig(codebookSize: 16384, codebookEmbedDim: 8, codebookL2Norm: true, zChannels: 256,
                                      channels: 128, encoderChMult: [1, 1, 2, 2, 4], decoderChMult: [1, 1, 2, 2, 4],
                                      numResBlocks: 2, inChannels: 3, normGroups: 32, normEps: 1e-6, imageSize: 384)

    enum CodingKeys: String, CodingKey {
        case codebookSize = "codebook_size", codebookEmbedDim = "codebook_embed_dim", codebookL2Norm = "codebook_l2_norm"
        case zChannels = "z_channels", channels, encoderChMult = "encoder_ch_mult", decoderChMult = "decoder_ch_mult"
        case numResBlocks = "num_res_blocks", inChannels = "in_channels", normGroups = "norm_groups", normEps = "norm_eps"
        case imageSize = "image_size", source
    }

    /// Limits on a config's sizes: far above LlamaGen's (128-512 channels,
    /// 5 levels, 16384 codes of 8), low enough that every product fits an Int.
    public enum Limits {
        public static let channels = 65_536, levels = 8, resBlocks = 64, inChannels = 16
        public static let codebookSize = 1 << 24, embedDim = 4_096, imageSize = 4_096
    }

    /// Image pixels per latent side: 2^(levels - 1).
    public var downsample: Int { 1 << (encoderChMult.count - 1) }
    public var upsample: Int { 1 << (decoderChMult.count - 1) }
    public var latentSide: Int { imageSize / downsample }

    /// The one check of a vq2d config, shared by every command (`inspect` included).
    public func validate() throws {
        func fail(_ s: String) -> WeightsError { WeightsError("vq2d config: \(s)") }
        guard (1...Limits.codebookSize).contains(codebookSize) else { throw fail("codebook_size must be in 1...\(Limits.codebookSize), got \(codebookSize)") }
        guard (1...Limits.embedDim).contains(codebookEmbedDim) else { throw fail("codebook_embed_dim must be in 1...\(Limits.embedDim), got \(codebookEmbedDim)") }
        guard (1...Limits.channels).contains(zChannels) else { throw fail("z_channels must be in 1...\(Limits.channels), got \(zChannels)") }
        guard (1...Limits.inChannels).contains(inChannels) else { throw fail("in_channels must be in 1...\(Limits.inChannels), got \(inChannels)") }
        guard (0...Limits.resBlocks).contains(numResBlocks) else { throw fail("num_res_blocks must be in 0...\(Limits.resBlocks), got \(numResBlocks)") }
        guard normGroups > 0, normGroups <= Limits.channels else { throw fail("norm_groups must be in 1...\(Limits.channels), got \(normGroups)") }
        guard normEps.isFinite, normEps > 0 else { throw fail("norm_eps must be finite and > 0, got \(normEps)") }
        for (name, mult) in [("encoder_ch_mult", encoderChMult), ("decoder_ch_mult", decoderChMult)] {
            guard (1...Limits.levels).contains(mult.count) else { throw fail("\(name) needs 1...\(Limits.levels) levels, got \(mult.count)") }
            for m in mult {
                guard m >= 1, let c = Checked.multiply(channels, m), (1...Limits.channels).contains(c), c % normGroups == 0 else {
                    throw fail("\(name) \(mult) times channels \(channels) must give 1...\(Limits.channels) channels divisible by \(normGroups) groups")
                }
            }
        }
        guard channels >= 1, channels % normGroups == 0 else { throw fail("channels \(channels) must be positive and divisible by \(normGroups) groups") }
        guard (1...Limits.imageSize).contains(imageSize), imageSize % downsample == 0, imageSize % upsample == 0 else {
            throw fail("image_size must be a multiple of \(max(downsample, upsample)) in 1...\(Limits.imageSize), got \(imageSize)")
        }
        try InputLimits.checkMemory(Checked.sum([decodeBytes(h: latentSide, w: latentSide), codebookBytes]),
                                    for: "vq2d config: a \(imageSize)x\(imageSize) image")
    }

    var codebookBytes: Int? { Checked.product([codebookSize, codebookEmbedDim, 4]) }

    /// Bytes one decode (or encode) of an h x w latent grid allocates: a few
    /// activations of the largest level, the attention scores of the widest
    /// level, the output; nil when the count overflows. For validated configs.
    public func decodeBytes(h: Int, w: Int) -> Int? {
        guard let hw = Checked.multiply(h, w) else { return nil }
        var largest = Checked.product([hw, max(zChannels, channels * (decoderChMult.last ?? 1))])
        var side = hw
        for (j, m) in decoderChMult.reversed().enumerated() {
            let c = channels * m
            // The upsample conv runs at the next level's size on this level's channels.
            let after = j + 1 < decoderChMult.count ? Checked.multiply(side, 4) : side
            largest = [largest, Checked.multiply(side, c), after.flatMap { Checked.multiply($0, c) }].reduce(0 as Int?) { m, v in
                guard let m, let v else { return nil }
                return max(m, v)
            }
            if let a = after { side = a } else { return nil }
        }
        let encodeLargest = Checked.product([hw, Checked.product([downsample, downsample]) ?? -1, channels * (encoderChMult.first ?? 1)])
        guard let largest, let encodeLargest, let scores = Checked.multiply(hw, hw) else { return nil }
        return Checked.sum([Checked.multiply(max(largest, encodeLargest), 6), scores]).flatMap { Checked.multiply($0, 4) }
    }

    /// Multiply-adds x 2 of the decoder's convolutions and attention on an h x w grid.
    public func decoderFLOPs(h: Int, w: Int) -> Double {
        var flops = 0.0, side = Double(h * w)
        func conv(_ cin: Int, _ cout: Int, _ taps: Double) { flops += 2 * side * Double(cin * cout) * taps }
        func res(_ cin: Int, _ cout: Int) { conv(cin, cout, 9); conv(cout, cout, 9); if cin != cout { conv(cin, cout, 1) } }
        func attn(_ c: Int) { conv(c, c, 4); flops += 4 * side * side * Double(c) }
        var blockIn = channels * decoderChMult.last!
        conv(codebookEmbedDim, zChannels, 1); conv(zChannels, blockIn, 9)
        res(blockIn, blockIn); attn(blockIn); res(blockIn, blockIn)
        for (j, m) in decoderChMult.reversed().enumerated() {
            for _ in 0...numResBlocks {
                res(blockIn, channels * m); blockIn = channels * m
                if j == 0 { attn(blockIn) }
            }
            if j + 1 < decoderChMult.count { side *= 4; conv(blockIn, blockIn, 9) }
        }
        conv(blockIn, inChannels, 9)
        return flops
    }

    public init(codebookSize: Int, codebookEmbedDim: Int, codebookL2Norm: Bool, zChannels: Int, channels: Int,
                encoderChMult: [Int], decoderChMult: [Int], numResBlocks: Int, inChannels: Int, normGroups: Int,
                normEps: Float, imageSize: Int, source: String? = nil) {
        self.codebookSize = codebookSize; self.codebookEmbedDim = codebookEmbedDim; self.codebookL2Norm = codebookL2Norm
        self.zChannels = zChannels; self.channels = channels; self.encoderChMult = encoderChMult
        self.decoderChMult = decoderChMult; self.numResBlocks = numResBlocks; self.inChannels = inChannels
        self.normGroups = normGroups; self.normEps = normEps; self.imageSize = imageSize; self.source = source
    }
}
