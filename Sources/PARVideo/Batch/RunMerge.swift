import Foundation

/// Joins the shards of one batch run into one run folder (manifest.jsonl,
/// labels.csv, run.json, and an image run's samples.npz), after checking that every clip of the run is there
/// exactly once with its files. Nothing is written (no shard's torn manifest
/// line repaired either) until every check has passed.
public enum RunMerge {
    public struct Summary: Sendable {
        public let output: URL
        public let clips: Int, shards: Int
        /// Clips linked or copied in from other folders.
        public let copied: Int
        public let files: RunFiles
        /// An image run's merged sample batch: every image in clip order, as an unsharded run writes it.
        public let npz: URL?
    }

    /// `sources`: the folders holding the shards; `output`: the merged
    /// folder (nil: the single source, in place).
    public static func merge(_ sources: [URL], into output: URL? = nil) throws -> Summary {
        let sources = sources.map(\.standardizedFileURL)
        var shards: [(files: RunFiles, settings: RunSettings)] = []
        for dir in sources {
            let found = RunFiles.all(in: dir)
            guard !found.isEmpty else { throw fail("\(dir.path): no run.json or run.shard-K-of-N.json (not a batch run folder)") }
            for f in found { shards.append((f, try RunSettings.read(f.run))) }
        }
        // An unsharded run.json next to shard files is an earlier merge: the shards decide.
        if shards.contains(where: { $0.files.shard.count > 1 }) { shards.removeAll { $0.files.shard.count == 1 } }

        let reference = shards[0].settings
        for s in shards.dropFirst() {
            let diff = s.settings.differences(from: reference)
            guard diff.isEmpty else {
                throw fail("\(s.files.run.path) belongs to a different run than \(shards[0].files.run.path) (\(diff.joined(separator: "; ")))")
            }
        }
        let n = shards[0].files.shard.count
        guard shards.allSatisfy({ $0.files.shard.count == n }) else {
            throw fail("the shards split the run differently: \(shards.map { $0.files.shard.description }.joined(separator: ", "))")
        }
        var byShard: [Int: RunFiles] = [:]
        for s in shards {
            if let other = byShard[s.files.shard.index] {
                throw fail("shard \(s.files.shard) is given twice: \(other.dir.path) and \(s.files.dir.path)")
            }
            byShard[s.files.shard.index] = s.files
        }
        let missingShards = (0..<n).filter { byShard[$0] == nil }
        guard missingShards.isEmpty else {
            throw fail("missing shard\(missingShards.count > 1 ? "s" : "") \(missingShards.map { "\($0)/\(n)" }.joined(separator: ", ")) of \(n)")
        }
        guard let format = BatchFormat(rawValue: reference.format) else {
            throw fail("\(shards[0].files.run.path): unknown output format '\(reference.format)'")
        }
        let clips = try collect((0..<n).map { byShard[$0]! }, reference: reference, format: format)

        let out = (output ?? sources[0]).standardizedFileURL
        let merged = RunFiles(dir: out, shard: .whole)
        let entries = clips.keys.sorted().map { clips[$0]!.entry }
        let copies = try plan(entries, clips: clips, into: out, merged: merged, reference: reference, sources: sources)
        try write(entries, copies: copies, into: out, merged: merged, reference: reference, format: format)
        return Summary(output: out, clips: entries.count, shards: n, copied: copies.count, files: merged,
                       npz: format == .png ? merged.npz : nil)
    }

    static func fail(_ text: String) -> BatchError { .failure(text) }

    /// Every clip of the run once, from the shard that owns it, with its files on disk.
    static func collect(_ shards: [RunFiles], reference: RunSettings,
                        format: BatchFormat) throws -> [Int: (entry: ManifestEntry, dir: URL)] {
        var clips: [Int: (entry: ManifestEntry, dir: URL)] = [:]
        var problems: [String] = []
        for files in shards {
            guard FileManager.default.fileExists(atPath: files.manifest.path) else { continue }
            let entries = try Manifest.entries(readingOnly: files.manifest.path)
            var latest: [String: ManifestEntry] = [:]
            for e in entries { latest[e.clip] = e }
            for entry in latest.values.sorted(by: { $0.index < $1.index }) {
                let spec = ClipSpec(index: entry.index, action: entry.action, seed: entry.seed)
                guard files.shard.contains(spec), entry.clip == spec.name,
                      entry.seed == clipSeed(base: reference.seed, index: entry.index),
                      (0..<reference.clips).contains(entry.index) else {
                    problems.append("\(entry.clip) in \(files.manifest.path) is not a clip of shard \(files.shard)")
                    continue
                }
                let expected = RunFolder.paths(of: spec.name, format: format)
                guard entry.paths == expected else {
                    problems.append("\(entry.clip) in \(files.manifest.path) lists paths \(entry.paths), a clip of this run has exactly \(expected)")
                    continue
                }
                switch RunFolder.state(of: entry, in: files.dir) {
                case .missing: continue  // not finished: counted as missing below
                case .bad(let why):
                    problems.append("\(entry.clip) in \(files.manifest.path): \(why)")
                    continue
                case .finished: break
                }
                if let other = clips[entry.index] {
                    problems.append("\(entry.clip) is doubled (\(other.dir.path) and \(files.dir.path))")
                    continue
                }
                clips[entry.index] = (entry, files.dir)
            }
        }
        let missing = (0..<reference.clips).filter { clips[$0] == nil }
        if !missing.isEmpty {
            let shown = missing.prefix(8).map(String.init).joined(separator: ", ")
            problems.append("\(missing.count) of \(reference.clips) clips missing (indices \(shown)\(missing.count > 8 ? ", ..." : ""); "
                            + "rerun their shards to finish them)")
        }
        guard problems.isEmpty else { throw fail("cannot merge: " + problems.joined(separator: "; ")) }
        return clips
    }

