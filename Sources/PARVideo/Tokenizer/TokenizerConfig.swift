import Foundation

/// The `config` of a tokenizer bundle (docs/TOKENIZER.md). Stage s > 0 of the
/// encoder starts with a strided causal conv (factors `down[s-1]`); stage s > 0
/// of the decoder starts with a conv to C*ft*fh*fw channels and a depth-to-space
/// by `up[s-1]`. The first residual unit of a stage changes the channel count.
public struct TokenizerConfig: Codable, Equatable, Sendable {
    public struct Stages: Codable, Equatable, Sendable {
        public var channels: [Int]
        public var resUnits: [Int]
        public var factors: [[Int]]
    }

    public var inChannels: Int
    public var embedDim: Int
    public var fsqLevels: [Int]
    public var normGroups: Int
    public var normEps: Float
    public var kernel: Int
    public var encoder: Stages
    public var decoder: Stages
    /// Clip geometry the tokenizer was trained for (frames, square size).
    public var frames: Int
    public var size: Int

    /// NBP's UCF-101 tokenizer (`nbp/download.py`, `nbp/magvit2.py`).
    public static let nbpUCF = TokenizerConfig(
        inChannels: 3, embedDim: 6, fsqLevels: [8, 8, 8, 5, 5, 5], normGroups: 32, normEps: 1e-5, kernel: 3,
        encoder: Stages(channels: [128, 256, 256, 512], resUnits: [4, 4, 4, 8], factors: [[1, 2, 2], [2, 2, 2], [2, 2, 2]]),
        decoder: Stages(channels: [512, 256, 256, 128], resUnits: [8, 4, 4, 4], factors: [[2, 2, 2], [2, 2, 2], [1, 2, 2]]),
        frames: 17, size: 128)

    /// Total (time, space) down-sampling factors of the encoder.
    public var timeFactor: Int { encoder.factors.reduce(1) { $0 * $1[0] } }
    public var spaceFactor: Int { encoder.factors.reduce(1) { $0 * $1[1] } }

    /// Token cube of a clip: T = 1 + (F - 1) / timeFactor.
    public func latentShape(frames: Int, height: Int, width: Int) -> (t: Int, h: Int, w: Int) {
        (1 + (frames - 1) / timeFactor, height / spaceFactor, width / spaceFactor)
    }

    /// Frames and size the decoder produces from a cube.
    public func outputShape(t: Int, h: Int, w: Int) -> (frames: Int, height: Int, width: Int) {
        var (ft, fh, fw) = (t, h, w)
        for f in decoder.factors { ft = ft * f[0] - (f[0] - 1); fh *= f[1]; fw *= f[2] }
        return (ft, fh, fw)
    }

    /// Limits on a tokenizer config's sizes: far above NBP's (128-512
    /// channels, 4 stages, factors of 2, 17 frames of 128x128), low enough
    /// that every product of them fits an Int.
    public enum Limits {
        public static let inChannels = 16, channels = 65_536, stages = 16, resUnits = 1_024, factor = 8, kernel = 15
        public static let frames = 4_096, size = 4_096
    }

