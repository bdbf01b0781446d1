import Foundation
import XCTest
import PARVideo

/// What a batch run folder promises a cluster user, through the binary:
/// labels.csv from the first clip on, seeds that JSON readers read exactly,
/// and a folder that refuses a task with another shard count (a resubmitted
/// Slurm array task) instead of rendering over the other shards.
final class BatchBookkeepingTests: XCTestCase {
    let model = fixturesDir.appendingPathComponent("pipeline/tiny").path

    func batch(_ extra: [String], to out: String, in dir: URL) throws -> (code: Int32, out: String, err: String) {
        try runParVideo(["batch", "--model", model, "--threads", "1", "--quiet", "-o", out] + extra, in: dir, shell: "timeout 120")
    }

    /// Everything under `dir`, path -> bytes (folders as empty).
    func snapshot(_ dir: URL) -> [String: Data] {
        var files: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir.path)!
        while let rel = e.nextObject() as? String { files[rel] = (try? Data(contentsOf: dir.appendingPathComponent(rel))) ?? Data() }
        return files
    }

    func testLabelsCSVExistsOnceTheFirstClipIsFinished() throws {
        let dir = try scratchFolder()
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["batch", "--model", model, "--threads", "1", "--quiet", "--count", "40", "--seed", "4", "-o", "run"]
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let manifest = dir.appendingPathComponent("run/manifest.jsonl")
        let deadline = Date().addingTimeInterval(120)
        // Two finished clips: the first one's labels.csv is written before the second clip starts.
        while Date() < deadline, p.isRunning {
            if let text = try? String(contentsOf: manifest, encoding: .utf8), text.filter({ $0 == "\n" }).count >= 2 { break }
            usleep(2_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run ended before it could be killed")
        let labels = try String(contentsOf: dir.appendingPathComponent("run/labels.csv"), encoding: .utf8)
        XCTAssertTrue(labels.hasPrefix("clip,label\nclip_000000_a000,0\n"), labels)
    }

    func testManifestSeedsReadExactlyAsJSON() throws {
        let dir = try scratchFolder()
        XCTAssertEqual(try batch(["--count", "4", "--seed", "18446744073709551615"], to: "run", in: dir).code, 0)
        let lines = try String(contentsOf: dir.appendingPathComponent("run/manifest.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        for (i, line) in lines.enumerated() {
            // A JSON number seed above 2^53 is what jq, JavaScript and pandas read as another number.
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(obj["seed"] as? String, String(clipSeed(base: .max, index: i)), String(line))
            for (key, value) in obj { if let n = value as? Double { XCTAssertLessThan(abs(n), 9_007_199_254_740_992, key) } }
        }
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run/run.json"))) as! [String: Any]
        XCTAssertEqual(run["seed"] as? String, "18446744073709551615")
    }

    /// `sbatch --array=1 job.sh` resubmits one task with SLURM_ARRAY_TASK_COUNT=1.
    func testATaskWithAnotherShardCountIsRefusedAndTouchesNothing() throws {
        let dir = try scratchFolder()
        let args = ["--count", "9", "--seed", "6"]
        for k in [0, 2] { XCTAssertEqual(try batch(args + ["--shard", "\(k)/3"], to: "fvd", in: dir).code, 0) }
        let fvd = dir.appendingPathComponent("fvd")
        let before = snapshot(fvd)
        for (shard, needle) in [("1/1", "SLURM_ARRAY_TASK_COUNT 1, so write the shard count into the job script"),
                                ("0/1", "fvd holds shards of a run split into 3"),
                                ("1/2", "fvd holds a run split into 3 shards (run.shard-K-of-3.json), not 2: resubmit with --shard 1/3")] {
            let r = try batch(args + ["--shard", shard], to: "fvd", in: dir)
            XCTAssertEqual(r.code, 2, "\(shard): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains(needle), "\(shard): \(r.err)")
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
        }
        let unsharded = try batch(args, to: "fvd", in: dir)
        XCTAssertEqual(unsharded.code, 2, unsharded.err)
        XCTAssertEqual(snapshot(fvd), before, "a refused task changed the run folder")

        // The resubmission with the fixed N finishes the run.
        XCTAssertEqual(try batch(args + ["--shard", "1/3"], to: "fvd", in: dir).code, 0)
        let merged = try runParVideo(["merge", "fvd"], in: dir)
        XCTAssertEqual(merged.code, 0, merged.err)
        XCTAssertTrue(merged.out.contains("9 clips from 3 shards"), merged.out)
    }
}

extension BatchBookkeepingTests {
    /// batch and merge --json follow the key scheme of the other commands.
    func testBatchAndMergeJSONFollowTheKeyScheme() throws {
        let dir = try scratchFolder()
        var objects: [[String: Any]] = []
        for args in [["batch", "--model", model, "--count", "4", "--shard", "0/2", "--json", "-o", "run"],
                     ["batch", "--model", model, "--count", "4", "--shard", "1/2", "--json", "-o", "run"],
                     ["merge", "run", "--json"]] {
            let r = try runParVideo(args, in: dir)
            XCTAssertEqual(r.code, 0, r.err)
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
            XCTAssertEqual(obj["schema"] as? Int, 1, r.out)
            for key in obj.keys { XCTAssertNotNil(key.range(of: "^[a-z]+(_[a-z]+)*$", options: .regularExpression), key) }
            XCTAssertNil(obj["seconds"], r.out)
            objects.append(obj)
        }
        let s = try XCTUnwrap(objects[0]["elapsed_seconds"] as? Double)
        XCTAssertEqual(s, (s * 1000).rounded() / 1000)
        XCTAssertEqual(objects[1]["rendered"] as? Int, 2)
        XCTAssertEqual(objects[2]["clips"] as? Int, 4)
    }
}
