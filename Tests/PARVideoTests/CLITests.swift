import Foundation
import XCTest
import PARVideo

/// Runs the built `par-video` binary: exit codes, one-line errors, no files.
final class CLITests: XCTestCase {
    static var binary: URL { parVideoBinary }

    func run(_ args: [String], in dir: URL, env: [String: String] = [:]) throws -> (code: Int32, out: String, err: String) {
        try runParVideo(args, in: dir, env: env)
    }

    func testBinaryExists() {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary.path), Self.binary.path)
    }

    func testInvalidValuesExit2WithOneLine() throws {
        let dir = try scratchFolder()
        let cases: [([String], String)] = [
            (["--action", "1", "--frames", "0", "-o", "x.mp4"], "--frames 0"),
            (["--action", "101", "-o", "x.mp4"], "action id 101 is out of range"),
            (["--action", "nosuch", "-o", "x.mp4"], "unknown action 'nosuch'; closest:"),
            (["--action", "3", "-o", "/nonexistent/dir/x.mp4"], "folder /nonexistent/dir does not exist"),
            (["--action", "3", "--size", "65x64", "-o", "x.mp4"], "must be even"),
            (["--action", "3", "--size", "127", "-o", "x.mp4"], "must be even"),
            (["--action", "3", "--size", "0x64", "-o", "x.mp4"], "--size"),
            (["--action", "3", "--fps", "0", "-o", "x.mp4"], "--fps"),
            (["--action", "3", "--top-p", "1.5", "-o", "x.mp4"], "--top-p"),
            (["--action", "3", "--parallel", "3", "-o", "x.mp4"], "--parallel 3"),
            (["--action", "3", "--format", "gif", "-o", "x.mp4"], "--format"),
            (["--action", "3", "--format", "both", "-o", "x"], "OUT must be a video file"),
            (["--action", "3", "-o", "x.mp4", "--bogus"], "--bogus"),
            (["-o", "x.mp4"], "--action"),
        ]
        for (args, expected) in cases {
            let r = try run(args, in: dir)
            XCTAssertEqual(r.code, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains(expected), "\(args): \(r.err)")
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, "\(args): not one line: \(r.err)")
            XCTAssertEqual(r.out, "")
        }
        XCTAssertEqual(listing(dir), [], "an invalid command left files behind")
    }

    func testNoModelFailsPlainly() throws {
        // A copy of the binary outside the repository: the build inside it would find models/builtin.
        let dir = try scratchFolder()
        let bin = try scratchFolder("bin").appendingPathComponent("par-video")
        try FileManager.default.copyItem(at: Self.binary, to: bin)
        func run(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
            try runParVideo(args, in: dir, binary: bin)
        }
        for format in ["mp4", "frames", "both"] {
            let r = try run(["--action", "Archery", "--frames", "17", "--format", format, "-o", "a.mp4"], in: dir)
            XCTAssertEqual(r.code, 1, r.err)
            XCTAssertTrue(r.err.hasPrefix("error: no model available"), r.err)
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
        }
        // An empty models/ folder is no model either.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("models"), withIntermediateDirectories: false)
        let r = try run(["--action", "0", "-o", "a.mp4"], in: dir)
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(listing(dir), ["models"])
        XCTAssertEqual(listing(dir.appendingPathComponent("models")), [])
    }

    /// The README's run command with no --model: the built-in model (models/builtin above the
    /// build folder) writes the clip, and --parallel picks its GPT (1280, 323 and 95 steps for the
    /// 5x16x16 cube). Skipped only in a checkout without the built-in model.
    func testBuiltinModelRendersTheReadmeCommand() throws {
        let builtin = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../models/builtin").standardized
        guard FileManager.default.fileExists(atPath: builtin.path) else { throw XCTSkip("no models/builtin in this checkout") }
        let dir = try scratchFolder()
        let r = try run(["--action", "12", "--frames", "16", "-o", "out.mp4"], in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        let info = try VideoProbe.info(dir.appendingPathComponent("out.mp4"))
        XCTAssertEqual(info.frames, 16)
        XCTAssertEqual(info.width, 64)
        XCTAssertEqual(info.height, 64)
        for (n, steps) in [(1, 1280), (4, 323), (16, 95)] {
            let j = try run(["--action", "BlowDryHair", "--parallel", "\(n)", "--json", "-o", "n\(n).mp4"], in: dir)
            XCTAssertEqual(j.code, 0, j.err)
            let obj = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as! [String: Any]
            XCTAssertEqual(obj["steps"] as? Int, steps, "n=\(n)")
            XCTAssertEqual(obj["action"] as? Int, 12)
        }
    }

    func testActionsListsAll101() throws {
        let r = try run(["actions"], in: try scratchFolder())
        XCTAssertEqual(r.code, 0)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 101)
        XCTAssertEqual(lines.first.map(String.init), "  0  ApplyEyeMakeup")
        XCTAssertEqual(lines.last.map(String.init), "100  YoYo")
    }

    func testHelpShowsDefaults() throws {
        let r = try run(["generate", "--help"], in: try scratchFolder())
        XCTAssertEqual(r.code, 0)
        for needle in ["--action", "--frames", "--size", "(default: 8;", "(default: by OUT's extension)", "-y, --overwrite",
                       "(default: 12)", "(default: medium)", "--model"] {
            XCTAssertTrue(r.out.contains(needle), "help lacks \(needle)")
        }
    }
}
