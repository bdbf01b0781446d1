import Foundation
import XCTest
@testable import PARVideo

/// The progress meters, the JSON rounding and the option values that moved
/// out of the CLI, without the binary: a clock the test drives and a sink
/// that keeps what would go to stderr.
final class ReportTests: XCTestCase {
    final class Recorder: @unchecked Sendable {
        var now: UInt64 = 0
        var lines: [String] = []
        func advance(_ seconds: Double) { now += UInt64(seconds * 1e9) }
    }

    func progress(cube: Int, of cubes: Int, step: Int) -> RenderProgress {
        RenderProgress(cube: cube, cubes: cubes, step: step, steps: 10, tokens: step * 4, cubeTokens: 40)
    }

    func testClipProgressWithoutTerminalPrintsCubeEndsAndAtMostEveryInterval() {
        let r = Recorder()
        let p = ClipProgress("generate", enabled: true, terminal: false, interval: 10, clock: { r.now }, emit: { r.lines.append($0) })
        for step in 1...10 {
            r.advance(1)
            p.report(progress(cube: 1, of: 2, step: step))
        }
        XCTAssertEqual(r.lines, ["generate: cube 1/2  step 10/10  tokens 40/40  ETA 0:10\n"])
        r.advance(11)
        p.report(progress(cube: 2, of: 2, step: 1))
        XCTAssertEqual(r.lines.last, "generate: cube 2/2  step 1/10  tokens 4/40  ETA 0:17\n")
        p.finish()
        XCTAssertEqual(r.lines.count, 2, "no terminal control characters in a log")
    }

    func testClipProgressOnATerminalRewritesOneLine() {
        let r = Recorder()
        let p = ClipProgress("tokens", enabled: true, terminal: true, clock: { r.now }, emit: { r.lines.append($0) })
        r.advance(2)
        p.report(progress(cube: 1, of: 1, step: 5))
        p.finish()
        XCTAssertEqual(r.lines, ["\rcube 1/1  step 5/10  tokens 20/40  ETA 0:02\u{1B}[K", "\r\u{1B}[K"])
        let off = ClipProgress("tokens", enabled: false, terminal: true, clock: { r.now }, emit: { r.lines.append($0) })
        off.report(progress(cube: 1, of: 1, step: 5))
        off.finish()
        XCTAssertEqual(r.lines.count, 2)
    }

    func testBatchProgressLinesRateAndETA() {
        let r = Recorder()
        let p = BatchProgress(enabled: true, terminal: false, clock: { r.now }, emit: { r.lines.append($0) })
        p.handle(.started(toRender: 4, skipped: 2))
        r.advance(2)
        p.handle(.finished(ClipSpec(index: 2, action: 1, seed: 9), actionName: "Jump"))
        p.handle(.step(progress(cube: 1, of: 1, step: 3)))
        p.end()
        XCTAssertEqual(r.lines, ["batch: 4 clips to render (2 already finished, skipped)\n",
                                 "1/4 clip_000002_a001 (Jump)  0.50 clips/s  ETA 0:06\n"])
        XCTAssertEqual(p.elapsed, 2, accuracy: 1e-9)
        XCTAssertEqual(p.clipsPerSecond, 0.5, accuracy: 1e-9)
    }

    func testBatchProgressBarOnATerminal() {
        let r = Recorder()
        let p = BatchProgress(enabled: true, terminal: true, clock: { r.now }, emit: { r.lines.append($0) })
        p.handle(.started(toRender: 2, skipped: 0))
        r.advance(4)
        p.handle(.finished(ClipSpec(index: 0, action: 0, seed: 1), actionName: "Run"))
        p.handle(.step(progress(cube: 1, of: 1, step: 3)))
        p.end()
        XCTAssertEqual(r.lines.dropFirst(), ["\r[############------------] 1/2 clips  0.25 clips/s  ETA 0:04\u{1B}[K",
                                             "\r1/2 clips  0.25 clips/s  ETA 0:04  (batch step 3/10)\u{1B}[K", "\n"])
    }

    func testDurationText() {
        XCTAssertEqual(durationText(0), "0:00")
        XCTAssertEqual(durationText(61.4), "1:01")
        XCTAssertEqual(durationText(3725), "1:02:05")
    }

