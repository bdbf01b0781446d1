import Foundation
import XCTest
import PARVideo

/// `par-video batch` and `merge` end to end on the tiny fixture bundle
/// (3 classes Wave/Jump/Spin, 9-frame 32x32 clips), run as the built binary.
final class BatchTests: XCTestCase {
    let model = fixturesDir.appendingPathComponent("pipeline/tiny").path

    @discardableResult
    func run(_ args: [String], in dir: URL, shell prefix: String? = nil,
             binary: URL = CLITests.binary) throws -> (code: Int32, out: String, err: String) {
        try runParVideo(args, in: dir, shell: prefix, binary: binary)
    }

    func batch(_ extra: [String], to out: String, in dir: URL) throws -> (code: Int32, out: String, err: String) {
        try run(["batch", "--model", model, "--threads", "1", "--quiet", "-o", out] + extra, in: dir)
    }

    /// Every output file of a run folder (clips, frame PNGs, labels), path -> bytes;
    /// run.json and manifests are compared separately (they hold timings and shard names).
    func clipFiles(_ dir: URL) -> [String: Data] {
        var files: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        while let rel = e.nextObject() as? String {
            let url = dir.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { continue }
            guard !isDir.boolValue, rel.hasPrefix("clip_") else { continue }
            files[rel] = try? Data(contentsOf: url)
        }
        return files
    }

