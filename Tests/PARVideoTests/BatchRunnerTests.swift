import Foundation
import XCTest
@testable import PARVideo

/// BatchRunner and RunMerge in the library, without the binary, on the tiny
/// random-weight bundle (3 classes, 9-frame 32x32 clips).
final class BatchRunnerTests: XCTestCase {
    static let pipeline = try! VideoPipeline(bundle: try! ModelBundle.load(PipelineTests.tiny))
    let identity = RunFolder.modelIdentity(listing(URL(fileURLWithPath: PipelineTests.tiny)).filter { $0.hasSuffix(".safetensors") }
        .map { URL(fileURLWithPath: PipelineTests.tiny).appendingPathComponent($0) })

    func job(_ clips: BatchJob.Clips = .perClass(2), seed: UInt64 = 5, batch: Int = 1, shard: Shard = .whole,
             format: BatchFormat = .mp4) -> BatchJob {
        BatchJob(actions: [0, 1], clips: clips, seed: seed, format: format, batch: batch, fps: 8,
                 sampling: SamplingOptions(Self.pipeline.config.sampling), encode: VideoEncodeOptions(fps: 8), shard: shard)
    }

    func runner(_ job: BatchJob, _ dir: URL) throws -> BatchRunner {
        try BatchRunner(pipeline: Self.pipeline, job: job, modelIdentity: identity, output: dir.path)
    }

    func clips(_ dir: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        for name in listing(dir) where name.hasPrefix("clip_") { out[name] = try? Data(contentsOf: dir.appendingPathComponent(name)) }
        return out
    }

    func testRunnerRendersReportsAndResumes() throws {
        let dir = try scratchFolder().appendingPathComponent("run")
        var events: [String] = []
        var steps = 0
        let s = try runner(job(), dir).run { event in
            switch event {
            case .started(let n, let skipped): events.append("started \(n) \(skipped)")
            case .step: steps += 1
            case .finished(let clip, let name): events.append("\(clip.name) \(name)")
            }
        }
        XCTAssertEqual(events, ["started 4 0", "clip_000000_a000 Wave", "clip_000001_a001 Jump",
                                "clip_000002_a000 Wave", "clip_000003_a001 Jump"])
        XCTAssertGreaterThan(steps, 0)
        XCTAssertEqual([s.clips, s.rendered, s.skipped, s.finished], [4, 4, 0, 4])
        XCTAssertEqual(listing(dir), ["clip_000000_a000.mp4", "clip_000001_a001.mp4", "clip_000002_a000.mp4",
                                      "clip_000003_a001.mp4", "labels.csv", "manifest.jsonl", "run.json"])
        XCTAssertEqual(try String(contentsOf: s.files.labels, encoding: .utf8),
                       "clip,label\nclip_000000_a000,0\nclip_000001_a001,1\nclip_000002_a000,0\nclip_000003_a001,1\n")

        // Again: nothing to render. With --batch 2 into another folder: the same bytes.
        let again = try runner(job(), dir).run()
        XCTAssertEqual([again.rendered, again.skipped], [0, 4])
        let other = dir.deletingLastPathComponent().appendingPathComponent("b2")
        _ = try runner(job(batch: 2), other).run()
        XCTAssertEqual(clips(dir), clips(other))
        XCTAssertEqual(clips(dir).count, 4)

        // Another seed into the same folder: a usage error naming the setting, nothing written.
        XCTAssertThrowsError(try runner(job(seed: 6), dir).run()) { error in
            let e = error as? BatchError
            XCTAssertEqual(e?.kind, .usage)
            XCTAssertTrue("\(error)".contains("holds a different run (") && "\(error)".contains("seed: 5 -> 6"), "\(error)")
        }
    }

    /// labels.csv is there once the first clip is finished, not only after half a minute.
    func testLabelsExistFromTheFirstFinishedClip() throws {
        let dir = try scratchFolder().appendingPathComponent("run")
        let r = try runner(job(.count(3, labels: nil)), dir)
        var seen: [String] = []
        _ = try r.run { event in
            guard case .finished(let clip, _) = event else { return }
            let text = (try? String(contentsOf: r.files.labels, encoding: .utf8)) ?? "(no labels.csv)"
            if seen.isEmpty { XCTAssertEqual(text, "clip,label\n\(clip.name),\(clip.action)\n") }
            seen.append(clip.name)
        }
        XCTAssertEqual(seen.count, 3)
    }