    func testJSONRoundingKeepsWholeNumbersAndRoundsFigures() throws {
        let raw: [String: Any] = ["fvd": 123.45678912345, "total_seconds": 0.17728143400000002, "clips": 6, "ok": true,
                                  "nested": ["accuracy": 1.0 / 3, "list": [2.0, 0.1 + 0.2]] as [String: Any], "name": "a"]
        let line = try JSONReport.line(JSONReport.rounded(raw) as! [String: Any])
        XCTAssertEqual(line, #"{"clips":6,"fvd":123.457,"name":"a","nested":{"accuracy":0.333333,"list":[2,0.3]},"ok":true,"schema":1,"total_seconds":0.177}"#)
        XCTAssertEqual(JSONReport.figure(.infinity), .infinity)
        XCTAssertEqual(JSONReport.value(Float(1.15)), 1.15)
    }

    func testFrameSizeParsingAndLimits() {
        XCTAssertEqual(FrameSize(parsing: "256"), FrameSize(width: 256, height: 256))
        XCTAssertEqual(FrameSize(parsing: "320X240"), FrameSize(width: 320, height: 240))
        for bad in ["", "x", "0x2", "2x", "2x2x2", "-2", "a"] { XCTAssertNil(FrameSize(parsing: bad), bad) }
        XCTAssertNil(FrameSize(width: 64, height: 64).problem)
        XCTAssertEqual(FrameSize(width: 63, height: 64).problem, "width and height must be even (H.264 yuv420p)")
        XCTAssertEqual(FrameSize(width: 4098, height: 64).problem, "at most 4096x4096")
    }

    func testBatchChecks() throws {
        func refusal(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let e as BatchError { XCTAssertEqual(e.kind, .usage); return e.description } catch { return "\(error)" }
        }
        XCTAssertEqual(refusal { try BatchChecks.clips(perClass: nil, count: nil, labels: false) }, "give --per-class K or --count N")
        XCTAssertEqual(refusal { try BatchChecks.clips(perClass: 1, count: 1, labels: false) }, "--per-class and --count exclude each other")
        XCTAssertEqual(refusal { try BatchChecks.clips(perClass: 0, count: nil, labels: false) }, "--per-class 0: must be at least 1")
        XCTAssertEqual(refusal { try BatchChecks.clips(perClass: 2, count: nil, labels: true) }, "--labels needs --count N")
        XCTAssertTrue(refusal { try BatchChecks.clips(perClass: nil, count: BatchPlan.maxClips + 1, labels: false) }?
            .contains("more than the \(BatchPlan.maxClips) one run may have") ?? false)
        XCTAssertNil(refusal { try BatchChecks.clips(perClass: nil, count: 5, labels: true) })
        let dir = try scratchFolder()
        let file = dir.appendingPathComponent("f")
        try Data().write(to: file)
        XCTAssertEqual(refusal { try BatchChecks.outputFolder(file.path) }, "-o \(file.path): exists and is not a folder")
        XCTAssertNil(refusal { try BatchChecks.outputFolder(dir.path) })
        XCTAssertNil(refusal { try BatchChecks.outputFolder(dir.appendingPathComponent("new").path) })
        XCTAssertNotNil(refusal { try BatchChecks.outputFolder(dir.appendingPathComponent("no/such").path) })
    }

    func testParallelMustBeASquare() {
        for n in [1, 4, 16, 64] { XCTAssertNil(GPTConfig.parallelProblem(n), "\(n)") }
        for n in [0, -4, 2, 8, 15] { XCTAssertEqual(GPTConfig.parallelProblem(n), "must be a square (1, 4, 16, ...)", "\(n)") }
    }

    func testBatchClipsFromTheOptions() throws {
        let dir = try scratchFolder()
        let labels = dir.appendingPathComponent("labels.csv")
        try Data("clip,label\na,2\nb,Jump\n".utf8).write(to: labels)
        guard case .perClass(3) = try BatchJob.Clips.from(perClass: 3, count: nil, labels: nil, resolve: { _ in 0 }) else {
            return XCTFail("per class")
        }
        let clips = try BatchJob.Clips.from(perClass: nil, count: 2, labels: labels.path) { $0 == "Jump" ? 7 : Int($0)! }
        guard case .count(2, let ids) = clips else { return XCTFail("count") }
        XCTAssertEqual(ids, [2, 7])
    }

    func testTokenCubeFileShapes() throws {
        let dir = try scratchFolder()
        let ok = dir.appendingPathComponent("a.npy"), batch = dir.appendingPathComponent("b.npy"), flat = dir.appendingPathComponent("c.npy")
        try NPY.encode([Int32](repeating: 1, count: 12), shape: [1, 2, 3, 2]).write(to: batch)
        try NPY.encode([Int32](repeating: 1, count: 12), shape: [2, 3, 2]).write(to: ok)
        try NPY.encode([Int32](repeating: 1, count: 12), shape: [12]).write(to: flat)
        XCTAssertEqual(try TokenCubeFile(path: ok.path).dims, [2, 3, 2])
        XCTAssertEqual(try TokenCubeFile(path: batch.path).dims, [2, 3, 2])
        XCTAssertThrowsError(try TokenCubeFile(path: flat.path)) { e in
            XCTAssertEqual("\(e)", "\(flat.path): token cube has shape [12], expected (T, H, W) or (1, T, H, W)")
        }
    }
}
