import Foundation
import XCTest
import PARVideo

/// `merge` trusts nothing in a shard: manifest paths must be the clip's own
/// plain names, clips must be regular files (not links, not folders), and a
/// refused merge writes nothing at all, shard manifests included.
final class MergeSafetyTests: XCTestCase {
    let model = fixturesDir.appendingPathComponent("pipeline/tiny").path

    func run(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
        try runParVideo(args, in: dir, shell: "timeout 120")
    }

    /// Two shards of a 6-clip run in s0/ and s1/.
    func shards(in dir: URL) throws {
        for k in 0..<2 {
            let r = try run(["batch", "--model", model, "--threads", "1", "--quiet", "--count", "6", "--seed", "3",
                             "--shard", "\(k)/2", "-o", "s\(k)"], in: dir)
            XCTAssertEqual(r.code, 0, r.err)
        }
    }

    func manifest(_ dir: URL, _ k: Int) -> URL { dir.appendingPathComponent("s\(k)/manifest.shard-\(k)-of-2.jsonl") }

    /// Everything under `dir`, path -> bytes (folders as empty), to show a merge changed nothing.
    func snapshot(_ dir: URL) -> [String: Data] {
        var files: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        while let rel = e.nextObject() as? String {
            files[rel] = (try? Data(contentsOf: dir.appendingPathComponent(rel))) ?? Data()
        }
        return files
    }

    func assertRefusedWritingNothing(_ dir: URL, _ needle: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = snapshot(dir)
        for args in [["merge", "s0", "s1", "-o", "merged"], ["merge", "s0", "s1", "-o", "s0"]] {
            let r = try run(args, in: dir)
            XCTAssertEqual(r.code, 1, r.err, file: file, line: line)
            XCTAssertTrue(r.err.hasPrefix("error: cannot merge") && r.err.contains(needle), r.err, file: file, line: line)
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err, file: file, line: line)
        }
        XCTAssertEqual(snapshot(dir), before, "a refused merge wrote something", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("merged").path), file: file, line: line)
    }

    func rewrite(_ url: URL, _ change: (String) -> String) throws {
        try change(try String(contentsOf: url, encoding: .utf8)).write(to: url, atomically: true, encoding: .utf8)
    }

    func testManifestPathsOutsideTheShardAreRefused() throws {
        let dir = try scratchFolder()
        try shards(in: dir)
        let m0 = manifest(dir, 0)
        let original = try String(contentsOf: m0, encoding: .utf8)
        // clip 0 claims a file of the other shard; then an absolute path; then a second path.
        for bad in ["../s1/clip_000001_a001.mp4", dir.path + "/s1/clip_000001_a001.mp4", "clip_000000_a000.mp4\",\"../s1"] {
            try rewrite(m0) { _ in original.replacingOccurrences(of: "\"clip_000000_a000.mp4\"", with: "\"\(bad)\"") }
            try assertRefusedWritingNothing(dir, "lists paths")
        }
        try original.write(to: m0, atomically: true, encoding: .utf8)
        let ok = try run(["merge", "s0", "s1", "-o", "merged"], in: dir)
        XCTAssertEqual(ok.code, 0, ok.err)
        XCTAssertEqual(listing(dir.appendingPathComponent("merged")).filter { $0.hasSuffix(".mp4") }.count, 6)
    }

    func testClipsThatAreLinksOrFoldersAreRefused() throws {
        let dir = try scratchFolder()
        try shards(in: dir)
        let clip = dir.appendingPathComponent("s1/clip_000003_a000.mp4")
        let saved = try Data(contentsOf: clip)
        try FileManager.default.removeItem(at: clip)
        XCTAssertEqual(symlink("/etc/passwd", clip.path), 0)
        try assertRefusedWritingNothing(dir, "symbolic link")
        try FileManager.default.removeItem(at: clip)
        try FileManager.default.createDirectory(at: clip, withIntermediateDirectories: false)
        try assertRefusedWritingNothing(dir, "a folder, not a regular file")
        try FileManager.default.removeItem(at: clip)
        try saved.write(to: clip)
        let ok = try run(["merge", "s0", "s1", "-o", "merged"], in: dir)
        XCTAssertEqual(ok.code, 0, ok.err)
        var st = stat()
        XCTAssertEqual(lstat(dir.appendingPathComponent("merged/clip_000003_a000.mp4").path, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG)
    }

    func testTornManifestLineIsLeftAsItIsByAFailedMerge() throws {
        let dir = try scratchFolder()
        try shards(in: dir)
        // A shard killed while appending: a torn last line, and its clip is not there.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("s1/clip_000005_a002.mp4"))
        let m1 = manifest(dir, 1)
        var text = try String(contentsOf: m1, encoding: .utf8)
        text = text.components(separatedBy: "\n").filter { !$0.contains("clip_000005") }.joined(separator: "\n") + "{\"clip\":\"clip_00"
        try text.write(to: m1, atomically: true, encoding: .utf8)
        try assertRefusedWritingNothing(dir, "1 of 6 clips missing (indices 5;")
        XCTAssertEqual(try String(contentsOf: m1, encoding: .utf8), text, "the shard's manifest was rewritten")
    }
}