    /// The one check of a tokenizer config, shared by every command (`inspect` included).
    public func validate() throws {
        func fail(_ s: String) -> TokenizerError { TokenizerError("tokenizer config: \(s)") }
        guard (1...Limits.inChannels).contains(inChannels) else { throw fail("in_channels must be in 1...\(Limits.inChannels), got \(inChannels)") }
        guard (1...Limits.kernel).contains(kernel), kernel % 2 == 1 else { throw fail("kernel must be odd and in 1...\(Limits.kernel), got \(kernel)") }
        guard normGroups > 0 else { throw fail("norm_groups must be positive, got \(normGroups)") }
        guard normEps.isFinite, normEps > 0 else { throw fail("norm_eps must be finite and > 0, got \(normEps)") }
        guard embedDim == fsqLevels.count else { throw fail("embed_dim must equal len(fsq_levels) (no FSQ projections)") }
        do { _ = try FSQ(levels: fsqLevels) } catch let e as TokenizerError { throw fail(e.description) }
        for (name, s) in [("encoder", encoder), ("decoder", decoder)] {
            let n = s.channels.count
            guard n > 0, n <= Limits.stages, s.resUnits.count == n, s.factors.count == n - 1 else {
                throw fail("\(name) needs 1...\(Limits.stages) stages with as many res_units and one factor fewer")
            }
            guard s.channels.allSatisfy({ $0 > 0 && $0 <= Limits.channels && $0 % normGroups == 0 }) else {
                throw fail("\(name) channels \(s.channels) must be in 1...\(Limits.channels) and divisible by \(normGroups) groups")
            }
            guard s.factors.allSatisfy({ $0.count == 3 && $0.allSatisfy { (1...Limits.factor).contains($0) } }) else {
                throw fail("\(name) factors must be [t, h, w] in 1...\(Limits.factor)")
            }
            guard s.resUnits.allSatisfy({ (0...Limits.resUnits).contains($0) }) else { throw fail("\(name) res_units must be in 0...\(Limits.resUnits)") }
            for i in 1..<n where s.channels[i] != s.channels[i - 1] && s.resUnits[i] == 0 {
                throw fail("\(name) stage \(i) changes channels but has no residual unit")
            }
            // Depth-to-space fills C * ft * fh * fw channels before the shuffle.
            for (i, f) in s.factors.enumerated() where Checked.product([s.channels[i]] + f).map({ $0 > Limits.channels * 512 }) ?? true {
                throw fail("\(name) stage \(i + 1) needs too many channels")
            }
        }
        guard encoder.factors.allSatisfy({ $0[1] == $0[2] }) else { throw fail("encoder factors must be square in space") }
        guard (1...Limits.frames).contains(frames), (frames - 1) % timeFactor == 0 else {
            throw fail("frames must be 1 + k * \(timeFactor) in 1...\(Limits.frames), got \(frames)")
        }
        guard (1...Limits.size).contains(size), size % spaceFactor == 0 else {
            throw fail("size must be a multiple of \(spaceFactor) in 1...\(Limits.size), got \(size)")
        }
        let (t, h, w) = latentShape(frames: frames, height: size, width: size)
        // Encoding runs on the whole clip at once: a few activations of the widest stage at full size.
        let encode = Checked.product([frames, size, size, encoder.channels.max()!, 3 * 4])
        do {
            try InputLimits.checkMemory(Checked.sum([decodeBytes(t: t, h: h, w: w), encode]),
                                        for: "tokenizer config: a \(frames)-frame clip of \(size)x\(size)")
        } catch let e as WeightsError { throw TokenizerError(e.description) }
    }

    /// Output shape of a cube, nil when a side overflows an Int.
    public func checkedOutputShape(t: Int, h: Int, w: Int) -> (frames: Int, height: Int, width: Int)? {
        var (ft, fh, fw) = (t, h, w)
        for f in decoder.factors {
            guard let a = Checked.multiply(ft, f[0]), let b = Checked.multiply(fh, f[1]), let c = Checked.multiply(fw, f[2]) else { return nil }
            (ft, fh, fw) = (a - (f[0] - 1), b, c)
        }
        return (ft, fh, fw)
    }

