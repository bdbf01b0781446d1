import Foundation
import XCTest
@testable import PARVideo

/// Output by extension through the binary: GIF, WebM, MP4 on stdout, the
/// one-line refusals, and -y (an existing output stays as it was without it).
final class OutputCLITests: XCTestCase {
    /// The built-in model (models/builtin above the test file), or skip.
    func builtinModel() throws -> [String: String] {
        let builtin = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../models/builtin").standardized
        guard FileManager.default.fileExists(atPath: builtin.path) else { throw XCTSkip("no models/builtin in this checkout") }
        return ["PAR_VIDEO_MODEL": builtin.path]
    }

    /// `tool` on PATH, or skip.
    func tool(_ name: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("\(name) not on PATH")
    }

    func shell(_ script: String, in dir: URL, env: [String: String]) throws -> (code: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = dir
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        environment["BIN"] = parVideoBinary.path
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testGIFByExtension() throws {
        let env = try builtinModel(), dir = try scratchFolder()
        let r = try runParVideo(["--action", "3", "-o", "x.gif"], in: dir, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        let url = dir.appendingPathComponent("x.gif")
        let head = try Data(contentsOf: url).prefix(6)
        XCTAssertEqual(String(decoding: head, as: UTF8.self), "GIF89a")
        XCTAssertEqual(try VideoProbe.codecName(url), "gif")
        let clip = try VideoReader.read(url)
        XCTAssertEqual(clip.count, 17)  // the built-in model's clip length
        XCTAssertEqual(clip.width, 64)
        XCTAssertEqual(listing(dir), ["x.gif"])
    }

    func testWebMByExtension() throws {
        let env = try builtinModel(), dir = try scratchFolder()
        let r = try runParVideo(["--action", "3", "-o", "x.webm"], in: dir, env: env)
        guard VideoContainer.hasVP9 else {
            XCTAssertEqual(r.code, 1)
            XCTAssertTrue(r.err.contains("no VP9 encoder (libvpx)") && r.err.filter { $0 == "\n" }.count == 1, r.err)
            XCTAssertEqual(listing(dir), [])
            return
        }
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try VideoProbe.codecName(dir.appendingPathComponent("x.webm")), "vp9")
        XCTAssertEqual(try VideoReader.read(dir.appendingPathComponent("x.webm")).count, 17)
        let ffprobe = try tool("ffprobe")
        let probe = try shell("'\(ffprobe)' -v error -show_entries stream=codec_name -of csv=p=0 x.webm", in: dir, env: env)
        XCTAssertEqual(probe.code, 0)
        XCTAssertEqual(probe.out.trimmingCharacters(in: .whitespacesAndNewlines), "vp9")
    }

    /// `-o -`: fragmented MP4 on stdout that ffprobe and ffmpeg read from a
    /// pipe; the summary line goes to stderr, and no file named "-" appears.
    func testStdoutPipesIntoFFprobeAndFFmpeg() throws {
        let env = try builtinModel(), dir = try scratchFolder()
        let ffprobe = try tool("ffprobe"), ffmpeg = try tool("ffmpeg")
        let probe = try shell("set -o pipefail; \"$BIN\" --action 3 -o - 2>err.txt | '\(ffprobe)' -v error -count_frames "
                              + "-show_entries stream=nb_read_frames -of csv=p=0 -", in: dir, env: env)
        XCTAssertEqual(probe.code, 0, probe.out)
        XCTAssertEqual(probe.out.trimmingCharacters(in: .whitespacesAndNewlines), "17")
        let err = try String(contentsOf: dir.appendingPathComponent("err.txt"), encoding: .utf8)
        // Progress lines and the summary, all on stderr.
        XCTAssertTrue(err.split(separator: "\n").contains { $0.hasPrefix("-: ") && $0.contains("17 frames") }, err)
        let decode = try shell("set -o pipefail; \"$BIN\" --action 3 --json -o - 2>json.txt | '\(ffmpeg)' -v error -i - -f null -",
                               in: dir, env: env)
        XCTAssertEqual(decode.code, 0)
        let json = try String(contentsOf: dir.appendingPathComponent("json.txt"), encoding: .utf8)
        XCTAssertTrue(json.split(separator: "\n").contains { $0.hasPrefix("{") && $0.contains("\"output\":\"-\"") }, json)
        // The bytes themselves: a file our own reader reads frame for frame.
        let saved = try shell("\"$BIN\" --action 3 --quiet -o - > saved.bin", in: dir, env: env)
        XCTAssertEqual(saved.code, 0)
        XCTAssertEqual(try VideoReader.read(dir.appendingPathComponent("saved.bin")).count, 17)
        XCTAssertEqual(listing(dir), ["err.txt", "json.txt", "saved.bin"])
    }

    func testUnsupportedExtensionIsOneLineAndWritesNothing() throws {
        let dir = try scratchFolder()
        for out in ["x.xyz", "x.avi"] {
            let r = try runParVideo(["--action", "3", "-o", out], in: dir)
            XCTAssertEqual(r.code, 2, r.err)
            XCTAssertTrue(r.err.hasPrefix("error: -o \(out): par-video does not write"), r.err)
            XCTAssertTrue(r.err.contains(".webm") && r.err.contains(".gif") && r.err.contains("folder"), r.err)
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
            XCTAssertEqual(r.out, "")
        }
        let both = try runParVideo(["--action", "3", "--format", "both", "-o", "x"], in: dir)
        XCTAssertTrue(both.code == 2 && both.err.contains("OUT must be a video file"), both.err)
        let mp4 = try runParVideo(["--action", "3", "--format", "mp4", "-o", "x.gif"], in: dir)
        XCTAssertTrue(mp4.code == 2 && mp4.err.contains("--format mp4 writes .mp4, .mov, .mkv or -"), mp4.err)
        XCTAssertEqual(listing(dir), [])
    }

    /// Without -y an existing output is refused before any work, for every
    /// command that writes a clip; with -y generate replaces it.
    func testExistingOutputNeedsOverwrite() throws {
        let dir = try scratchFolder()
        let old = Data("old bytes".utf8)
        try old.write(to: dir.appendingPathComponent("x.mp4"))
        try old.write(to: dir.appendingPathComponent("in.npy"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("fr"), withIntermediateDirectories: false)
        try old.write(to: dir.appendingPathComponent("fr/000000.png"))
        let before = listing(dir)
        let cases: [[String]] = [
            ["--action", "3", "-o", "x.mp4"],
            ["--action", "3", "-o", "fr/"],
            ["--action", "3", "--format", "frames", "-o", "fr"],
            ["--action", "3", "--format", "both", "-o", "fr.gif"],
            ["decode", "in.npy", "-o", "x.mp4"],
            ["reconstruct", "in.npy", "-o", "x.mp4"],
        ]
        for args in cases {
            let r = try runParVideo(args, in: dir)
            XCTAssertEqual(r.code, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains("exists") && r.err.contains("-y (--overwrite)"), "\(args): \(r.err)")
            XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, r.err)
            XCTAssertEqual(listing(dir), before, "\(args) wrote something")
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("x.mp4")), old)
            XCTAssertEqual(listing(dir.appendingPathComponent("fr")), ["000000.png"])
        }
        let env = try builtinModel()
        for flag in ["-y", "--overwrite"] {
            let r = try runParVideo(["--action", "3", flag, "--quiet", "-o", "x.mp4"], in: dir, env: env)
            XCTAssertEqual(r.code, 0, r.err)
            XCTAssertEqual(try VideoReader.read(dir.appendingPathComponent("x.mp4")).count, 17)
        }
        let r = try runParVideo(["--action", "3", "-y", "--quiet", "-o", "fr/"], in: dir, env: env)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(listing(dir.appendingPathComponent("fr")).count, 17)
        XCTAssertEqual(listing(dir), before)
    }
}

