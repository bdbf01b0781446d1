import Foundation
import XCTest
import PARVideo

/// `par-video decode` / `reconstruct` on the small BF16 tokenizer fixture.
final class TokenizerCLITests: XCTestCase {
    let model = TokenizerTests.fixtures.appendingPathComponent("small_b.safetensors").path

    func run(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func writeNPY(_ url: URL, shape: [Int], values: [Int32]) throws {
        try NPY.encode(values, shape: shape).write(to: url)
    }

    func testDecodeThenReconstruct() throws {
        let dir = try scratchFolder()
        let cube = (0..<(5 * 4 * 4)).map { Int32(($0 * 7919) % 64000) }
        try writeNPY(dir.appendingPathComponent("cube.npy"), shape: [5, 4, 4], values: cube)
        let d = try run(["decode", "cube.npy", "--model", model, "-o", "out", "--format", "frames", "--json"], in: dir)
        XCTAssertEqual(d.code, 0, d.err)
        let decoded = try JSONSerialization.jsonObject(with: Data(d.out.utf8)) as! [String: Any]
        XCTAssertEqual([decoded["frames"], decoded["height"], decoded["width"]].map { $0 as? Int }, [9, 8, 8], d.out)
        let pngs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("out").path).filter { $0.hasSuffix(".png") }
        XCTAssertEqual(pngs.count, 9)
        // The decoder's own output re-encodes to a close picture: a real PSNR, not a placeholder.
        let r = try run(["reconstruct", "out", "--model", model, "-o", "rec", "--format", "frames", "--json"], in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let psnr = obj["psnr_db"] as! Double
        XCTAssertGreaterThan(psnr, 10)
        XCTAssertLessThan(psnr, 99)
    }

    /// The float32 .npy of `path` (format 1.0, '<f4'): shape and values.
    func readFloatNPY(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let data = try Data(contentsOf: url)
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'descr': '<f4'"), header)
        let dims = header.split(separator: "(")[1].split(separator: ")")[0]
        let shape = dims.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let body = data[(10 + headerLength)...]
        var values = [Float](repeating: 0, count: body.count / 4)
        _ = values.withUnsafeMutableBytes { body.copyBytes(to: $0) }
        return (shape, values)
    }

    /// --float-frames holds the decoder's frames before rounding: the 8-bit frames
    /// written beside it are those floats rounded, pixel for pixel.
    func testFloatFramesAreTheFramesBeforeRounding() throws {
        let dir = try scratchFolder()
        let cube = (0..<(5 * 4 * 4)).map { Int32(($0 * 104729) % 64000) }
        try writeNPY(dir.appendingPathComponent("cube.npy"), shape: [5, 4, 4], values: cube)
        for command in [["decode", "cube.npy"], ["reconstruct", "ref"]] {
            if command[0] == "reconstruct" {
                let d = try run(["decode", "cube.npy", "--model", model, "-o", "ref", "--format", "frames"], in: dir)
                XCTAssertEqual(d.code, 0, d.err)
            }
            let r = try run(command + ["--model", model, "-o", "out", "--format", "frames", "--float-frames", "f.npy", "-y"], in: dir)
            XCTAssertEqual(r.code, 0, r.err)
            let (shape, values) = try readFloatNPY(dir.appendingPathComponent("f.npy"))
            XCTAssertEqual(shape, [9, 8, 8, 3], command[0])
            let frames = try VideoReader.read(dir.appendingPathComponent("out"))
            XCTAssertEqual(frames.pixels.count, values.count)
            XCTAssertTrue(values.allSatisfy { $0 >= 0 && $0 <= 1 }, command[0])
            XCTAssertEqual(values.map { UInt8(($0 * 255).rounded(.toNearestOrAwayFromZero)) }, frames.pixels, command[0])
            // Not all one level: the floats carry more than the 8-bit frames.
            XCTAssertTrue(values.contains { abs($0 * 255 - ($0 * 255).rounded()) > 0.01 }, command[0])
        }
    }

    func testFloatFramesRefusals() throws {
        let dir = try scratchFolder()
        try writeNPY(dir.appendingPathComponent("cube.npy"), shape: [5, 4, 4], values: [Int32](repeating: 3, count: 80))
        try Data("keep".utf8).write(to: dir.appendingPathComponent("old.npy"))
        let cases: [([String], String)] = [
            (["--float-frames", "f.raw"], "give a path ending in .npy"),
            (["--float-frames", "cube.npy", "-y"], "is the input cube.npy"),
            (["--float-frames", "old.npy"], "old.npy"),
        ]
        for (extra, expected) in cases {
            let r = try run(["decode", "cube.npy", "--model", model, "-o", "x.mp4"] + extra, in: dir)
            XCTAssertEqual(r.code, 2, "\(extra): \(r.err)")
            XCTAssertTrue(r.err.contains(expected), "\(extra): \(r.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.mp4").path))
        }
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("old.npy")), Data("keep".utf8))
        let same = try run(["decode", "cube.npy", "--model", model, "-o", "o.npy/", "--float-frames", "o.npy"], in: dir)
        XCTAssertEqual(same.code, 2, same.err)
    }

    func testBadInputsFailWithOneLineAndNoOutput() throws {
        let dir = try scratchFolder()
        try writeNPY(dir.appendingPathComponent("oov.npy"), shape: [5, 4, 4], values: [Int32](repeating: 64000, count: 80))
        try writeNPY(dir.appendingPathComponent("flat.npy"), shape: [80], values: [Int32](repeating: 1, count: 80))
        try Data("not a video".utf8).write(to: dir.appendingPathComponent("text.mp4"))
        let cases: [([String], String)] = [
            (["decode", "oov.npy", "--model", model, "-o", "x.mp4"], "outside the vocabulary [0, 64000)"),
            (["decode", "flat.npy", "--model", model, "-o", "x.mp4"], "expected (T, H, W)"),
            (["reconstruct", "text.mp4", "--model", model, "-o", "x.mp4"], "not a readable video"),
        ]
        for (args, expected) in cases {
            let r = try run(args, in: dir)
            XCTAssertEqual(r.code, 1, "\(args): \(r.err)")
            // The last line is ours; FFmpeg's demuxer may log one line before it (AV_LOG_ERROR level).
            let last = r.err.split(separator: "\n").last.map(String.init) ?? ""
            XCTAssertTrue(last.hasPrefix("error: ") && last.contains(expected), "\(args): \(r.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.mp4").path))
        }
    }
}