    /// Bytes a decode of a T x H x W cube allocates: the output frames and,
    /// per one-latent-frame chunk, a few activations of the largest stage; nil
    /// when the count overflows. Call on a config whose sizes passed validate.
    public func decodeBytes(t: Int, h: Int, w: Int) -> Int? {
        guard let out = checkedOutputShape(t: t, h: h, w: w),
              let outFloats = Checked.product([out.frames, out.height, out.width, inChannels]) else { return nil }
        var (ft, fh, fw) = (1, h, w)
        var largest = Checked.product([ft, fh, fw, max(embedDim, decoder.channels[0])])
        for (s, f) in decoder.factors.enumerated() {
            let widened = Checked.product([ft, fh, fw, decoder.channels[s], f[0], f[1], f[2]])
            ft = ft * f[0]; fh = Checked.multiply(fh, f[1]) ?? Int.max; fw = Checked.multiply(fw, f[2]) ?? Int.max
            largest = [largest, widened, Checked.product([ft, fh, fw, decoder.channels[s + 1]])].reduce(0 as Int?) { m, v in
                guard let m, let v else { return nil }
                return max(m, v)
            }
        }
        guard let largest, let chunk = Checked.multiply(largest, 4) else { return nil }
        return Checked.sum([outFloats, chunk]).flatMap { Checked.multiply($0, 4) }
    }

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", embedDim = "embed_dim", fsqLevels = "fsq_levels"
        case normGroups = "norm_groups", normEps = "norm_eps", kernel, encoder, decoder, frames, size
    }

    public init(inChannels: Int, embedDim: Int, fsqLevels: [Int], normGroups: Int, normEps: Float, kernel: Int,
                encoder: Stages, decoder: Stages, frames: Int, size: Int) {
        self.inChannels = inChannels; self.embedDim = embedDim; self.fsqLevels = fsqLevels
        self.normGroups = normGroups; self.normEps = normEps; self.kernel = kernel
        self.encoder = encoder; self.decoder = decoder; self.frames = frames; self.size = size
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inChannels = try c.decode(Int.self, forKey: .inChannels)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        fsqLevels = try c.decode([Int].self, forKey: .fsqLevels)
        normGroups = try c.decode(Int.self, forKey: .normGroups)
        normEps = try c.decode(Float.self, forKey: .normEps)
        kernel = try c.decode(Int.self, forKey: .kernel)
        encoder = try c.decode(StageJSON.self, forKey: .encoder).stages(factorKey: "down")
        self.decoder = try c.decode(StageJSON.self, forKey: .decoder).stages(factorKey: "up")
        frames = try c.decode(Int.self, forKey: .frames)
        size = try c.decode(Int.self, forKey: .size)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inChannels, forKey: .inChannels); try c.encode(embedDim, forKey: .embedDim)
        try c.encode(fsqLevels, forKey: .fsqLevels); try c.encode(normGroups, forKey: .normGroups)
        try c.encode(normEps, forKey: .normEps); try c.encode(kernel, forKey: .kernel)
        try c.encode(StageJSON(self.encoder, key: "down"), forKey: .encoder)
        try c.encode(StageJSON(self.decoder, key: "up"), forKey: .decoder)
        try c.encode(frames, forKey: .frames); try c.encode(size, forKey: .size)
    }

    /// {"channels", "res_units", "down" | "up"} as written in the bundle.
    private struct StageJSON: Codable {
        var channels: [Int], resUnits: [Int], down: [[Int]]?, up: [[Int]]?
        enum CodingKeys: String, CodingKey { case channels, resUnits = "res_units", down, up }
        init(_ s: Stages, key: String) {
            channels = s.channels; resUnits = s.resUnits
            if key == "down" { down = s.factors } else { up = s.factors }
        }
        func stages(factorKey: String) throws -> Stages {
            guard let f = factorKey == "down" ? down : up else { throw TokenizerError("tokenizer config: missing '\(factorKey)'") }
            return Stages(channels: channels, resUnits: resUnits, factors: f)
        }
    }

    /// Reads the config out of a bundle's `par_video` metadata.
    public static func fromMetadata(_ metadata: [String: String], path: String) throws -> TokenizerConfig {
        guard let json = metadata["par_video"], let data = json.data(using: .utf8),
              let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError("\(path): no par_video metadata (not a par-video bundle)")
        }
        guard top["kind"] as? String == "tokenizer" else {
            throw TokenizerError("\(path): bundle kind is \(top["kind"] ?? "missing"), expected \"tokenizer\"")
        }
        guard let cfg = top["config"], let cfgData = try? JSONSerialization.data(withJSONObject: cfg) else {
            throw TokenizerError("\(path): tokenizer bundle has no config")
        }
        do {
            let c = try JSONDecoder().decode(TokenizerConfig.self, from: cfgData)
            try c.validate()
            return c
        } catch let e as TokenizerError {
            throw e
        } catch {
            throw TokenizerError("\(path): malformed tokenizer config (\(error))")
        }
    }
}

extension TokenizerConfig {
    /// Multiply-adds x 2 of every convolution when decoding a T x H x W cube
    /// (norms, activations and copies not counted).
    public func decoderFLOPs(t: Int, h: Int, w: Int) -> Double {
        let k3 = Double(kernel * kernel * kernel)
        var (ft, fh, fw) = (t, h, w)
        var flops = 0.0
        func conv(_ cin: Int, _ cout: Int, _ taps: Double) { flops += 2 * Double(ft * fh * fw) * Double(cin * cout) * taps }
        func unit(_ cin: Int, _ cout: Int) {
            conv(cin, cout, k3); conv(cout, cout, k3)
            if cin != cout { conv(cin, cout, 1) }
        }
        let ch = decoder.channels
        conv(embedDim, ch[0], k3)
        for _ in 0..<decoder.resUnits[0] { unit(ch[0], ch[0]) }
        for s in 1..<ch.count {
            let f = decoder.factors[s - 1]
            conv(ch[s - 1], ch[s - 1] * f[0] * f[1] * f[2], k3)
            ft = ft * f[0] - (f[0] - 1); fh *= f[1]; fw *= f[2]
            for u in 0..<decoder.resUnits[s] { unit(u == 0 ? ch[s - 1] : ch[s], ch[s]) }
        }
        conv(ch.last!, inChannels, k3)
        return flops
    }
}
