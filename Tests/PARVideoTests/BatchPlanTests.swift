import Foundation
import XCTest
@testable import PARVideo

final class BatchPlanTests: XCTestCase {
    func testPerClassInterleavesActionsWithStableSeeds() {
        let clips = BatchPlan.perClass(actions: [3, 7], clipsPerClass: 3, baseSeed: 42)
        XCTAssertEqual(clips.map(\.action), [3, 7, 3, 7, 3, 7])
        XCTAssertEqual(clips.map(\.index), Array(0..<6))
        XCTAssertEqual(Set(clips.map(\.seed)).count, 6, "every clip gets its own seed")
        XCTAssertEqual(clips[4].seed, clipSeed(base: 42, index: 4))
        XCTAssertNotEqual(clipSeed(base: 42, index: 4), clipSeed(base: 43, index: 4))
        XCTAssertEqual(clips[5].name, "clip_000005_a007")
    }

    func testShardsAreDisjointAndCoverTheRun() throws {
        let clips = try BatchPlan.count(12, actions: [0, 1, 2], labels: nil, baseSeed: 1)
        var seen: [Int] = []
        for k in 0..<3 {
            let shard = try Shard(parsing: "\(k)/3")
            let mine = clips.filter(shard.contains)
            XCTAssertEqual(mine.count, 4)
            seen += mine.map(\.index)
        }
        XCTAssertEqual(seen.sorted(), Array(0..<12))
        for bad in ["3/3", "-1/3", "1", "a/b", "0/0"] {
            XCTAssertThrowsError(try Shard(parsing: bad), bad)
        }
    }

    func testLabelsDriveClassMatchedCounts() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("labels-\(UUID()).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        try "clip,label\nclip_000000_a005,5\nclip_000001_a002,2\n".write(to: url, atomically: true, encoding: .utf8)
        let labels = try BatchPlan.readLabels(path: url.path) { guard let v = Int($0) else { throw BatchError.usage("bad \($0)") }; return v }
        XCTAssertEqual(labels, [5, 2])
        let clips = try BatchPlan.count(2, actions: [], labels: labels, baseSeed: 9)
        XCTAssertEqual(clips.map(\.action), [5, 2])
        XCTAssertThrowsError(try BatchPlan.count(3, actions: [], labels: labels, baseSeed: 9))
    }
}

final class ManifestTests: XCTestCase {
    private func entry(_ i: Int) -> ManifestEntry {
        ManifestEntry(clip: "clip_\(i)", index: i, paths: ["clip_\(i).mp4"], action: i % 2, actionName: "A", seed: UInt64(i),
                      parallel: 4, steps: 83, seconds: 1.5, frames: 16, width: 64, height: 64, fps: 8,
                      cfg: 1.15, temperature: 1, topK: 100, topP: 1, model: "m", version: "v")
    }

    func testTornLastLineIsDroppedAndRepaired() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID()).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            let m = try Manifest(path: url.path)
            try m.append(entry(0))
            try m.append(entry(1))
        }
        // Simulate a kill in the middle of the third write.
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        handle.write(Data("{\"clip\":\"clip_2\",\"ind".utf8))
        handle.closeFile()
        let reopened = try Manifest(path: url.path)
        XCTAssertEqual(reopened.entries, [entry(0), entry(1)])
        try reopened.append(entry(2))
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(try Manifest(path: url.path).finishedClips, ["clip_0", "clip_1", "clip_2"])
    }

    func testDamageBeforeTheLastLineIsAnError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID()).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try "garbage\n{}\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Manifest(path: url.path)) { XCTAssertTrue("\($0)".contains("line 1")) }
    }
}
