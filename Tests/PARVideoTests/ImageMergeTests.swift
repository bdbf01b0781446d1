import Foundation
import XCTest
import PARVideo

/// `merge` of an image model's shards (Tests/Fixtures/image/tiny): the merged
/// folder's images and its one samples.npz are an unsharded run's bytes; a
/// refused merge (missing shard, overlap, another model) writes nothing.
final class ImageMergeTests: XCTestCase {
    let model = ImageCLITests.model
    let plan = ["--actions", "0-3", "--per-class", "2", "--seed", "7"]

    func run(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
        try runParVideo(args, in: dir, shell: "timeout 300")
    }

    func batch(_ extra: [String], model: String? = nil, plan: [String]? = nil, in dir: URL) throws {
        let r = try run(["batch", "--model", model ?? self.model, "--quiet", "--threads", "1"] + (plan ?? self.plan) + extra, in: dir)
        XCTAssertEqual(r.code, 0, r.err)
    }

    func data(_ dir: URL, _ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }

    /// The manifest's lines without their render times.
    func clips(_ dir: URL, _ name: String) throws -> [String] {
        try String(decoding: data(dir, name), as: UTF8.self).split(separator: "\n")
            .map { $0.replacingOccurrences(of: #""seconds":[0-9.e-]+,"#, with: "", options: .regularExpression) }
    }

    func snapshot(_ dir: URL) -> [String: Data] {
        var files: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        while let rel = e.nextObject() as? String { files[rel] = (try? Data(contentsOf: dir.appendingPathComponent(rel))) ?? Data() }
        return files
    }

    func testShardedMergeIsTheUnshardedRunByteForByte() throws {
        let dir = try scratchFolder()
        try batch(["-o", "whole"], in: dir)
        for k in 0..<3 { try batch(["--shard", "\(k)/3", "-o", "s\(k)"], in: dir) }
        for k in 0..<3 { try batch(["--shard", "\(k)/3", "-o", "shared"], in: dir) }
        let apart = try run(["merge", "s0", "s1", "s2", "-o", "merged", "--json"], in: dir)
        XCTAssertEqual(apart.code, 0, apart.err)
        XCTAssertTrue(apart.out.contains("\"npz\":"), apart.out)
        let inPlace = try run(["merge", "shared"], in: dir)
        XCTAssertEqual(inPlace.code, 0, inPlace.err)
        XCTAssertTrue(inPlace.out.contains("samples.npz written"), inPlace.out)
        let whole = try data(dir, "whole/samples.npz")
        let pngs = listing(dir.appendingPathComponent("whole")).filter { $0.hasSuffix(".png") }
        XCTAssertEqual(pngs.count, 8)
        for folder in ["merged", "shared"] {
            XCTAssertEqual(try data(dir, "\(folder)/samples.npz"), whole, folder)
            for n in pngs + ["labels.csv"] { XCTAssertEqual(try data(dir, "\(folder)/\(n)"), try data(dir, "whole/\(n)"), n) }
            XCTAssertEqual(try clips(dir, "\(folder)/manifest.jsonl"), try clips(dir, "whole/manifest.jsonl"), folder)
        }
        // Each shard's own sample batch holds only its images: the merged one is not their concatenation.
        XCTAssertNotEqual(try data(dir, "s0/samples.shard-0-of-3.npz").count, whole.count)
    }

    func testRefusedMergesWriteNothing() throws {
        let dir = try scratchFolder()
        for k in 0..<3 { try batch(["--shard", "\(k)/3", "-o", "s\(k)"], in: dir) }
        try batch(["--shard", "1/3", "-o", "again"], in: dir)
        try batch(["--shard", "2/3", "--seed", "8", "-o", "other"], in: dir)
        // The video fixture has 3 classes: a plan of its own, the same shard split.
        try batch(["--shard", "2/3", "-o", "video"], model: PipelineTests.tiny, plan: ["--actions", "0-2", "--per-class", "1", "--seed", "7"], in: dir)
        let before = snapshot(dir)
        for (args, needle) in [
            (["s0", "s1"], "missing shard 2/3 of 3"),
            (["s0", "s1", "s2", "again"], "shard 1/3 is given twice"),
            (["s0", "s1", "other"], "belongs to a different run"),
            (["s0", "s1", "video"], "belongs to a different run"),
        ] {
            let r = try run(["merge"] + args + ["-o", "merged"], in: dir)
            XCTAssertNotEqual(r.code, 0, "\(args)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
            XCTAssertTrue(r.err.contains(needle), "\(args): \(r.err)")
            XCTAssertEqual(snapshot(dir), before, "\(args): a refused merge wrote something")
        }
    }
}
