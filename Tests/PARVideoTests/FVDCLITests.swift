import XCTest
@testable import PARVideo

/// `par-video fvd` through the binary, with the tiny seeded I3D so that it runs
/// in CI: the score against tools/fvd/fvd.py, class matching in both
/// protocols, generated classes the real set lacks, the feature cache, and
/// one-line errors. With the real weights (models/i3d.safetensors) a further
/// test scores real SynthAction-like clips.
final class FVDCLITests: XCTestCase {
    static let fixtures = I3DTests.fixtures
    static let tiny = fixtures.appendingPathComponent("i3d_tiny.safetensors").path

    /// A copy of the fixture sets (tests change them).
    func sets() throws -> (dir: URL, real: String, gen: String) {
        let dir = try scratchFolder()
        for side in ["real", "gen"] {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("sets/\(side)"),
                                             to: dir.appendingPathComponent(side))
        }
        return (dir, dir.appendingPathComponent("real").path, dir.appendingPathComponent("gen").path)
    }

    func fvd(_ args: [String], in dir: URL, cache: Bool = false) throws -> (code: Int32, json: [String: Any]?, err: String) {
        var a = ["fvd"] + args + ["--i3d", Self.tiny, "--json"]
        a += cache ? ["--cache-dir", dir.appendingPathComponent("cache").path] : ["--no-cache"]
        let r = try runParVideo(a, in: dir)
        let json = r.code == 0 ? try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] : nil
        return (r.code, json, r.err)
    }

    /// --json rounds as every command's: durations to milliseconds, other
    /// figures to 6 significant digits (raw doubles printed 17).
    func testJSONFiguresAreRounded() throws {
        let s = try sets()
        let r = try runParVideo(["fvd", s.real, s.gen, "--max-clips", "6", "--i3d", Self.tiny, "--no-cache", "--json"], in: s.dir)
        XCTAssertEqual(r.code, 0, r.err)
        let numbers = try NSRegularExpression(pattern: #"-?\d+\.\d+(e[-+]?\d+)?"#)
        let text = r.out as NSString
        let found = numbers.matches(in: r.out, range: NSRange(location: 0, length: text.length)).map { text.substring(with: $0.range) }
        XCTAssertFalse(found.isEmpty, r.out)
        for raw in found {
            let mantissa = raw.split(separator: "e")[0].filter(\.isNumber).drop { $0 == "0" }
            XCTAssertLessThanOrEqual(mantissa.count, 6, "unrounded \(raw) in \(r.out)")
        }
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let total = try XCTUnwrap(obj["total_seconds"] as? Double)
        XCTAssertEqual(total, (total * 1000).rounded() / 1000)
    }

    func testScoreMatchesReferenceTool() throws {
        let s = try sets()
        let r = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir)
        XCTAssertEqual(r.code, 0, r.err)
        let want = FVDMathTests.expected
        let got = r.json!["fvd"] as! Double, ref = want["fvd"] as! Double
        XCTAssertEqual(got, ref, accuracy: 1e-3 * ref, "FVD within 0.1% of fvd.py")
        // Figures carry 6 significant digits (JSONReport.figure).
        XCTAssertEqual(r.json!["accuracy"] as! Double, want["accuracy"] as! Double, accuracy: 1e-6)
        XCTAssertEqual(r.json!["accuracy_real"] as! Double, want["accuracy_real"] as! Double, accuracy: 2e-6)
        XCTAssertEqual(r.json!["schema"] as? Int, 1)
        XCTAssertNotNil(r.json!["total_seconds"] as? Double)
        XCTAssertNotNil(r.json!["clips_per_second"] as? Double)
        XCTAssertTrue(r.err.contains("clips/s"), r.err)
    }

    /// Both protocols match classes when both sets carry labels.csv (the 2048
    /// protocol used to report class_matched false).
    func testBothProtocolsClassMatchWhenLabelled() throws {
        let s = try sets()
        for p in ["2048", "10k"] {
            let r = try fvd([s.real, s.gen, "--max-clips", "6", "--protocol", p], in: s.dir)
            XCTAssertEqual(r.code, 0, r.err)
            XCTAssertEqual(r.json!["class_matched"] as? Bool, true, p)
        }
        try FileManager.default.removeItem(atPath: s.gen + "/labels.csv")
        let r = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir)
        XCTAssertEqual(r.json!["class_matched"] as? Bool, false)
        XCTAssertNil(r.json!["accuracy"])
    }

    /// Generated classes the real set lacks: an error naming them; with
    /// --no-class-match a warning naming them, and they are left out of the accuracy.
    func testGeneratedClassesMissingFromRealAreNamed() throws {
        let s = try sets()
        try "clip,label\ngen0,0\ngen1,1\ngen2,5\ngen3,1\ngen4,9\ngen5,5\n".write(toFile: s.gen + "/labels.csv", atomically: true, encoding: .utf8)
        let e = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir)
        XCTAssertEqual(e.code, 1)
        XCTAssertEqual(e.err.split(separator: "\n").count, 1, e.err)
        XCTAssertTrue(e.err.contains("no clips of generated classes 5, 9 (3 generated clips)"), e.err)
        let r = try fvd([s.real, s.gen, "--max-clips", "6", "--no-class-match", "--quiet"], in: s.dir)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("warning: the real clips have no class 5, 9 (3 generated clips)"), r.err)
        XCTAssertEqual(r.json!["gen_classes_missing"] as? [String], ["5", "9"])
        XCTAssertEqual(r.json!["gen_clips_missing"] as? Int, 3)
        let per = (r.json!["accuracy_per_class"] as! [[String: Any]]).map { $0["label"] as! String }
        XCTAssertEqual(per, ["0", "1"])
    }

    /// Real features are computed once: a second run reads them all; a changed
    /// clip is recomputed alone; a damaged cache is ignored with a warning.
    func testFeatureCacheKeyedByContent() throws {
        let s = try sets()
        let first = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir, cache: true)
        XCTAssertEqual(first.code, 0, first.err)
        let again = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir, cache: true)
        XCTAssertEqual((again.json!["real"] as! [String: Any])["computed"] as? Int, 0)
        XCTAssertEqual((again.json!["gen"] as! [String: Any])["cached"] as? Int, 6)
        XCTAssertEqual(again.json!["fvd"] as? Double, first.json!["fvd"] as? Double)
        // Same bytes under a new mtime: still cached. Other bytes: recomputed.
        let frame = s.gen + "/gen2/000003.png", other = s.gen + "/gen3/000003.png"
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 100)], ofItemAtPath: frame)
        XCTAssertEqual((try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir, cache: true).json!["gen"] as! [String: Any])["computed"] as? Int, 0)
        try FileManager.default.removeItem(atPath: frame)
        try FileManager.default.copyItem(atPath: other, toPath: frame)
        let changed = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir, cache: true)
        XCTAssertEqual((changed.json!["gen"] as! [String: Any])["computed"] as? Int, 1)
        XCTAssertNotEqual(changed.json!["fvd"] as? Double, first.json!["fvd"] as? Double)
        let cacheDir = s.dir.appendingPathComponent("cache")
        for f in listing(cacheDir) { try Data("PVFVDC1\nbroken".utf8).write(to: cacheDir.appendingPathComponent(f)) }
        let damaged = try fvd([s.real, s.gen, "--max-clips", "6"], in: s.dir, cache: true)
        XCTAssertEqual(damaged.code, 0, damaged.err)
        XCTAssertTrue(damaged.err.contains("warning: ignoring the feature cache"), damaged.err)
        XCTAssertEqual((damaged.json!["real"] as! [String: Any])["computed"] as? Int, 6)
        XCTAssertEqual(damaged.json!["fvd"] as? Double, changed.json!["fvd"] as? Double)
    }

    func testBadInputIsOneLine() throws {
        let s = try sets()
        try "clip,label\ngen0,0\ngen0,1\n".write(toFile: s.gen + "/labels.csv", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: s.dir.path + "/empty", withIntermediateDirectories: true)
        for (args, message) in [([s.real, s.gen, "--max-clips", "6"], "labelled twice"),
                                ([s.real, s.dir.path + "/empty", "--max-clips", "6"], "no clips"),
                                ([s.real, s.dir.path + "/nothing"], "no such file"),
                                ([s.real, s.real], "6 real clips, protocol 2048 needs 2048 (pass --max-clips")] {
            let r = try fvd(args, in: s.dir)
            XCTAssertEqual(r.code, 1, "\(args)")
            XCTAssertEqual(r.err.split(separator: "\n").filter { $0.hasPrefix("error:") }.count, 1, r.err)
            XCTAssertTrue(r.err.contains(message), r.err)
        }
        let usage = try runParVideo(["fvd", s.real, s.gen, "--protocol", "4096"], in: s.dir)
        XCTAssertEqual(usage.code, 2, usage.err)
        let missing = try runParVideo(["fvd", s.real, s.gen], in: s.dir, env: ["PAR_VIDEO_I3D": s.dir.path + "/none.safetensors"])
        XCTAssertEqual(missing.code, 1)
        XCTAssertTrue(missing.err.contains("none.safetensors"), missing.err)
    }

    /// The real Kinetics weights on frame folders: Swift and fvd.py agree (the
    /// fixture's features were made with the tiny network, so this checks the
    /// command end to end: a set against itself is 0 and accuracy is 1).
    func testRealWeightsSetAgainstItself() throws {
        guard let path = I3DLocator.resolve(explicit: nil, searchFrom: I3DTests.repo.path) else {
            throw XCTSkip("I3D weights not found (\(I3DLocator.missingHint))")
        }
        let s = try sets()
        let r = try runParVideo(["fvd", s.real, s.real, "--max-clips", "4", "--i3d", path, "--no-cache", "--json"], in: s.dir)
        XCTAssertEqual(r.code, 0, r.err)
        let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(j["fvd"] as! Double, 0, accuracy: 1e-2)  // rounding in the square roots of rank-3 covariances
        XCTAssertEqual(j["accuracy"] as? Double, 1)
    }
}
