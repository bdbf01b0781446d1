import XCTest
@testable import PARVideo

/// The FVD arithmetic and rules against tools/fvd (fixture written by
/// tools/fvd/make_fvd_fixtures.py with numpy and scipy): Frechet distance,
/// nearest-centroid accuracy, the seeded class-matched choice of clips, the
/// labels.csv reader, and the tiny I3D's features of real frame folders.
final class FVDMathTests: XCTestCase {
    static let fixtures = I3DTests.fixtures

    static let expected: [String: Any] = {
        let data = try! Data(contentsOf: fixtures.appendingPathComponent("fvd_expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static func floats(_ v: Any?) -> [Float] { (v as! [NSNumber]).map { $0.floatValue } }

    func testFrechetMatchesScipy() throws {
        for (i, c) in (Self.expected["frechet_cases"] as! [[String: Any]]).enumerated() {
            let d = c["dim"] as! Int
            let s1 = try Frechet.stats(Self.floats(c["f1"]), count: c["n1"] as! Int, dim: d)
            let s2 = try Frechet.stats(Self.floats(c["f2"]), count: c["n2"] as! Int, dim: d)
            let want = c["fvd"] as! Double
            let got = try Frechet.distance(s1, s2).distance
            XCTAssertEqual(got, want, accuracy: 1e-7 * abs(want), "case \(i) (n \(c["n1"]!)/\(c["n2"]!), dim \(d))")
        }
    }

    func testFrechetOfASetWithItselfIsZero() throws {
        let c = (Self.expected["frechet_cases"] as! [[String: Any]])[0]
        let s = try Frechet.stats(Self.floats(c["f1"]), count: c["n1"] as! Int, dim: c["dim"] as! Int)
        XCTAssertEqual(try Frechet.distance(s, s).distance, 0, accuracy: 1e-9)
    }

    func testFrechetRefusesTooFewOrNonFinite() {
        XCTAssertThrowsError(try Frechet.stats([1, 2], count: 1, dim: 2))
        XCTAssertThrowsError(try Frechet.stats([1, .nan, 3, 4], count: 2, dim: 2))
    }

    /// Clips of a class the reference lacks are left out (numpy counts the same way).
    func testNearestCentroidMatchesNumpy() {
        let c = Self.expected["accuracy_case"] as! [String: Any]
        let r = Frechet.nearestCentroidAccuracy(reference: Self.floats(c["ref"]), labels: c["ref_labels"] as! [String],
                                                features: Self.floats(c["x"]), labels: c["x_labels"] as! [String],
                                                dim: c["dim"] as! Int)
        XCTAssertEqual(r.accuracy, c["accuracy"] as! Double, accuracy: 1e-12)
        let per = c["per_class"] as! [String: [String: Any]]
        XCTAssertEqual(r.perClass.map(\.label), per.keys.sorted())
        for p in r.perClass {
            XCTAssertEqual(p.count, per[p.label]!["n"] as! Int)
            XCTAssertEqual(p.accuracy, per[p.label]!["accuracy"] as! Double, accuracy: 1e-6)
        }
        XCTAssertFalse(r.perClass.contains { $0.label == "3" })
    }

    /// The same clips as protocol.select, with and without class matching.
    func testSelectionMatchesPython() throws {
        let s = Self.expected["selection"] as! [String: Any]
        let names = s["names"] as! [String]
        let clips = names.map { FVDClip(name: $0, path: "/x/\($0)", frames: ["0.png"]) }
        func labels(_ key: String) -> FVDLabels {
            FVDLabels(path: key, byClip: Dictionary(uniqueKeysWithValues: zip(names, s[key] as! [String])))
        }
        let plain = s["plain"] as! [String: Any], matched = s["matched"] as! [String: Any]
        let p = try FVDSelection.select(real: clips, gen: clips, protocol: "2048", maxClips: plain["n"] as? Int,
                                        seed: UInt64(plain["seed"] as! Int), realLabels: nil, genLabels: nil,
                                        realDir: "r", genDir: "g")
        XCTAssertEqual(p.real.map(\.name), plain["real"] as! [String])
        XCTAssertEqual(p.gen.map(\.name), plain["gen"] as! [String])
        XCTAssertFalse(p.classMatched)
        let m = try FVDSelection.select(real: clips, gen: clips, protocol: "10k", maxClips: matched["n"] as? Int,
                                        seed: UInt64(matched["seed"] as! Int), realLabels: labels("real_labels"),
                                        genLabels: labels("gen_labels"), realDir: "r", genDir: "g")
        XCTAssertEqual(m.real.map(\.name), matched["real"] as! [String])
        XCTAssertEqual(m.gen.map(\.name), matched["gen"] as! [String])
        XCTAssertTrue(m.classMatched)
        XCTAssertEqual(m.realLabels!.sorted(), m.genLabels!.sorted())
    }

    func testLabelsReader() throws {
        let l = try FVDLabels.parse("id,clip,label\n1,\"a,b\",3\n2, c ,\"x\"\"y\"\n\n3,d.mp4,7\n", path: "L")
        XCTAssertEqual(l.byClip, ["a,b": "3", "c": "x\"y", "d.mp4": "7"])
        XCTAssertEqual(try l.label(of: FVDClip(name: "d.mp4", path: "", frames: [])), "7")
        XCTAssertEqual(try l.label(of: FVDClip(name: "c.mp4", path: "", frames: [])), "x\"y")
        for (text, message) in [("clip\na\n", "needs a header"), ("clip,label\na,1\na,2\n", "line 3: clip a labelled twice"),
                                ("clip,label\n,1\n", "line 2: empty clip or label"), ("clip,label\n\"a,1\n", "unterminated")] {
            XCTAssertThrowsError(try FVDLabels.parse(text, path: "L")) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }

    func testContentKeyIsSHA256OfTheBytes() throws {
        let dir = try scratchFolder()
        let f = dir.appendingPathComponent("v.mp4")
        try Data("abc".utf8).write(to: f)
        XCTAssertEqual(try FVDClips.contentKey(FVDClip(name: "v.mp4", path: f.path, frames: [])),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Frame folders read, resized and run through the tiny I3D as tools/fvd does.
    func testFeaturesOfFrameFoldersMatchReference() throws {
        let ex = try FVDExtractor(weightsPath: Self.fixtures.appendingPathComponent("i3d_tiny.safetensors").path)
        XCTAssertEqual(ex.dim, 40)
        for side in ["real", "gen"] {
            let clips = try FVDClips.list(Self.fixtures.appendingPathComponent("sets/\(side)").path)
            XCTAssertEqual(clips.count, 6)
            let cache = FVDFeatureCache(dir: nil, set: "", settings: [:], dim: ex.dim) { _ in }
            let (got, stats) = try ex.features(clips, cache: cache, side: side) { _ in }
            XCTAssertEqual(stats.computed, 6)
            let want = Self.floats(Self.expected["features_\(side)"])
            XCTAssertEqual(got.count, want.count)
            let scale = want.map { abs($0) }.max()!
            let diff = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff / scale, 1e-4, side)
        }
    }
}
