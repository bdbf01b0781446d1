import Foundation
import XCTest
import PARVideo

/// Inputs and outputs that are not what they claim, run through the built
/// binary: FIFOs and devices as inputs (never a hang), outputs that are not
/// regular files (never replaced), one file named twice, values the encoder
/// would refuse only after the work, FFmpeg's own log, absurd batch sizes.
/// Every run goes through `timeout`, so a regression fails instead of hanging.
final class HostileIOTests: XCTestCase {
    let tiny = fixturesDir.appendingPathComponent("pipeline/tiny").path
    static let isRoot = getuid() == 0
    /// makedev(1, 3), /dev/null's numbers (glibc's macro does not import).
    let nullDevice = dev_t(1 << 8 | 3)

    func run(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
        try runParVideo(args, in: dir, shell: "timeout 60")
    }

    /// Exit `code` (1 or 2 when nil), one line on stderr containing `needle`.
    func assertRefused(_ r: (code: Int32, out: String, err: String), _ needle: String, code: Int32? = nil,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.code, 124, "hung: \(r.err)", file: file, line: line)
        if let code { XCTAssertEqual(r.code, code, r.err, file: file, line: line) } else {
            XCTAssertTrue([1, 2].contains(r.code), "exit \(r.code): \(r.err)", file: file, line: line)
        }
        XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains(needle), "wanted '\(needle)': \(r.err)", file: file, line: line)
        XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, "not one line: \(r.err)", file: file, line: line)
    }

    func mkfifo(_ url: URL) throws {
        XCTAssertEqual(Glibc.mkfifo(url.path, 0o644), 0, String(cString: strerror(errno)))
    }

    func fileType(_ url: URL) -> mode_t {
        var st = stat()
        return lstat(url.path, &st) == 0 ? st.st_mode & S_IFMT : 0
    }

    // MARK: inputs

    func testFIFOsAndDevicesAsInputsAreRefusedWithoutBlocking() throws {
        let dir = try scratchFolder()
        let fifo = dir.appendingPathComponent("pipe")
        try mkfifo(fifo)
        // A model folder with a FIFO among its .safetensors files.
        let folder = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        for name in try FileManager.default.contentsOfDirectory(atPath: tiny) {
            try FileManager.default.copyItem(atPath: "\(tiny)/\(name)", toPath: folder.appendingPathComponent(name).path)
        }
        try mkfifo(folder.appendingPathComponent("zz.safetensors"))
        // A frame folder whose first frame is a FIFO.
        let frames = dir.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: false)
        try mkfifo(frames.appendingPathComponent("000000.png"))
        var cases: [([String], String)] = [
            (["--model", "pipe", "--action", "0", "-o", "a.mp4"], "FIFO"),
            (["--model", "model", "--action", "0", "-o", "a.mp4"], "zz.safetensors: a FIFO"),
            (["tokens", "--model", "pipe", "--action", "0", "-o", "a.npy"], "FIFO"),
            (["tokens", "--model", "model", "--action", "0", "-o", "a.npy"], "FIFO"),
            (["inspect", "pipe"], "FIFO"),
            (["batch", "--model", "pipe", "--count", "1", "-o", "run"], "FIFO"),
            (["batch", "--model", tiny, "--count", "1", "--labels", "pipe", "-o", "run"], "FIFO"),
            (["decode", "pipe", "--model", tiny, "-o", "a.mp4"], "FIFO"),
            (["decode", "cube.npy", "--model", "pipe", "-o", "a.mp4"], "FIFO"),
            (["reconstruct", "pipe", "--model", tiny, "-o", "a.mp4"], "FIFO"),
            (["reconstruct", "frames", "--model", tiny, "-o", "a.mp4"], "000000.png: a FIFO"),
            (["--model", tiny, "--action", "0", "--prefix", "pipe", "-o", "a.mp4"], "FIFO"),
        ]
        try Data([0x93]).write(to: dir.appendingPathComponent("cube.npy"))
        if Self.isRoot {
            XCTAssertEqual(mknod(dir.appendingPathComponent("null").path, S_IFCHR | 0o644, nullDevice), 0)
            cases += [
                (["--model", "null", "--action", "0", "-o", "a.mp4"], "character device"),
                (["decode", "null", "--model", tiny, "-o", "a.mp4"], "character device"),
                (["reconstruct", "null", "--model", tiny, "-o", "a.mp4"], "character device"),
            ]
        }
        for (args, needle) in cases {
            assertRefused(try run(args, in: dir), needle)
        }
        XCTAssertFalse(listing(dir).contains { $0.hasPrefix(".") || $0.hasSuffix(".mp4") || $0 == "run" }, "\(listing(dir))")
    }

    // MARK: outputs

    func testOutputsThatAreNotRegularFilesAreNeverReplaced() throws {
        let dir = try scratchFolder()
        try mkfifo(dir.appendingPathComponent("fifo.mp4"))
        XCTAssertEqual(symlink("/dev/null", dir.appendingPathComponent("null.mp4").path), 0)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("real"), withIntermediateDirectories: false)
        XCTAssertEqual(symlink("real", dir.appendingPathComponent("linked").path), 0)
        var targets: [(name: String, format: String, needle: String)] = [
            ("fifo.mp4", "mp4", "FIFO"), ("null.mp4", "mp4", "symbolic link"), ("linked", "frames", "symbolic link"),
            ("fifo.mp4", "both", "FIFO"),
        ]
        if Self.isRoot {
            XCTAssertEqual(mknod(dir.appendingPathComponent("dev.mp4").path, S_IFCHR | 0o644, nullDevice), 0)
            targets.append(("dev.mp4", "mp4", "character device"))
        }
        let before = targets.map { fileType(dir.appendingPathComponent($0.name)) }
        for t in targets {
            assertRefused(try run(["--model", tiny, "--action", "0", "--format", t.format, "-o", t.name], in: dir), t.needle, code: 2)
            assertRefused(try run(["tokens", "--model", tiny, "--action", "0", "-o", t.name], in: dir), t.needle, code: 2)
        }
        XCTAssertEqual(targets.map { fileType(dir.appendingPathComponent($0.name)) }, before, "an output node was replaced")
        XCTAssertEqual(listing(dir.appendingPathComponent("real")), [])
        XCTAssertFalse(listing(dir).contains { $0.hasPrefix(".") }, "\(listing(dir))")
    }

    func testLogitsAndCubeNamingOneFileAreRefusedBeforeAnyWork() throws {
        let dir = try scratchFolder()
        let cube = dir.appendingPathComponent("P.npy")
        let original = Data("an existing file".utf8)
        try original.write(to: cube)
        XCTAssertEqual(symlink(".", dir.appendingPathComponent("here").path), 0)
        XCTAssertEqual(link(cube.path, dir.appendingPathComponent("hard.npy").path), 0)
        for logits in ["P.npy", "./P.npy", "here/P.npy", dir.path + "/P.npy", "hard.npy"] {
            let r = try run(["tokens", "--model", tiny, "--action", "0", "--logits", logits, "-o", "P.npy"], in: dir)
            assertRefused(r, "name the same file", code: 2)
        }
        // An output that is the input it is made from.
        assertRefused(try run(["decode", "P.npy", "--model", tiny, "--format", "frames", "-o", "here/P.npy"], in: dir), "is the input", code: 2)
        XCTAssertEqual(try Data(contentsOf: cube), original)
        XCTAssertEqual(listing(dir), ["P.npy", "hard.npy", "here"])
        // Two different files still work.
        let ok = try run(["tokens", "--model", tiny, "--action", "0", "--logits", "L.npy", "-y", "-o", "P.npy"], in: dir)
        XCTAssertEqual(ok.code, 0, ok.err)
        XCTAssertNotEqual(try Data(contentsOf: cube), original)
    }

    /// Values that used to pass the checks and fail after all the work now
    /// fail first, in one line, and write nothing.
    func testValuesTheEncoderRefusesFailBeforeTheWork() throws {
        let dir = try scratchFolder()
        let long = String(repeating: "a", count: 247) + ".mp4"  // 251 bytes: fits, its temporary name does not
        assertRefused(try run(["--model", tiny, "--action", "0", "-o", long], in: dir), "the name is 251 bytes, at most", code: 2)
        assertRefused(try run(["--model", tiny, "--action", "0", "--format", "frames", "-o", String(repeating: "b", count: 240)], in: dir),
                      "at most", code: 2)
        for fps in ["1e-300", "1e-7"] {
            assertRefused(try run(["--model", tiny, "--action", "0", "--fps", fps, "-o", "a.mp4"], in: dir), "--fps", code: 2)
            assertRefused(try run(["batch", "--model", tiny, "--count", "2", "--fps", fps, "-o", "run"], in: dir), "--fps", code: 2)
        }
        // mpeg4 stores at most 65535 as the time base's denominator: 239.999 fps is 239999/1000.
        let mpeg4 = ["--fps", "239.999", "--codec", "mpeg4"]
        assertRefused(try run(["--model", tiny, "--action", "0", "-o", "a.mp4"] + mpeg4, in: dir), "encoder refuses", code: 1)
        assertRefused(try run(["batch", "--model", tiny, "--count", "2", "-o", "run"] + mpeg4, in: dir), "encoder refuses", code: 2)
        // A cube whose frames (5 x 8 x 24000) no H.264 encoder takes: refused before decoding.
        try NPY.encode([Int32](repeating: 0, count: 6000), shape: [2, 1, 3000]).write(to: dir.appendingPathComponent("wide.npy"))
        let t0 = Date()
        let wide = try run(["decode", "wide.npy", "--model", tiny, "-o", "w.mp4"], in: dir)
        assertRefused(wide, "encoder refuses 24000x8", code: 1)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "decoded before refusing")
        XCTAssertEqual(listing(dir), ["wide.npy"])
    }

    // MARK: FFmpeg's log

    func testFFmpegLogReachesStderrOnlyWithVerbose() throws {
        let dir = try scratchFolder()
        XCTAssertEqual(try run(["--model", tiny, "--action", "0", "--quiet", "-o", "good.mp4"], in: dir).code, 0)
        let good = try Data(contentsOf: dir.appendingPathComponent("good.mp4"))
        try good.prefix(3000).write(to: dir.appendingPathComponent("torn.mp4"))  // header, then cut mid-frame
        var junk = Data(count: 5000)
        for i in 0..<junk.count { junk[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        try junk.write(to: dir.appendingPathComponent("junk.mp4"))
        for input in ["torn.mp4", "junk.mp4"] {
            let r = try run(["reconstruct", input, "--model", tiny, "-o", "r.mp4"], in: dir)
            assertRefused(r, "not a readable video", code: 1)
            XCTAssertFalse(r.err.contains(" @ 0x"), "FFmpeg's raw log line: \(r.err)")
        }
        let verbose = try run(["reconstruct", "torn.mp4", "--verbose", "--model", tiny, "-o", "r.mp4"], in: dir)
        XCTAssertEqual(verbose.code, 1)
        XCTAssertGreaterThan(verbose.err.filter { $0 == "\n" }.count, 1, "--verbose shows FFmpeg's log: \(verbose.err)")
        XCTAssertTrue(verbose.err.contains(" @ 0x"), verbose.err)
        // An encoder error is one line too (libx264 logs its own complaint).
        try NPY.encode([Int32](repeating: 0, count: 6000), shape: [2, 1, 3000]).write(to: dir.appendingPathComponent("wide.npy"))
        assertRefused(try run(["decode", "wide.npy", "--model", tiny, "-o", "w.mp4"], in: dir), "refuses", code: 1)
        XCTAssertFalse(listing(dir).contains("r.mp4"))
    }

    // MARK: batch size

    func testAbsurdBatchSizesAreRefusedBeforeTheRunFolderExists() throws {
        let dir = try scratchFolder()
        for args in [["--count", "100000000"], ["--count", "1000001"], ["--per-class", "400000"], ["--per-class", "9223372036854775807"]] {
            let t0 = Date()
            let r = try run(["batch", "--model", tiny] + args + ["-o", "run"], in: dir)
            assertRefused(r, "more than the 1000000 one run may have", code: 2)
            XCTAssertLessThan(Date().timeIntervalSince(t0), 10, "\(args) took long to refuse")
        }
        XCTAssertEqual(listing(dir), [])
    }
}
