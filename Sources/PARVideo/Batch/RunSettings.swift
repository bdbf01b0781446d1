import Foundation

/// What a batch run folder records about its run (`run.json`): every setting
/// that decides which clips exist and what their bytes are. A rerun into the
/// same folder must match it (then it resumes); `merge` checks that shards agree.
public struct RunSettings: Codable, Equatable, Sendable {
    public var version: String
    /// Bundle identity: file names, sizes and a hash of the safetensors headers.
    public var model: String
    public var actions: [Int]
    public var perClass: Int?
    public var count: Int?
    /// Clips of the whole (unsharded) run.
    public var clips: Int
    /// FNV-1a of every (index, action, seed) of the whole run: covers the label file.
    public var plan: String
    /// The base seed (a string in the file, see JSONSeed).
    @JSONSeed public var seed: UInt64
    public var parallel: Int
    public var cfg: Float
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var fps: Double
    public var width: Int
    public var height: Int
    public var frames: Int
    public var format: String
    public var codec: String
    public var crf: Int
    public var preset: String
    /// "K/N"; "0/1" for a whole run. N is the run's shard count.
    public var shard: String
    /// Informational: clips per forward pass does not change a clip's bytes.
    public var batch: Int

    enum CodingKeys: String, CodingKey {
        case version, model, actions, perClass = "per_class", count, clips, plan, seed, parallel, cfg, temperature
        case topK = "top_k", topP = "top_p", fps, width, height, frames, format, codec, crf, preset, shard, batch
    }

    public init(version: String, model: String, actions: [Int], perClass: Int?, count: Int?, clips: Int, plan: String,
                seed: UInt64, parallel: Int, cfg: Float, temperature: Float, topK: Int, topP: Float, fps: Double,
                width: Int, height: Int, frames: Int, format: String, codec: String, crf: Int, preset: String,
                shard: String, batch: Int) {
        self.version = version; self.model = model; self.actions = actions; self.perClass = perClass
        self.count = count; self.clips = clips; self.plan = plan; self.seed = seed
        self.parallel = parallel; self.cfg = cfg; self.temperature = temperature; self.topK = topK; self.topP = topP
        self.fps = fps; self.width = width; self.height = height; self.frames = frames; self.format = format
        self.codec = codec; self.crf = crf; self.preset = preset; self.shard = shard; self.batch = batch
    }

    /// Keys that may differ between runs into one folder (or between shards).
    public static let free: Set<String> = ["version", "batch", "shard"]

    /// "key: old -> new" for every setting (outside `free` and `ignoring`) that differs.
    public func differences(from other: RunSettings, ignoring: Set<String> = []) -> [String] {
        let a = Self.flat(self), b = Self.flat(other)
        return a.keys.sorted().compactMap { key in
            guard !Self.free.contains(key), !ignoring.contains(key), a[key] != b[key] else { return nil }
            return "\(key): \(b[key] ?? "none") -> \(a[key] ?? "none")"
        }
    }

    private static func flat(_ s: RunSettings) -> [String: String] {
        guard let data = try? JSONEncoder().encode(s),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return obj.mapValues { "\($0)" }
    }

    /// The shard this file describes (checked by `decode`).
    public var shardValue: Shard { (try? Shard(parsing: shard)) ?? .whole }

    /// The largest side and clip length a run may record (the CLI's own limits).
    static let maxSide = 4096, maxFrames = 100_000

    /// Reads and checks a run.json; what is read decides loop bounds in
    /// `merge`, so every count is checked against the limits a run can have.
    public static func decode(_ data: Data, path: String) throws -> RunSettings {
        let s: RunSettings
        do { s = try JSONDecoder().decode(RunSettings.self, from: data) } catch {
            throw BatchError.failure("\(path) is not a par-video batch run description")
        }
        func bad(_ why: String) -> BatchError { BatchError.failure("\(path) is not a valid batch run description: \(why)") }
        guard (1...BatchPlan.maxClips).contains(s.clips) else { throw bad("clips \(s.clips) not in 1...\(BatchPlan.maxClips)") }
        guard (1...BatchPlan.maxClips).contains(s.actions.count), s.actions.allSatisfy({ $0 >= 0 }) else {
            throw bad("actions must be 1 to \(BatchPlan.maxClips) class ids >= 0")
        }
        for (key, v) in [("per_class", s.perClass), ("count", s.count)] {
            if let v, !(1...BatchPlan.maxClips).contains(v) { throw bad("\(key) \(v) not in 1...\(BatchPlan.maxClips)") }
        }
        guard let shard = try? Shard(parsing: s.shard), shard.description == s.shard else { throw bad("shard '\(s.shard)' is not K/N") }
        guard BatchFormat(rawValue: s.format) != nil else { throw bad("unknown format '\(s.format)'") }
        guard (1...maxSide).contains(s.width), (1...maxSide).contains(s.height), (1...maxFrames).contains(s.frames) else {
            throw bad("frame size \(s.width)x\(s.height)x\(s.frames) out of range")
        }
        guard s.fps.isFinite, s.fps > 0, s.parallel >= 1, s.batch >= 1 else { throw bad("fps, parallel or batch out of range") }
        return s
    }

    public static func read(_ url: URL) throws -> RunSettings {
        let data: Data
        do { data = try InputFile.read(url.path, limit: 1 << 20) } catch let e as InputFileError {
            throw BatchError.failure("cannot read \(e.description)")
        }
        return try decode(data, path: url.path)
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Written whole under a temporary name and renamed into place.
    public func write(_ url: URL) throws {
        let data = try encoded()
        try AtomicOutput.write(to: url) { tmp in try AtomicOutput.writeFile(data, to: tmp.path) }
    }
}

/// What a batch run writes per clip: `DIR/<clip>.mp4`, the PNG frame folder
/// `DIR/<clip>/` (StyleGAN-V layout), both, or one PNG image.
public enum BatchFormat: String, CaseIterable, Sendable {
    case mp4, frames, both
    /// An image model's run: `DIR/<clip>.png` and the sample batch `DIR/samples.npz`.
    case png

    /// What a video model's run may write, for messages.
    public static let clipFormats = "mp4, frames, both"
}