/// A full disk or a signal while a GIF, WebM or MP4 is written leaves nothing behind.
final class OutputCleanupTests: XCTestCase {
    let tiny = fixturesDir.appendingPathComponent("pipeline/tiny").path

    func testFullDiskLeavesNoPartialFile() throws {
        for ext in ["gif", "webm", "mp4"] {
            let dir = try scratchFolder("full\(ext)")
            // A file-size limit stands in for a full disk: the encoder's write fails part way.
            let r = try runParVideo(["--model", tiny, "--action", "0", "--frames", "60", "--size", "256", "--threads", "1",
                                     "--quiet", "-o", "long.\(ext)"], in: dir, shell: "ulimit -f 8; exec")
            XCTAssertEqual(r.code, 1, "\(ext): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.filter { $0 == "\n" }.count == 1, "\(ext): \(r.err)")
            XCTAssertEqual(listing(dir), [], "\(ext): debris")
        }
    }

    func testInterruptDuringTheEncodeLeavesNothing() throws {
        #if os(Linux)
        for ext in ["gif", "webm"] {
            let dir = try scratchFolder("sig\(ext)")
            let p = Process()
            p.executableURL = parVideoBinary
            p.arguments = ["--model", tiny, "--action", "0", "--frames", "200", "--size", "256", "--threads", "1",
                           "--quiet", "-o", "long.\(ext)"]
            p.currentDirectoryURL = dir
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(60)
            while p.isRunning, !listing(dir).contains(where: { $0.contains(".partial-") }), Date() < deadline { usleep(2_000) }
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            // The encode of 200 frames at 256x256 takes far longer than the 2 ms poll.
            XCTAssertEqual(p.terminationStatus, 130, "\(ext): not interrupted while encoding")
            XCTAssertEqual(listing(dir), [], "\(ext): debris")
        }
        #endif
    }
}

/// The library side: parsing -o once, the palette, the GIF and WebM writers,
/// and the no-replace commit.
final class OutputTargetTests: XCTestCase {
    func testParsingByExtensionAndFormat() throws {
        func target(_ out: String, _ format: OutputFormat? = nil) throws -> (String?, String?, String?) {
            let t = try OutputTarget(parsing: out, format: format)
            return (t.video?.container.rawValue, t.video?.url?.lastPathComponent, t.frames?.lastPathComponent)
        }
        XCTAssertTrue(try target("a.mp4") == ("mp4", "a.mp4", nil))
        XCTAssertTrue(try target("a.MOV") == ("mov", "a.MOV", nil))
        XCTAssertTrue(try target("a.mkv") == ("mkv", "a.mkv", nil))
        XCTAssertTrue(try target("a.webm") == ("webm", "a.webm", nil))
        XCTAssertTrue(try target("a.gif") == ("gif", "a.gif", nil))
        XCTAssertTrue(try target("-") == ("fmp4", nil, nil))
        XCTAssertTrue(try target("clip") == (nil, nil, "clip"))
        XCTAssertTrue(try target("run.v2/") == (nil, nil, "run.v2"))
        XCTAssertTrue(try target("a.mp4", .frames) == (nil, nil, "a.mp4"))
        XCTAssertTrue(try target("a.gif", .both) == ("gif", "a.gif", "a"))
        XCTAssertTrue(try target("a.mkv", .mp4) == ("mkv", "a.mkv", nil))
        for (out, format) in [("a.xyz", nil), ("a.avi", nil), ("a.gif", .mp4), ("a", .mp4), ("a", .both),
                              ("-", .frames), ("-", .both), ("", nil)] as [(String, OutputFormat?)] {
            XCTAssertThrowsError(try OutputTarget(parsing: out, format: format), "\(out) \(String(describing: format))")
        }
        XCTAssertTrue(try OutputTarget(parsing: "-").toStdout)
    }

