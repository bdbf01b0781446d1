import Foundation

/// One finished clip of a batch run, as a line of `manifest.jsonl`. It names
/// everything that decides the clip's bytes, so a reader can re-render it.
public struct ManifestEntry: Codable, Equatable, Sendable {
    public var clip: String
    public var index: Int
    /// Outputs relative to the run folder (the MP4 and/or the frame folder).
    public var paths: [String]
    public var action: Int
    public var actionName: String
    /// The clip's own seed (`clipSeed`), written as a string (JSONSeed).
    @JSONSeed public var seed: UInt64
    public var parallel: Int
    public var steps: Int
    public var seconds: Double
    public var frames: Int
    public var width: Int
    public var height: Int
    public var fps: Int
    public var cfg: Float
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    /// Identity of the model files (name and content hash).
    public var model: String
    public var version: String

    enum CodingKeys: String, CodingKey {
        case clip, index, paths, action, actionName = "action_name", seed, parallel, steps, seconds
        case frames, width, height, fps, cfg, temperature, topK = "top_k", topP = "top_p", model, version
    }

    public init(clip: String, index: Int, paths: [String], action: Int, actionName: String, seed: UInt64,
                parallel: Int, steps: Int, seconds: Double, frames: Int, width: Int, height: Int, fps: Int,
                cfg: Float, temperature: Float, topK: Int, topP: Float, model: String, version: String) {
        self.clip = clip; self.index = index; self.paths = paths; self.action = action
        self.actionName = actionName; self.seed = seed; self.parallel = parallel; self.steps = steps
        self.seconds = seconds; self.frames = frames; self.width = width; self.height = height; self.fps = fps
        self.cfg = cfg; self.temperature = temperature; self.topK = topK; self.topP = topP
        self.model = model; self.version = version
    }
}

/// An append-only JSONL manifest. A process killed mid-write leaves at most a
/// torn last line: opening drops it (and truncates the file back to the last
/// whole line) so the clip it described is simply rendered again.
public final class Manifest {
    public let path: String
    public private(set) var entries: [ManifestEntry] = []
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        do { fd = try InputFile.openChecked(path, flags: O_RDWR | O_CREAT | O_APPEND) } catch let e as InputFileError {
            throw BatchError.failure("cannot open manifest \(e.description)")
        }
        do { try load() } catch { close(fd); throw error }
    }

    deinit { close(fd) }

    /// The entries of the manifest at `path`, changing nothing: a torn last
    /// line is left in place (its clip counts as unfinished), for readers
    /// such as `merge` that must not write before every check has passed.
    public static func entries(readingOnly path: String) throws -> [ManifestEntry] {
        let data: Data
        do { data = try InputFile.read(path, limit: maxBytes) } catch let e as InputFileError {
            throw BatchError.failure("cannot read manifest \(e.description)")
        }
        return try parse([UInt8](data), path: path).entries
    }

    /// A manifest larger than this is refused (a million clips take about 500 MB).
    public static let maxBytes = 1 << 30

    private func load() throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BatchError.failure("cannot stat manifest \(path)") }
        let size = Int(st.st_size)
        guard size <= Self.maxBytes else { throw BatchError.failure("\(path): \(size) bytes, more than the \(Self.maxBytes) a manifest may have") }
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, size - offset, off_t(offset)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw BatchError.failure("cannot read manifest \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        let (parsed, goodEnd) = try Self.parse(bytes, path: path)
        entries = parsed
        if goodEnd < bytes.count {
            guard ftruncate(fd, off_t(goodEnd)) == 0 else {
                throw BatchError.failure("cannot repair torn manifest \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Whole entries and the offset just past the last whole line.
    static func parse(_ bytes: [UInt8], path: String) throws -> (entries: [ManifestEntry], goodEnd: Int) {
        let decoder = JSONDecoder()
        var entries: [ManifestEntry] = []
        var goodEnd = 0
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let line = Data(bytes[start..<newline])
            if !line.isEmpty {
                guard let entry = try? decoder.decode(ManifestEntry.self, from: line) else {
                    // Only the last line can be torn; damage earlier means someone edited the file.
                    if bytes[(newline + 1)...].contains(where: { $0 != UInt8(ascii: "\n") }) {
                        throw BatchError.failure("\(path): line \(entries.count + 1) is not a manifest entry")
                    }
                    break
                }
                entries.append(entry)
            }
            start = newline + 1
            goodEnd = start
        }
        return (entries, goodEnd)
    }

    public var finishedClips: Set<String> { Set(entries.map(\.clip)) }

    /// Appends one entry (one write unless the disk fills) and syncs it to disk before returning.
    public func append(_ entry: ManifestEntry) throws {
        // A writing step: a signal never cuts a line in half (see AtomicOutput.step).
        try AtomicOutput.step { try appendLine(entry) }
    }

    private func appendLine(_ entry: ManifestEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(UInt8(ascii: "\n"))
        let start = lseek(fd, 0, SEEK_END)
        var offset = 0
        while offset < line.count {
            // A short write (full disk, file-size limit) is retried: the retry fails with the reason.
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard n > 0 else {
                let reason = n < 0 ? String(cString: strerror(errno)) : "no progress writing"
                // Undo a partial line so the file stays a valid manifest.
                if start >= 0 { _ = ftruncate(fd, start) }
                throw BatchError.failure("cannot append to manifest \(path): \(reason)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            throw BatchError.failure("cannot sync manifest \(path): \(String(cString: strerror(errno)))")
        }
        entries.append(entry)
    }
}
