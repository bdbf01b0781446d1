import Foundation

/// The `par_video` metadata entry of one bundle file (docs/BUNDLE.md).
public struct BundleHeader: Sendable {
    public enum Kind: String, Sendable { case gpt, tokenizer, vq2d }
    public let kind: Kind
    public let version: Int
    /// The `config` object as raw JSON, decoded by whoever owns the kind.
    public let configJSON: Data

    static func read(_ metadata: [String: String], path: String) throws -> BundleHeader {
        guard let text = metadata["par_video"] else {
            throw WeightsError("\(path): not a par-video bundle (no 'par_video' metadata)")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw WeightsError("\(path): 'par_video' metadata is not a JSON object")
        }
        guard obj["format"] as? String == "par-video" else { throw WeightsError("\(path): metadata format is not 'par-video'") }
        let version = (obj["version"] as? NSNumber).flatMap { SafeTensorsFile.size($0) } ?? 0
        guard version == 1 else { throw WeightsError("\(path): bundle version \(version) is not supported (expected 1)") }
        guard let kindName = obj["kind"] as? String, let kind = Kind(rawValue: kindName) else {
            throw WeightsError("\(path): bundle kind must be 'gpt', 'tokenizer' or 'vq2d'")
        }
        guard let config = obj["config"], JSONSerialization.isValidJSONObject(config) else {
            throw WeightsError("\(path): bundle has no 'config' object")
        }
        return BundleHeader(kind: kind, version: version, configJSON: try JSONSerialization.data(withJSONObject: config))
    }
}

/// A bundle file's config, decoded and validated.
public enum BundleConfig {
    case gpt(GPTConfig)
    case tokenizer(TokenizerConfig, json: Data)
    /// LlamaGen's VQ image tokenizer (docs/BUNDLE.md).
    case vq2d(VQConfig)

    /// The header's config JSON as `type`, checked by `validate`; each failure one line naming the file.
    private static func checked<C: Decodable>(_ type: C.Type, _ header: BundleHeader, path f: String,
                                              validate: (C) throws -> Void) throws -> C {
        let config: C
        do { config = try JSONDecoder().decode(C.self, from: header.configJSON) } catch {
            throw WeightsError("\(f): bad \(header.kind.rawValue) config (\(ModelBundle.describe(error)))")
        }
        do { try validate(config) } catch let e as WeightsError { throw WeightsError("\(f): \(e.description)") }
        return config
    }

    /// The one check of a bundle file's `par_video` metadata that every
    /// command goes through (ModelBundle), `inspect` included.
    public static func read(_ metadata: [String: String], path f: String) throws -> BundleConfig {
        let header = try BundleHeader.read(metadata, path: f)
        switch header.kind {
        case .gpt:
            return .gpt(try checked(GPTConfig.self, header, path: f) { try $0.validate() })
        case .tokenizer:
            do { return .tokenizer(try TokenizerConfig.fromMetadata(metadata, path: f), json: header.configJSON) } catch let e as TokenizerError {
                throw WeightsError(e.description.hasPrefix(f) ? e.description : "\(f): \(e.description)")
            }
        case .vq2d:
            return .vq2d(try checked(VQConfig.self, header, path: f) { try $0.validate() })
        }
    }
}

/// One GPT of a bundle: its config and its (mapped) weights file.
public struct GPTEntry: @unchecked Sendable {
    public let config: GPTConfig
    public let file: SafeTensorsFile
}

/// A model bundle: one `.safetensors` file or a folder of them, holding GPTs
/// keyed by `parallel` and at most one tokenizer.
public final class ModelBundle: @unchecked Sendable {
    public let path: String
    public let gpts: [Int: GPTEntry]
    public let tokenizer: (file: SafeTensorsFile, configJSON: Data)?
    /// The image tokenizer of an image bundle ("vq2d"), its tensors checked against its config.
    public let vq: (file: SafeTensorsFile, config: VQConfig)?

    public static func load(_ path: String) throws -> ModelBundle { try ModelBundle(path: path) }

    public init(path: String) throws {
        self.path = path
        let kind: InputFile.Kind
        do { kind = try InputFile.kind(of: path) } catch let e as InputFileError {
            throw WeightsError(e.missing ? "\(path): no such model file or folder" : e.description)
        }
        var files: [String] = [path]
        if kind == .folder {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { $0.hasSuffix(".safetensors") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else { throw WeightsError("\(path): folder holds no .safetensors files") }
        }
        var gpts: [Int: GPTEntry] = [:]
        var tokenizer: (file: SafeTensorsFile, configJSON: Data)?
        var vq: (file: SafeTensorsFile, config: VQConfig)?
        for f in files {
            let file = try SafeTensorsFile(path: f)
            switch try BundleConfig.read(file.metadata, path: f) {
            case .gpt(let config):
                if let other = gpts[config.parallel] {
                    throw WeightsError("\(path): two GPTs for parallel \(config.parallel) (\(other.file.path), \(f))")
                }
                gpts[config.parallel] = GPTEntry(config: config, file: file)
            case .tokenizer(_, let json):
                if tokenizer != nil || vq != nil { throw WeightsError("\(path): more than one tokenizer") }
                tokenizer = (file, json)
            case .vq2d(let config):
                if tokenizer != nil || vq != nil { throw WeightsError("\(path): more than one tokenizer") }
                try config.checkTensors(file)
                vq = (file, config)
            }
        }
        self.gpts = gpts
        self.tokenizer = tokenizer
        self.vq = vq
    }

    public var parallels: [Int] { gpts.keys.sorted() }

    /// The n used without `--parallel`: 4 when present (the paper's balance
    /// of speed and quality), else the smallest n of the bundle.
    public var defaultParallel: Int? { gpts[4] != nil ? 4 : parallels.first }

    /// The GPT trained for `parallel` (`defaultParallel` when nil).
    public func gpt(parallel: Int? = nil) throws -> GPTEntry {
        guard let fallback = defaultParallel else { throw WeightsError("\(path): bundle holds no GPT") }
        let n = parallel ?? fallback
        guard let entry = gpts[n] else {
            throw WeightsError("\(path): no model trained for --parallel \(n) (available: \(parallels.map(String.init).joined(separator: ", ")))")
        }
        return entry
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "bad value at '\(ctx.codingPath.map { $0.stringValue }.joined(separator: "."))'"
        case DecodingError.dataCorrupted(let ctx): return ctx.debugDescription
        default: return "\(error)"
        }
    }
}
