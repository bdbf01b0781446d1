import CFFmpeg
import Foundation

/// The bookkeeping files of one run (or one shard of it) in a folder. Shards
/// get their own names so that all tasks of a job array can share one folder.
public struct RunFiles: Sendable {
    public let dir: URL
    public let shard: Shard

    public init(dir: URL, shard: Shard) {
        self.dir = dir
        self.shard = shard
    }

    private var suffix: String { shard.count == 1 ? "" : ".shard-\(shard.index)-of-\(shard.count)" }
    public var run: URL { dir.appendingPathComponent("run\(suffix).json") }
    public var manifest: URL { dir.appendingPathComponent("manifest\(suffix).jsonl") }
    public var labels: URL { dir.appendingPathComponent("labels\(suffix).csv") }
    /// An image run's sample batch (NPZ).
    public var npz: URL { dir.appendingPathComponent("samples\(suffix).npz") }

    /// Every run description in `dir`: run.json and run.shard-K-of-N.json.
    public static func all(in dir: URL) -> [RunFiles] {
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

public enum RunFolder {
    /// The sample batch of an image run from its PNG files, read back in
    /// clip order (PNG is lossless: the bytes rendered), written atomically.
    public static func writeSampleBatch(_ images: [URL], to url: URL, width: Int, height: Int) throws {
        try NPZ.writeImages(to: url, count: images.count, height: height, width: width, overwrite: true) { i in
            let data: Data
            do { data = try InputFile.read(images[i].path, limit: FrameFolder.maxFrameFileBytes) } catch let e as InputFileError {
                throw VideoIOError(e.description)
            }
            let image = try decodeImage(data, codec: AV_CODEC_ID_PNG, name: images[i].path)
            guard image.width == width, image.height == height else {
                throw VideoIOError("\(images[i].path) is \(image.width)x\(image.height), the run's images are \(width)x\(height)")
            }
            return image.pixels
        }
    }

    /// Output paths of a clip, relative to the run folder.
    public static func paths(of clip: String, format: BatchFormat) -> [String] {
        switch format {
        case .mp4: return ["\(clip).mp4"]
        case .frames: return [clip]
        case .both: return ["\(clip).mp4", clip]
        case .png: return ["\(clip).png"]
        }
    }

    /// Entries whose outputs are all on disk as this run writes them, the
    /// last entry of a clip winning.
    public static func finished(_ entries: [ManifestEntry], in dir: URL, format: BatchFormat) -> [String: ManifestEntry] {
        var done: [String: ManifestEntry] = [:]
        for e in entries where e.paths == paths(of: e.clip, format: format) {
            if case .finished = state(of: e, in: dir) { done[e.clip] = e }
        }
        return done
    }

    public enum ClipState: Equatable { case finished, missing, bad(String) }

    /// Whether the outputs an entry lists are in `dir` as par-video writes
    /// them: each path a plain name (no folder, no `..`), an .mp4 a regular
    /// file, a frame folder a folder of regular files. Symbolic links are
    /// never outputs: one could point anywhere.
    public static func state(of entry: ManifestEntry, in dir: URL) -> ClipState {
        for p in entry.paths {
            guard isPlainName(p) else { return .bad("\(p) is not a plain file name") }
            let url = dir.appendingPathComponent(p)
            var st = stat()
            guard lstat(url.path, &st) == 0 else { return .missing }
            let wantFolder = !p.hasSuffix(".mp4") && !p.hasSuffix(".png")
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
    public static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    /// Removes the temporaries (`.NAME.partial-*`, see AtomicOutput) that a
    /// killed process left for the clips and files in `owned`, and only
    /// those: other shards may be writing into the same folder.
    public static func sweep(_ dir: URL, owned: Set<String>) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        var removed = 0
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".partial-") else { continue }
            var target = String(name[name.index(after: name.startIndex)..<r.lowerBound])
            if target.hasSuffix(".mp4") || target.hasSuffix(".png") { target.removeLast(4) }
            guard owned.contains(target) else { continue }
            if (try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
    }

    /// `clip,label` lines, one per clip in index order (the label is the action id).
    public static func writeLabels(_ entries: [ManifestEntry], to url: URL) throws {
        var seen: [String: ManifestEntry] = [:]
        for e in entries { seen[e.clip] = e }
        var text = "clip,label\n"
        for e in seen.values.sorted(by: { $0.index < $1.index }) { text += "\(e.clip),\(e.action)\n" }
        try writeAtomically(Data(text.utf8), to: url)
    }

    /// A small file written whole under a temporary name and renamed into
    /// place; errors name the file and the system's reason (ENOSPC, EFBIG, ...).
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        try AtomicOutput.write(to: url) { tmp in try AtomicOutput.writeFile(data, to: tmp.path) }
    }

    /// Bundle identity: for each .safetensors file its name, size and an
    /// FNV-1a hash of its header (tensor names, shapes, offsets, metadata).
    public static func modelIdentity(_ files: [URL]) -> String {
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
public struct FNV: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    public mutating func add(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { add($0) } }
    public var hex: String { String(format: "%016llx", value) }
}

extension RunFolder {
    /// Refuses to start `shard` in `dir` when the folder holds the run split
    /// another way: a resubmitted job array task gets SLURM_ARRAY_TASK_COUNT 1,
    /// and a task that took that as N would render (and rename over) the
    /// other shards' clips. A run merged in place (run.json beside its
    /// shards) resumes unsharded or as those shards. `name` is -o as given.
    public static func checkSplit(_ dir: URL, shard: Shard, name: String) throws {
        let counts = Set(RunFiles.all(in: dir).map(\.shard.count))
        let splits = counts.subtracting([1]).sorted()
        let whole = counts.contains(1)
        let fixedN = "a resubmitted job array task has SLURM_ARRAY_TASK_COUNT 1, so the job script must give N itself "
            + "(--shard $SLURM_ARRAY_TASK_ID/N, docs/BATCH.md)"
        if shard.count == 1 {
            guard let n = splits.first, !whole else { return }
            throw BatchError.usage("\(name) holds shards of a run split into \(n) (run.shard-K-of-\(n).json) and no merged run: "
                                   + "finish a shard with --shard K/\(n), then `par-video merge \(name)`; \(fixedN)")
        }
        if let n = splits.first(where: { $0 != shard.count }) {
            let again = shard.index < n ? "--shard \(shard.index)/\(n)" : "--shard K/\(n) with K in 0...\(n - 1)"
            throw BatchError.usage("\(name) holds a run split into \(n) shards (run.shard-K-of-\(n).json), not \(shard.count): "
                                   + "resubmit with \(again); \(fixedN)")
        }
        if whole, splits.isEmpty {
            throw BatchError.usage("\(name) holds an unsharded (or merged) run: rerun its command without --shard to resume, or use another -o")
        }
    }
}
