import Foundation

/// What `par-video inspect` reports about a bundle: the defaults generate
/// and batch take from it, the class names once, and each network's config
/// and parameter count. Building it checks every tensor, as loading does.
public struct BundleSummary: Encodable {
    /// Video fields (frames, fps) for a video model; count (images per
    /// generate, one file, or a --grid sheet of them) for an image model.
    public struct Defaults: Encodable {
        public let parallel: Int, cfgScale: Float, temperature: Float, topK: Int, topP: Float
        public let fps: Double?, frames: Int?, count: Int?, width: Int?, height: Int?
    }
    public struct Network<Config: Encodable>: Encodable {
        public let file: String, parameters: Int, dtypes: String, config: Config
        public let parallel: Int?, steps: Int?
    }

    public let model: String
    /// "image" for a class-to-image bundle (a vq2d tokenizer), else "video".
    public let kind: String
    public let classes: Int?
    public let actions: [String]?
    public let defaults: Defaults?
    public let gpts: [Network<GPTConfig>]
    public let tokenizer: Network<TokenizerConfig>?
    /// The image tokenizer of a class-to-image bundle.
    public let vq2d: Network<VQConfig>?

    public init(_ bundle: ModelBundle) throws {
        model = bundle.path
        kind = bundle.vq == nil ? "video" : "image"
        let tok = try bundle.tokenizer.map { try VideoTokenizer(file: $0.file) }
        gpts = try bundle.parallels.map { n in
            let entry = try bundle.gpt(parallel: n)
            _ = try GPTWeights(config: entry.config, file: entry.file)
            var c = entry.config
            c.actions = nil  // listed once, in `actions`
            return Network(file: entry.file.path, parameters: Self.parameters(entry.file), dtypes: Self.dtypes(entry.file),
                           config: c, parallel: n, steps: c.steps)
        }
        if let file = bundle.tokenizer?.file, let tok {
            tokenizer = Network(file: file.path, parameters: Self.parameters(file), dtypes: Self.dtypes(file), config: tok.config, parallel: nil, steps: nil)
        } else {
            tokenizer = nil
        }
        if let vq = bundle.vq {
            _ = try VQImageTokenizer(file: vq.file, decoderOnly: true)  // every tensor checked, as an image render builds it
            vq2d = Network(file: vq.file.path, parameters: Self.parameters(vq.file), dtypes: Self.dtypes(vq.file), config: vq.config,
                           parallel: nil, steps: nil)
        } else {
            vq2d = nil
        }
        let main = try? bundle.gpt()
        classes = main?.config.numClasses
        actions = main?.config.selection.catalog?.names
        defaults = main.map { entry in
            let c = entry.config, s = c.sampling
            let up = bundle.vq?.config.upsample ?? 1
            let shape = tok.map { $0.config.outputShape(t: c.cube[0], h: c.cube[1], w: c.cube[2]) }
                ?? bundle.vq.map { _ in (frames: 1, height: c.cube[1] * up, width: c.cube[2] * up) }
            let image = bundle.vq != nil
            return Defaults(parallel: c.parallel, cfgScale: s.cfgScale, temperature: s.temperature, topK: s.topK, topP: s.topP,
                            fps: image ? nil : VideoFrames.defaultFPS, frames: image ? nil : shape?.frames, count: image ? 1 : nil,
                            width: shape?.width, height: shape?.height)
        }
    }

    static func parameters(_ f: SafeTensorsFile) -> Int { f.tensors.values.filter { $0.name != "freqs_cis" }.reduce(0) { $0 + $1.count } }
    static func dtypes(_ f: SafeTensorsFile) -> String { Set(f.tensors.values.map(\.dtype.rawValue)).sorted().joined(separator: "/") }

    /// As JSON: snake_case keys, sorted.
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        return try e.encode(self)
    }
}