    func testPaletteKeepsFewColoursExactlyAndMapsToNearest() {
        let colours: [[UInt8]] = [[0, 0, 0], [255, 0, 0], [0, 200, 0], [10, 20, 250], [255, 255, 255]]
        let px = (0..<50).flatMap { colours[$0 % colours.count] }
        let palette = Palette(rgb: px)
        XCTAssertEqual(palette.colors.count, 5)
        let back = palette.indices(rgb: px[...]).flatMap { i in [palette.colors[Int(i)].r, palette.colors[Int(i)].g, palette.colors[Int(i)].b] }
        XCTAssertEqual(back, px)
        // Many colours: at most 255 entries, every index valid.
        let clip = movingGradient(frames: 4, width: 48, height: 32)
        let big = Palette(rgb: clip.pixels)
        XCTAssertEqual(big.colors.count, Palette.maxColors)
        XCTAssertTrue(big.indices(rgb: clip.frame(0)).allSatisfy { Int($0) < big.colors.count })
    }

    func testGIFRoundTripAndSameBytes() throws {
        let dir = try scratchFolder()
        let clip = movingGradient(frames: 6, width: 48, height: 32, fps: 8)
        let a = OutputTarget(video: .init(container: .gif, url: dir.appendingPathComponent("a.gif")), frames: nil)
        let b = OutputTarget(video: .init(container: .gif, url: dir.appendingPathComponent("b.gif")), frames: nil)
        try a.write(clip)
        try b.write(clip)
        XCTAssertEqual(try Data(contentsOf: a.video!.url!), try Data(contentsOf: b.video!.url!))
        let back = try VideoReader.read(a.video!.url!)
        XCTAssertEqual(back.count, 6)
        XCTAssertEqual(back.fps, 8, accuracy: 0.5)
        XCTAssertGreaterThan(back.psnr(against: clip), 30)
        XCTAssertThrowsError(try OutputTarget(video: .init(container: .gif, url: dir.appendingPathComponent("c.gif")), frames: nil)
            .write(clip, options: .init(fps: 60)))
    }