    /// Seeds above 2^53 are strings in the manifest and run.json; numbers (older folders) still read.
    func testSeedsAreJSONStringsAndOldNumbersStillRead() throws {
        let dir = try scratchFolder().appendingPathComponent("run")
        let base: UInt64 = 18_446_744_073_709_551_557
        let s = try runner(job(.count(2, labels: nil), seed: base), dir).run()
        let lines = try String(contentsOf: s.files.manifest, encoding: .utf8).split(separator: "\n")
        for (i, line) in lines.enumerated() {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(obj["seed"] as? String, String(clipSeed(base: base, index: i)), String(line))
        }
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: s.files.run)) as! [String: Any]
        XCTAssertEqual(run["seed"] as? String, "18446744073709551557")

        let old = String(lines[0]).replacingOccurrences(of: "\"seed\":\"\(clipSeed(base: base, index: 0))\"",
                                                        with: "\"seed\":\(clipSeed(base: base, index: 0))")
        XCTAssertNotEqual(old, String(lines[0]))
        XCTAssertEqual(try JSONDecoder().decode(ManifestEntry.self, from: Data(old.utf8)).seed, clipSeed(base: base, index: 0))
        for bad in ["\"12x\"", "\"-1\"", "\"007\"", "\"18446744073709551616\""] {
            let line = String(lines[0]).replacingOccurrences(of: "\"seed\":\"\(clipSeed(base: base, index: 0))\"", with: "\"seed\":\(bad)")
            XCTAssertThrowsError(try JSONDecoder().decode(ManifestEntry.self, from: Data(line.utf8)), bad)
        }
    }

    /// A folder records its shard count: a shard of another count, or an unsharded run among
    /// unmerged shards, is refused before anything is written; after a merge the whole run resumes.
    func testAnotherShardCountIsRefusedAndTheMergedRunResumes() throws {
        let dir = try scratchFolder().appendingPathComponent("shared")
        for k in 0..<3 { _ = try runner(job(.count(6, labels: nil), shard: Shard(index: k, count: 3)), dir).run() }
        let before = clips(dir), names = listing(dir)
        for (shard, needle) in [(Shard.whole, "split into 3 (run.shard-K-of-3.json) and no merged run"),
                                (Shard(index: 1, count: 2), "not 2: resubmit with --shard 1/3"),
                                (Shard(index: 4, count: 5), "resubmit with --shard K/3 with K in 0...2")] {
            XCTAssertThrowsError(try runner(job(.count(6, labels: nil), shard: shard), dir).run(), "\(shard)") { error in
                XCTAssertEqual((error as? BatchError)?.kind, .usage)
                XCTAssertTrue("\(error)".contains(needle), "\(error)")
            }
        }
        XCTAssertEqual(listing(dir), names)
        XCTAssertEqual(clips(dir), before)

        let merged = try RunMerge.merge([dir])
        XCTAssertEqual([merged.clips, merged.shards, merged.copied], [6, 3, 0])
        let whole = try runner(job(.count(6, labels: nil)), dir).run()
        XCTAssertEqual([whole.rendered, whole.skipped], [0, 6])
        let shard = try runner(job(.count(6, labels: nil), shard: Shard(index: 2, count: 3)), dir).run()
        XCTAssertEqual([shard.rendered, shard.skipped], [0, 2])

        // An unsharded run's folder refuses a shard of it.
        let plain = dir.deletingLastPathComponent().appendingPathComponent("plain")
        _ = try runner(job(.count(6, labels: nil)), plain).run()
        XCTAssertThrowsError(try runner(job(.count(6, labels: nil), shard: Shard(index: 0, count: 2)), plain).run()) {
            XCTAssertTrue("\($0)".contains("holds an unsharded (or merged) run"), "\($0)")
        }
        XCTAssertEqual(clips(plain), clips(dir))
    }

    /// Another shard's run.json with other settings in a shared folder is another run.
    func testAShardOfAnotherRunInTheSharedFolderIsRefused() throws {
        let dir = try scratchFolder().appendingPathComponent("shared")
        _ = try runner(job(.count(4, labels: nil), shard: Shard(index: 0, count: 2)), dir).run()
        XCTAssertThrowsError(try runner(job(.count(4, labels: nil), seed: 9, shard: Shard(index: 1, count: 2)), dir).run()) {
            XCTAssertTrue("\($0)".contains("holds a different run (") && "\($0)".contains("seed: 5 -> 9"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run.shard-1-of-2.json").path))
    }

    /// run.json is read from other people's folders: counts that drive merge's loops are bounded.
    func testRunSettingsRejectOutOfRangeValues() throws {
        let dir = try scratchFolder().appendingPathComponent("run")
        let s = try runner(job(.count(2, labels: nil)), dir).run()
        let text = try String(contentsOf: s.files.run, encoding: .utf8)
        XCTAssertEqual(try RunSettings.decode(Data(text.utf8), path: "run.json"), try RunSettings.read(s.files.run))
        for (from, to) in [("\"clips\" : 2", "\"clips\" : 4611686018427387904"), ("\"clips\" : 2", "\"clips\" : 0"),
                           ("\"shard\" : \"0/1\"", "\"shard\" : \"3/1\""), ("\"format\" : \"mp4\"", "\"format\" : \"gif\""),
                           ("\"width\" : 32", "\"width\" : -32"), ("\"count\" : 2", "\"count\" : -1")] {
            let changed = text.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(changed, text, from)
            XCTAssertThrowsError(try RunSettings.decode(Data(changed.utf8), path: "run.json"), to) {
                XCTAssertTrue("\($0)".contains("run.json is not a valid batch run description"), "\($0)")
            }
        }
    }
}