    func manifestClips(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            try JSONDecoder().decode(ManifestEntry.self, from: Data(line.utf8)).clip
        }
    }

    func testTwoClassesThreeClipsIntoMP4AndFrames() throws {
        let dir = try scratchFolder()
        let r = try batch(["--actions", "Wave,Jump", "--per-class", "3", "--format", "both", "--seed", "7"], to: "run", in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        let runDir = dir.appendingPathComponent("run")
        let names = ["clip_000000_a000", "clip_000001_a001", "clip_000002_a000", "clip_000003_a001", "clip_000004_a000", "clip_000005_a001"]
        XCTAssertEqual(listing(runDir), (names.flatMap { [$0, "\($0).mp4"] } + ["labels.csv", "manifest.jsonl", "run.json"]).sorted())
        for n in names {
            XCTAssertEqual(listing(runDir.appendingPathComponent(n)), (0..<9).map { String(format: "%06d.png", $0) })
            let clip = try VideoReader.read(runDir.appendingPathComponent("\(n).mp4"))
            XCTAssertEqual(clip.count, 9)
            XCTAssertEqual(clip.width, 32)
        }
        XCTAssertEqual(try manifestClips(runDir.appendingPathComponent("manifest.jsonl")), names)
        let labels = try String(contentsOf: runDir.appendingPathComponent("labels.csv"), encoding: .utf8)
        XCTAssertEqual(labels, "clip,label\n" + names.map { "\($0),\($0.hasSuffix("a000") ? 0 : 1)\n" }.joined())
        // Six different clips: every clip has its own seed.
        XCTAssertEqual(Set(names.map { clipFiles(runDir)["\($0).mp4"]! }).count, 6)

        // The same command again renders nothing and rewrites nothing.
        let before = clipFiles(runDir)
        let mtime = try FileManager.default.attributesOfItem(atPath: runDir.appendingPathComponent("\(names[0]).mp4").path)[.modificationDate] as! Date
        let again = try run(["batch", "--model", model, "--actions", "wave,jump", "--per-class", "3", "--format", "both",
                             "--seed", "7", "--json", "-o", "run"], in: dir)
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertTrue(again.out.contains("\"rendered\":0") && again.out.contains("\"skipped\":6"), again.out)
        XCTAssertEqual(clipFiles(runDir), before)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: runDir.appendingPathComponent("\(names[0]).mp4").path)[.modificationDate] as? Date, mtime)

        // A different run into the same folder is refused, and leaves it alone.
        let other = try batch(["--actions", "Wave,Jump", "--per-class", "3", "--format", "both", "--seed", "8"], to: "run", in: dir)
        XCTAssertEqual(other.code, 2)
        XCTAssertTrue(other.err.hasPrefix("error: ") && other.err.contains("holds a different run") && other.err.contains("seed: 7 -> 8"), other.err)
        XCTAssertEqual(other.err.filter { $0 == "\n" }.count, 1)
        XCTAssertEqual(clipFiles(runDir), before)
    }

    /// `--frames` beyond the clip length extends every clip; its first clip-length frames are the
    /// clip a default run renders (same seed), whatever the batch size, and run.json records N.
    func testFramesBeyondTheClipLengthExtendEveryClip() throws {
        let dir = try scratchFolder()
        XCTAssertEqual(try batch(["--actions", "Wave,Spin", "--per-class", "1", "--format", "frames", "--frames", "14",
                                  "--batch", "2"], to: "long", in: dir).code, 0)
        XCTAssertEqual(try batch(["--actions", "Wave,Spin", "--per-class", "1", "--format", "frames"], to: "short", in: dir).code, 0)
        let long = dir.appendingPathComponent("long"), short = dir.appendingPathComponent("short")
        for name in ["clip_000000_a000", "clip_000001_a002"] {
            XCTAssertEqual(listing(long.appendingPathComponent(name)), (0..<14).map { String(format: "%06d.png", $0) })
            for f in 0..<9 {
                let png = "\(name)/\(String(format: "%06d.png", f))"
                XCTAssertEqual(try Data(contentsOf: long.appendingPathComponent(png)),
                               try Data(contentsOf: short.appendingPathComponent(png)), png)
            }
        }
        let entries = try String(contentsOf: long.appendingPathComponent("manifest.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode(ManifestEntry.self, from: Data($0.utf8)) }
        XCTAssertEqual(entries.map(\.frames), [14, 14])
        // Resuming with another --frames is a different run.
        let r = try batch(["--actions", "Wave,Spin", "--per-class", "1", "--format", "frames", "--frames", "20"], to: "long", in: dir)
        XCTAssertEqual(r.code, 2)
        XCTAssertTrue(r.err.contains("frames"), r.err)
    }

    func testSameSeedGivesIdenticalBytesWhateverTheBatchSize() throws {
        let dir = try scratchFolder()
        // Not on a terminal: one plain progress line per clip on stderr.
        let a0 = try run(["batch", "--model", model, "--per-class", "2", "--seed", "3", "-o", "a"], in: dir)
        XCTAssertEqual(a0.code, 0, a0.err)
        let lines = a0.err.split(separator: "\n")
        XCTAssertEqual(lines.first, "batch: 6 clips to render")
        XCTAssertEqual(lines.count, 7, a0.err)
        XCTAssertTrue(lines.last!.hasPrefix("6/6 clip_000005_a002 (Spin)  ") && lines.last!.contains(" clips/s  ETA 0:00"), a0.err)
        XCTAssertTrue(a0.out.hasPrefix("a: 6 clips rendered, 0 already there, 6/6 finished"), a0.out)
        XCTAssertEqual(try batch(["--per-class", "2", "--seed", "3", "--batch", "4"], to: "b", in: dir).code, 0)
        XCTAssertEqual(try batch(["--per-class", "2", "--seed", "4"], to: "c", in: dir).code, 0)
        let a = clipFiles(dir.appendingPathComponent("a")), b = clipFiles(dir.appendingPathComponent("b"))
        let c = clipFiles(dir.appendingPathComponent("c"))
        XCTAssertEqual(a.count, 6)
        XCTAssertEqual(a, b, "same seed and settings, other --batch: the MP4 bytes differ")
        XCTAssertNotEqual(a, c, "another seed gave the same clips")
    }

    func testSIGKILLedRunResumesToTheUninterruptedResult() throws {
        let dir = try scratchFolder()
        let args = ["batch", "--model", model, "--threads", "1", "--quiet", "--count", "40", "--format", "both", "--seed", "11"]
        XCTAssertEqual(try run(args + ["-o", "whole"], in: dir).code, 0)

        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args + ["-o", "killed"]
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let manifest = dir.appendingPathComponent("killed/manifest.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning {
            if let text = try? String(contentsOf: manifest, encoding: .utf8), text.filter({ $0 == "\n" }).count >= 2 { break }
            usleep(2_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run ended before it could be killed")
        let killedDir = dir.appendingPathComponent("killed")
        let finishedAtKill = try manifestClips(manifest)
        XCTAssertGreaterThanOrEqual(finishedAtKill.count, 2)
        XCTAssertLessThan(finishedAtKill.count, 40)
        let inode = { (rel: String) in try FileManager.default.attributesOfItem(atPath: killedDir.appendingPathComponent(rel).path)[.systemFileNumber] as? Int }
        let inodesAtKill = try finishedAtKill.map { try inode("\($0).mp4") }

        // A kill during the manifest append leaves a torn last line: dropped, that clip rendered again.
        let h = try FileHandle(forWritingTo: manifest)
        h.seekToEndOfFile()
        h.write(Data("{\"action\":1,\"action_n".utf8))
        try h.close()

        let resumed = try run(args + ["-o", "killed", "--json"], in: dir)
        XCTAssertEqual(resumed.code, 0, resumed.err)
        XCTAssertTrue(resumed.out.contains("\"skipped\":\(finishedAtKill.count)"), resumed.out)
        XCTAssertEqual(clipFiles(killedDir), clipFiles(dir.appendingPathComponent("whole")), "resumed run differs from the uninterrupted one")
        XCTAssertEqual(clipFiles(killedDir).count, 40 * 10)
        XCTAssertEqual(try finishedAtKill.map { try inode("\($0).mp4") }, inodesAtKill, "a finished clip was rewritten")
        XCTAssertEqual(Set(try manifestClips(manifest)), Set(try manifestClips(dir.appendingPathComponent("whole/manifest.jsonl"))))
        XCTAssertEqual(try Data(contentsOf: killedDir.appendingPathComponent("labels.csv")),
                       try Data(contentsOf: dir.appendingPathComponent("whole/labels.csv")))
        XCTAssertFalse(listing(killedDir).contains { $0.hasPrefix(".") }, "temporaries left: \(listing(killedDir))")
    }

    func testThreeShardsMergedEqualTheWholeRun() throws {
        let dir = try scratchFolder()
        let args = ["--count", "12", "--actions", "all", "--seed", "5"]
        XCTAssertEqual(try batch(args, to: "whole", in: dir).code, 0)
        // Shards sharing one folder (a cluster file system), merged in place ...
        for k in 0..<3 { XCTAssertEqual(try batch(args + ["--shard", "\(k)/3", "--batch", "2"], to: "shared", in: dir).code, 0) }
        // ... and shards in their own folders, merged into a new one.
        for k in 0..<3 { XCTAssertEqual(try batch(args + ["--shard", "\(k)/3"], to: "s\(k)", in: dir).code, 0) }
        XCTAssertEqual(listing(dir.appendingPathComponent("s1")).filter { $0.hasSuffix(".mp4") }.count, 4)

        let missing = try run(["merge", "s0", "s2", "-o", "merged"], in: dir)
        XCTAssertEqual(missing.code, 1)
        XCTAssertTrue(missing.err.contains("missing shard 1/3"), missing.err)
        let doubled = try run(["merge", "s0", "s1", "s2", "s1", "-o", "merged"], in: dir)
        XCTAssertEqual(doubled.code, 1)
        XCTAssertTrue(doubled.err.contains("given twice"), doubled.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("merged").path))
        // A shard with a lost clip: merge names it.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("s2/clip_000005_a002.mp4"))
        let lost = try run(["merge", "s0", "s1", "s2", "-o", "merged"], in: dir)
        XCTAssertEqual(lost.code, 1)
        XCTAssertTrue(lost.err.contains("1 of 12 clips missing (indices 5;"), lost.err)
        XCTAssertEqual(try batch(args + ["--shard", "2/3"], to: "s2", in: dir).code, 0)

        let inPlace = try run(["merge", "shared"], in: dir)
        XCTAssertEqual(inPlace.code, 0, inPlace.err)
        let separate = try run(["merge", "s0", "s1", "s2", "-o", "merged"], in: dir)
        XCTAssertEqual(separate.code, 0, separate.err)
        XCTAssertTrue(separate.out.contains("12 clips from 3 shards"), separate.out)

        let whole = dir.appendingPathComponent("whole")
        for name in ["shared", "merged"] {
            let m = dir.appendingPathComponent(name)
            XCTAssertEqual(clipFiles(m), clipFiles(whole), name)
            XCTAssertEqual(try manifestClips(m.appendingPathComponent("manifest.jsonl")), try manifestClips(whole.appendingPathComponent("manifest.jsonl")))
            XCTAssertEqual(try Data(contentsOf: m.appendingPathComponent("labels.csv")), try Data(contentsOf: whole.appendingPathComponent("labels.csv")))
        }
        // The merged folder is the whole run: its command resumes there with nothing to do.
        let rerun = try run(["batch", "--model", model, "--json", "-o", "merged"] + args, in: dir)
        XCTAssertEqual(rerun.code, 0, rerun.err)
        XCTAssertTrue(rerun.out.contains("\"rendered\":0"), rerun.out)
    }

    func testInvalidValuesExit2WithOneLine() throws {
        let dir = try scratchFolder()
        try Data().write(to: dir.appendingPathComponent("afile"))
        let cases: [([String], String)] = [
            (["--per-class", "2"], "-o"),
            (["--per-class", "0", "-o", "r"], "--per-class 0"),
            (["--count", "0", "-o", "r"], "--count 0"),
            (["-o", "r"], "give --per-class K or --count N"),
            (["--per-class", "1", "--count", "3", "-o", "r"], "exclude each other"),
            (["--per-class", "1", "--labels", "afile", "-o", "r"], "--labels needs --count"),
            (["--count", "2", "--labels", "nosuch.csv", "-o", "r"], "--labels nosuch.csv"),
            (["--per-class", "1", "--batch", "0", "-o", "r"], "--batch 0"),
            (["--per-class", "1", "--shard", "3/3", "-o", "r"], "--shard 3/3"),
            (["--per-class", "1", "--shard", "x", "-o", "r"], "--shard must be K/N"),
            (["--per-class", "1", "--actions", "Wave,Dance", "-o", "r"], "unknown action 'Dance'"),
            (["--per-class", "1", "--actions", "5", "-o", "r"], "action id 5 is out of range"),
            (["--per-class", "1", "--format", "gif", "-o", "r"], "--format"),
            (["--per-class", "1", "-y", "-o", "r"], "batch never replaces a clip"),
            (["--per-class", "1", "-o", "-"], "batch writes a run folder"),
            (["--per-class", "1", "--size", "33", "-o", "r"], "must be even"),
            (["--per-class", "1", "--fps", "-1", "-o", "r"], "--fps"),
            (["--per-class", "1", "--top-p", "0", "-o", "r"], "--top-p"),
            (["--per-class", "1", "--temperature", "0", "-o", "r"], "--temperature"),
            (["--per-class", "1", "--parallel", "2", "-o", "r"], "--parallel 2"),
            (["--per-class", "1", "--parallel", "16", "-o", "r"], "no model trained for --parallel 16"),
            (["--per-class", "1", "--threads", "0", "-o", "r"], "--threads 0"),
            (["--per-class", "1", "-o", "afile"], "exists and is not a folder"),
            (["--per-class", "1", "-o", "nosuch/r"], "does not exist"),
            (["--per-class", "1", "-o", "afile/r"], "is not a folder"),
        ]
        for (args, expected) in cases {
            let r = try run(["batch", "--model", model] + args, in: dir)
            XCTAssertEqual(r.code, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains(expected), "\(args): \(r.err)")
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, "\(args): not one line: \(r.err)")
        }
        XCTAssertEqual(listing(dir), ["afile"], "an invalid command left files behind")
        let m = try run(["merge", "afile"], in: dir)
        XCTAssertEqual(m.code, 2, m.err)
        let m2 = try run(["merge", dir.path, dir.path], in: dir)
        XCTAssertEqual(m2.code, 2)
        XCTAssertTrue(m2.err.contains("needs -o OUT"), m2.err)
    }

    func testFullDiskAndUnwritableFolderFailCleanlyKeepingFinishedClips() throws {
        let dir = try scratchFolder()
        // A file-size limit stands in for a full disk: the manifest grows by a
        // line per clip until a write fails (EFBIG) part way through the run.
        let args = ["batch", "--model", model, "--threads", "1", "--quiet", "--count", "40", "--seed", "2", "-o", "run"]
        let r = try run(args, in: dir, shell: "ulimit -f 12; exec")
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains("finished clips are kept in run"), r.err)
        XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
        let runDir = dir.appendingPathComponent("run")
        let kept = try manifestClips(runDir.appendingPathComponent("manifest.jsonl"))
        XCTAssertGreaterThan(kept.count, 0)
        XCTAssertLessThan(kept.count, 40)
        XCTAssertFalse(listing(runDir).contains { $0.hasPrefix(".") }, "temporaries left: \(listing(runDir))")
        XCTAssertEqual(listing(runDir).filter { $0.hasSuffix(".mp4") }.count, kept.count, "a clip outside the manifest was left")
        for c in kept { XCTAssertEqual(try VideoReader.read(runDir.appendingPathComponent("\(c).mp4")).count, 9, c) }

        // With room again, the same command finishes the run.
        let done = try run(args + ["--json"], in: dir)
        XCTAssertEqual(done.code, 0, done.err)
        XCTAssertTrue(done.out.contains("\"skipped\":\(kept.count)"), done.out)
        XCTAssertEqual(listing(runDir).filter { $0.hasSuffix(".mp4") }.count, 40)

        // An output folder that cannot be written: read-only for a user; root
        // ignores permissions, so as root the run drops to user nobody.
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: runDir.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: runDir.path) }
        var asUser: String? = nil
        var roArgs = args
        var binary = CLITests.binary
        if getuid() == 0 {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
            asUser = "exec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups"
            // The checkout may sit in a folder only root can enter: give
            // nobody its own copies of the binary and the model.
            binary = dir.appendingPathComponent("par-video")
            try FileManager.default.copyItem(at: CLITests.binary, to: binary)
            let modelCopy = dir.appendingPathComponent("tiny")
            try FileManager.default.copyItem(at: URL(fileURLWithPath: model), to: modelCopy)
            roArgs[roArgs.firstIndex(of: model)!] = modelCopy.path
        }
        let before = clipFiles(runDir)
        let ro = try run(roArgs, in: dir, shell: asUser, binary: binary)
        XCTAssertEqual(ro.code, 2, ro.err)
        XCTAssertTrue(ro.err.contains("not writable"), ro.err)
        XCTAssertEqual(clipFiles(runDir), before)
    }

    /// A real full disk: a 120 KiB tmpfs (needs root, else skipped).
    func testFullTmpfsStopsCleanlyKeepingFinishedClips() throws {
        let dir = try scratchFolder()
        let small = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: false)
        func sh(_ cmd: String) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", cmd]
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        guard getuid() == 0, try sh("mount -t tmpfs -o size=120k tmpfs '\(small.path)'") == 0 else {
            throw XCTSkip("cannot mount a tmpfs here")
        }
        addTeardownBlock { _ = try? sh("umount '\(small.path)'") }

        let r = try batch(["--count", "40", "--seed", "9"], to: "small/r", in: dir)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains("No space left on device")
                      && r.err.contains("finished clips are kept in small/r"), r.err)
        XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
        let runDir = small.appendingPathComponent("r")
        let kept = try manifestClips(runDir.appendingPathComponent("manifest.jsonl"))
        XCTAssertGreaterThan(kept.count, 0)
        XCTAssertLessThan(kept.count, 40)
        XCTAssertFalse(listing(runDir).contains { $0.hasPrefix(".") }, "temporaries left: \(listing(runDir))")
        XCTAssertEqual(listing(runDir).filter { $0.hasSuffix(".mp4") }, kept.map { "\($0).mp4" }.sorted())
        for c in kept { XCTAssertEqual(try VideoReader.read(runDir.appendingPathComponent("\(c).mp4")).count, 9, c) }

        // A new run on the full disk: one line, nothing left behind.
        let f = try batch(["--count", "4", "--format", "frames"], to: "small/f", in: dir)
        XCTAssertEqual(f.code, 1, f.err)
        XCTAssertTrue(f.err.contains("No space left on device"), f.err)
        XCTAssertEqual(f.err.filter { $0 == "\n" }.count, 1, f.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: small.appendingPathComponent("f").path))
    }
}