    func testWebMIsVP9AndSameBytes() throws {
        try XCTSkipUnless(VideoContainer.hasVP9, "libvpx missing")
        let dir = try scratchFolder()
        let clip = movingGradient(frames: 6, width: 48, height: 32)
        for name in ["a.webm", "b.webm"] {
            try OutputTarget(video: .init(container: .webm, url: dir.appendingPathComponent(name)), frames: nil).write(clip)
        }
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.webm")), try Data(contentsOf: dir.appendingPathComponent("b.webm")))
        XCTAssertEqual(try VideoProbe.codecName(dir.appendingPathComponent("a.webm")), "vp9")
        let back = try VideoReader.read(dir.appendingPathComponent("a.webm"))
        XCTAssertEqual(back.count, 6)
        XCTAssertGreaterThan(back.psnr(against: clip), 30)
    }

    /// A file that appears while the output is written is never replaced without overwrite.
    func testNoReplaceCommitKeepsAFileThatAppeared() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("x.mp4"), folder = dir.appendingPathComponent("f")
        XCTAssertThrowsError(try AtomicOutput.write(to: url, overwrite: false) { tmp in
            try AtomicOutput.writeFile(Data("new".utf8), to: tmp.path)
            try Data("theirs".utf8).write(to: url)
        })
        XCTAssertEqual(try Data(contentsOf: url), Data("theirs".utf8))
        XCTAssertThrowsError(try AtomicOutput.write(to: folder, directory: true, overwrite: false) { tmp in
            try AtomicOutput.writeFile(Data("new".utf8), to: tmp.appendingPathComponent("0.png").path)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        })
        XCTAssertEqual(listing(dir), ["f", "x.mp4"])
        XCTAssertEqual(listing(folder), [])
    }
}