    /// The merged folder, checked whole before anything is created in it;
    /// returns the clip files to link (or copy) in.
    static func plan(_ entries: [ManifestEntry], clips: [Int: (entry: ManifestEntry, dir: URL)], into out: URL,
                     merged: RunFiles, reference: RunSettings, sources: [URL]) throws -> [(from: URL, to: URL)] {
        var copies: [(from: URL, to: URL)] = []
        do {
            var st = stat()
            if stat(out.path, &st) == 0 {
                guard st.st_mode & S_IFMT == S_IFDIR else { throw fail("-o \(out.path): exists and is not a folder") }
                guard access(out.path, W_OK) == 0 else { throw fail("-o \(out.path): folder is not writable") }
                if FileManager.default.fileExists(atPath: merged.run.path), !sources.contains(out) {
                    let diff = reference.differences(from: try RunSettings.read(merged.run), ignoring: ["shard"])
                    guard diff.isEmpty else { throw fail("\(out.path) holds a different run (\(diff.joined(separator: "; ")))") }
                }
                for url in [merged.manifest, merged.labels, merged.run] + (reference.format == BatchFormat.png.rawValue ? [merged.npz] : []) {
                    try AtomicOutput.checkWritable(url)
                }
            } else {
                try AtomicOutput.checkWritable(out, directory: true)
            }
            for entry in entries {
                let src = clips[entry.index]!.dir
                guard src != out else { continue }
                for p in entry.paths {
                    let dst = out.appendingPathComponent(p)
                    var dstat = stat()
                    if lstat(dst.path, &dstat) == 0 {
                        // Kept from an earlier merge into this folder, if it is the right kind of thing.
                        let wantFolder = !p.hasSuffix(".mp4") && !p.hasSuffix(".png")
                        guard dstat.st_mode & S_IFMT == (wantFolder ? S_IFDIR : S_IFREG) else {
                            throw fail("cannot merge: \(dst.path) is \(InputFile.describe(mode: dstat.st_mode)), not a clip")
                        }
                        continue
                    }
                    copies.append((src.appendingPathComponent(p), dst))
                }
            }
        } catch let e as VideoIOError { throw fail(e.description) }
        return copies
    }

    /// Clips (linked, else copied), an image run's sample batch (from the
    /// merged PNGs, in clip order), then manifest, labels, run.json.
    static func write(_ entries: [ManifestEntry], copies: [(from: URL, to: URL)], into out: URL,
                      merged: RunFiles, reference: RunSettings, format: BatchFormat) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: out.path) {
            do { try fm.createDirectory(at: out, withIntermediateDirectories: false) } catch {
                throw fail("cannot create folder \(out.path): \(error.localizedDescription)")
            }
        }
        do {
            for (from, dst) in copies {
                try AtomicOutput.write(to: dst, directory: false) { tmp in
                    try AtomicOutput.step {
                        do { try fm.linkItem(at: from, to: tmp) } catch { try fm.copyItem(at: from, to: tmp) }
                    }
                }
            }
            if format == .png {
                try RunFolder.writeSampleBatch(entries.map { out.appendingPathComponent("\($0.clip).png") }, to: merged.npz,
                                               width: reference.width, height: reference.height)
            }
            var lines = Data()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for e in entries { lines.append(try encoder.encode(e)); lines.append(UInt8(ascii: "\n")) }
            try RunFolder.writeAtomically(lines, to: merged.manifest)
            try RunFolder.writeLabels(entries, to: merged.labels)
            var whole = reference
            whole.shard = Shard.whole.description
            try whole.write(merged.run)
        } catch {
            throw fail("merging into \(out.path) failed: \(error)")
        }
    }
}
