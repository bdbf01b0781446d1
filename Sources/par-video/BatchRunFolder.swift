import Foundation
import PARVideo

/// What a batch run folder records about its run (`run.json`): every setting
/// that decides which clips exist and what their bytes are. A rerun into the
/// same folder must match it (then it resumes); `merge` checks that shards agree.
struct RunSettings: Codable, Equatable {
    var version: String
    /// Bundle identity: file names, sizes and a hash of the safetensors headers.
    var model: String
    var actions: [Int]
    var perClass: Int?
    var count: Int?
    /// Clips of the whole (unsharded) run.
    var clips: Int
    /// FNV-1a of every (index, action, seed) of the whole run: covers the label file.
    var plan: String
    var seed: UInt64
    var parallel: Int
    var cfg: Float
    var temperature: Float
    var topK: Int
    var topP: Float
    var fps: Double
    var width: Int
    var height: Int
    var frames: Int
    var format: String
    var codec: String
    var crf: Int
    var preset: String
    /// "K/N"; "0/1" for a whole run.
    var shard: String
    /// Informational: clips per forward pass does not change a clip's bytes.
    var batch: Int

    enum CodingKeys: String, CodingKey {
        case version, model, actions, perClass = "per_class", count, clips, plan, seed, parallel, cfg, temperature
        case topK = "top_k", topP = "top_p", fps, width, height, frames, format, codec, crf, preset, shard, batch
    }

    /// Keys that may differ between runs into one folder (or between shards).
    static let free: Set<String> = ["version", "batch", "shard"]

    /// "key: old -> new" for every setting (outside `free` and `ignoring`) that differs.
    func differences(from other: RunSettings, ignoring: Set<String> = []) -> [String] {
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

    var shardValue: Shard { (try? Shard(parsing: shard)) ?? .whole }

    static func read(_ url: URL) throws -> RunSettings {
        let data: Data
        do { data = try InputFile.read(url.path, limit: 1 << 20) } catch let e as InputFileError { throw RunError("cannot read \(e.description)") }
        do { return try JSONDecoder().decode(RunSettings.self, from: data) } catch {
            throw RunError("\(url.path) is not a par-video batch run description")
        }
    }

    func write(_ url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(UInt8(ascii: "\n"))
        try RunFolder.writeAtomically(data, to: url)
    }
}

/// The bookkeeping files of one run (or one shard of it) in a folder. Shards
/// get their own names so that all tasks of a job array can share one folder.
struct RunFiles {
    let dir: URL
    let shard: Shard

    private var suffix: String { shard.count == 1 ? "" : ".shard-\(shard.index)-of-\(shard.count)" }
    var run: URL { dir.appendingPathComponent("run\(suffix).json") }
    var manifest: URL { dir.appendingPathComponent("manifest\(suffix).jsonl") }
    var labels: URL { dir.appendingPathComponent("labels\(suffix).csv") }

    /// Every run description in `dir`: run.json and run.shard-K-of-N.json.
    static func all(in dir: URL) -> [RunFiles] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().compactMap { name in
            if name == "run.json" { return RunFiles(dir: dir, shard: .whole) }
            guard name.hasPrefix("run.shard-"), name.hasSuffix(".json") else { return nil }
            let parts = name.dropFirst("run.shard-".count).dropLast(".json".count).components(separatedBy: "-of-")
            guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n > 1, (0..<n).contains(k) else { return nil }
            return RunFiles(dir: dir, shard: Shard(index: k, count: n))
        }
    }
}

enum RunFolder {
    /// Output paths of a clip, relative to the run folder.
    static func paths(of clip: String, format: OutputFormat) -> [String] {
        switch format {
        case .mp4: return ["\(clip).mp4"]
        case .frames: return [clip]
        case .both: return ["\(clip).mp4", clip]
        }
    }

