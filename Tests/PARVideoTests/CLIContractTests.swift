import Foundation
import XCTest
import PARVideo

/// One consistent command line, through the built binary and the built-in
/// model: one model resolution, true defaults in --help, one JSON scheme,
/// long clips counted over all their cubes, and one action-list parser.
final class CLIContractTests: XCTestCase {
    static let builtin = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models/builtin").standardized

    func requireBuiltin() throws {
        guard FileManager.default.fileExists(atPath: Self.builtin.path) else { throw XCTSkip("no models/builtin in this checkout") }
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Help states the resolution order and the threads default once, the
    /// same way in every command, and no default the built-in model does not use.
    func testHelpDefaultsAreTheOnesThatApply() throws {
        let dir = try scratchFolder()
        var threadLines: Set<String> = []
        for command in ["generate", "batch", "tokens", "decode", "reconstruct", "inspect", "actions"] {
            let r = try runParVideo([command, "--help"], in: dir)
            XCTAssertEqual(r.code, 0, command)
            let help = r.out.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
            for claim in ["128x128", "1.15", "8000", "all cores", "17 for UCF-101"] {
                XCTAssertFalse(help.contains(claim), "\(command) --help claims \(claim)")
            }
            XCTAssertTrue(help.contains("$PAR_VIDEO_MODEL, else the installed model"), "\(command): \(help)")
            XCTAssertTrue(help.contains("models/builtin"), command)
            let threads = help.range(of: "--threads <N> ").map { String(help[$0.upperBound...].prefix { $0 != ")" }) }
            threadLines.insert(try XCTUnwrap(threads, "\(command) has no --threads"))
        }
        XCTAssertEqual(threadLines.count, 1, "--threads means different things: \(threadLines)")
        XCTAssertTrue(threadLines.first!.contains("the CPUs this process may run on"), "\(threadLines)")
    }

    /// `tokens` and `inspect` find the built-in model as `generate` does, and
    /// `inspect` shows the defaults the model gives.
    func testTokensAndInspectFindTheModelAndShowItsDefaults() throws {
        try requireBuiltin()
        let dir = try scratchFolder()
        let t = try runParVideo(["tokens", "--action", "3", "-o", "t.npy"], in: dir)
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("t.npy").path))
        let i = try runParVideo(["inspect"], in: dir)
        XCTAssertEqual(i.code, 0, i.err)
        XCTAssertTrue(i.out.contains("defaults: --parallel 4, --size 64x64, --frames 17, --fps 8, --cfg 2, --temperature 1, --top-k 0, --top-p 1"), i.out)
        XCTAssertEqual(i.out.components(separatedBy: "ApplyEyeMakeup").count, 1, "inspect lists class names: \(i.out)")
    }

    /// `tokens -o` and `--logits` refuse an existing file without -y, as every
    /// other output does: one line, exit 2, the file as it was; -y replaces it.
    func testTokensRefuseAnExistingFileWithoutOverwrite() throws {
        try requireBuiltin()
        let dir = try scratchFolder()
        let old = Data("an older cube".utf8)
        for name in ["t.npy", "l.npy"] { try old.write(to: dir.appendingPathComponent(name)) }
        for args in [["-o", "t.npy"], ["-o", "new.npy", "--logits", "l.npy"]] {
            let r = try runParVideo(["tokens", "--action", "3"] + args, in: dir)
            XCTAssertEqual(r.code, 2, r.err)
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
            XCTAssertTrue(r.err.contains("exists (a file); -y (--overwrite) replaces it"), r.err)
        }
        for name in ["t.npy", "l.npy"] { XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent(name)), old, name) }
        XCTAssertEqual(listing(dir), ["l.npy", "t.npy"])
        let y = try runParVideo(["tokens", "--action", "3", "-y", "-o", "t.npy", "--logits", "l.npy"], in: dir)
        XCTAssertEqual(y.code, 0, y.err)
        XCTAssertEqual(try NPY.read(dir.appendingPathComponent("t.npy").path).shape.count, 3)
    }

    /// Every --json object: snake_case keys, durations as *_seconds in
    /// milliseconds, a schema field; inspect names each class once.
    func testJSONHasOneKeyScheme() throws {
        try requireBuiltin()
        let dir = try scratchFolder()
        let runs: [[String]] = [
            ["generate", "--action", "3", "--json", "-o", "a.mp4"],
            ["tokens", "--action", "3", "--json", "-o", "a.npy"],
            ["decode", "a.npy", "--json", "-o", "b.mp4"],
            ["reconstruct", "b.mp4", "--json", "-o", "c.mp4"],
            ["inspect", "--json"],
        ]
        for args in runs {
            let r = try runParVideo(args, in: dir)
            XCTAssertEqual(r.code, 0, "\(args): \(r.err)")
            let obj = try json(r.out)
            XCTAssertEqual(obj["schema"] as? Int, 1, "\(args)")
            for (key, value) in obj {
                XCTAssertNotNil(key.range(of: "^[a-z][a-z0-9]*(_[a-z0-9]+)*$", options: .regularExpression), "\(args): key \(key)")
                XCTAssertFalse(key.hasPrefix("seconds"), "\(args): \(key) (durations are *_seconds)")
                if key.hasSuffix("_seconds") {
                    let s = try XCTUnwrap(value as? Double, "\(args): \(key)")
                    XCTAssertEqual(s, (s * 1000).rounded() / 1000, "\(args): \(key) = \(s) is not rounded")
                }
            }
            for raw in captures(#"(\d+\.\d{7,})"#, in: r.out) { XCTFail("\(args): unrounded number \(raw) in \(r.out)") }
            if args[0] == "inspect" {
                XCTAssertEqual(r.out.components(separatedBy: "\"ApplyEyeMakeup\"").count, 2, "class list repeated: \(r.out)")
                let defaults = try XCTUnwrap(obj["defaults"] as? [String: Any])
                XCTAssertEqual(defaults["width"] as? Int, 64)
                XCTAssertEqual(defaults["top_k"] as? Int, 0)
                XCTAssertEqual(defaults["cfg_scale"] as? Double, 2)
            }
        }
    }

    /// `--frames 40` is four cubes of 323 steps: all of them counted, each one
    /// listed, and without a terminal plain progress lines name the cube.
    func testLongClipCountsEveryCube() throws {
        try requireBuiltin()
        let dir = try scratchFolder()
        let j = try runParVideo(["--action", "12", "--frames", "40", "--json", "-o", "long.mp4"], in: dir)
        XCTAssertEqual(j.code, 0, j.err)
        let obj = try json(j.out)
        XCTAssertEqual(obj["steps"] as? Int, 4 * 323, j.out)
        XCTAssertEqual(obj["cube_steps"] as? [Int], [323, 323, 323, 323], j.out)
        let p = try runParVideo(["--action", "12", "--frames", "40", "-o", "long2.mp4"], in: dir)
        XCTAssertEqual(p.code, 0, p.err)
        let lines = p.err.split(separator: "\n").map(String.init)
        for k in 1...4 {
            XCTAssertTrue(lines.contains { $0.hasPrefix("generate: cube \(k)/4  step 323/323  tokens") && $0.contains("ETA") }, p.err)
        }
        XCTAssertLessThan(lines.count, 40, "progress without a terminal floods the log: \(p.err)")
        XCTAssertFalse(p.err.contains("\r"), "terminal control characters in a log")
        XCTAssertTrue(p.out.contains("1292 steps over 4 cubes"), p.out)
    }

    /// Lists take ids, names and ranges, in the library parser that `batch`
    /// shares; an unknown entry gets names close to that entry.
    func testActionListsTakeIdsNamesAndRanges() throws {
        try requireBuiltin()
        let dir = try scratchFolder()
        let r = try runParVideo(["actions", "0-4,10,PlayingGuitar"], in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" },
                       ["0", "1", "2", "3", "4", "10", "62"])
        let bad = try runParVideo(["actions", "0-4,PlayngGuitar"], in: dir)
        XCTAssertEqual(bad.code, 2)
        XCTAssertTrue(bad.err.contains("unknown action 'PlayngGuitar'; closest: PlayingGuitar"), bad.err)
        let range = try runParVideo(["actions", "3-200"], in: dir)
        XCTAssertEqual(range.code, 2)
        XCTAssertTrue(range.err.contains("range '3-200'"), range.err)
        // batch parses with the same parser: a range renders those classes.
        let b = try runParVideo(["batch", "--actions", "2-3", "--per-class", "1", "--frames", "1", "--quiet", "-o", "run"], in: dir)
        XCTAssertEqual(b.code, 0, b.err)
        let labels = try String(contentsOf: dir.appendingPathComponent("run/labels.csv"), encoding: .utf8)
        XCTAssertEqual(labels.split(separator: "\n").dropFirst().map { $0.split(separator: ",").last.map(String.init) ?? "" }, ["2", "3"], labels)
    }
}