    /// Entries whose outputs are all on disk as this run writes them, the
    /// last entry of a clip winning.
    static func finished(_ entries: [ManifestEntry], in dir: URL, format: OutputFormat) -> [String: ManifestEntry] {
        var done: [String: ManifestEntry] = [:]
        for e in entries where e.paths == paths(of: e.clip, format: format) {
            if case .finished = state(of: e, in: dir) { done[e.clip] = e }
        }
        return done
    }

    enum ClipState: Equatable { case finished, missing, bad(String) }

    /// Whether the outputs an entry lists are in `dir` as par-video writes
    /// them: each path a plain name (no folder, no `..`), an .mp4 a regular
    /// file, a frame folder a folder of regular files. Symbolic links are
    /// never outputs: one could point anywhere.
    static func state(of entry: ManifestEntry, in dir: URL) -> ClipState {
        for p in entry.paths {
            guard isPlainName(p) else { return .bad("\(p) is not a plain file name") }
            let url = dir.appendingPathComponent(p)
            var st = stat()
            guard lstat(url.path, &st) == 0 else { return .missing }
            let wantFolder = !p.hasSuffix(".mp4")
            guard st.st_mode & S_IFMT == (wantFolder ? S_IFDIR : S_IFREG) else {
                return .bad("\(url.path) is \(InputFile.describe(mode: st.st_mode)), not a \(wantFolder ? "frame folder" : "regular file")")
            }
            if wantFolder {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] {
                    var fst = stat()
                    guard lstat(url.appendingPathComponent(name).path, &fst) == 0, fst.st_mode & S_IFMT == S_IFREG else {
                        return .bad("\(url.path)/\(name) is \(InputFile.describe(mode: fst.st_mode)), not a regular frame file")
                    }
                }
            }
        }
        return .finished
    }

    /// A name directly inside a folder: not empty, no `/`, not `.` or `..`, no NUL.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    /// Removes the temporaries (`.NAME.partial-*`, see AtomicOutput) that a
    /// killed process left for the clips and files in `owned`, and only
    /// those: other shards may be writing into the same folder.
    static func sweep(_ dir: URL, owned: Set<String>) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        var removed = 0
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".partial-") else { continue }
            var target = String(name[name.index(after: name.startIndex)..<r.lowerBound])
            if target.hasSuffix(".mp4") { target.removeLast(4) }
            guard owned.contains(target) else { continue }
            if (try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
    }

    /// `clip,label` lines, one per clip in index order (the label is the action id).
    static func writeLabels(_ entries: [ManifestEntry], to url: URL) throws {
        var seen: [String: ManifestEntry] = [:]
        for e in entries { seen[e.clip] = e }
        var text = "clip,label\n"
        for e in seen.values.sorted(by: { $0.index < $1.index }) { text += "\(e.clip),\(e.action)\n" }
        try writeAtomically(Data(text.utf8), to: url)
    }

    /// A small file written whole under a temporary name and renamed into
    /// place; errors name the file and the system's reason (ENOSPC, EFBIG, ...).
    static func writeAtomically(_ data: Data, to url: URL) throws {
        try AtomicOutput.write(to: url) { tmp in try AtomicOutput.writeFile(data, to: tmp.path) }
    }

    /// Bundle identity: for each .safetensors file its name, size and an
    /// FNV-1a hash of its header (tensor names, shapes, offsets, metadata).
    static func modelIdentity(_ files: [URL]) -> String {
        files.map { url -> String in
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            var hash = FNV()
            if let fd = try? InputFile.open(url.path) {
                let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                let lenBytes = h.readData(ofLength: 8)
                if lenBytes.count == 8 {
                    let len = lenBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
                    hash.add(h.readData(ofLength: Int(min(len, 100_000_000))))
                }
            }
            return "\(url.lastPathComponent):\(size):\(hash.hex)"
        }.joined(separator: ";")
    }
}

/// 64-bit FNV-1a: a stable content hash (Swift's Hasher is seeded per process).
struct FNV {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    mutating func add(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { add($0) } }
    var hex: String { String(format: "%016llx", value) }
}
