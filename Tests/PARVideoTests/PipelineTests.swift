import Foundation
import XCTest
import PARVideo

/// The main command end to end on the tiny complete bundle
/// (Tests/Fixtures/pipeline/tiny: tokenizer + GPTs for n = 1 and 4).
final class PipelineTests: XCTestCase {
    static let tiny = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/pipeline/tiny").standardized.path

    func testRenderIsDeterministicAndBatchIndependent() throws {
        let pipeline = try VideoPipeline(bundle: try ModelBundle.load(Self.tiny), parallel: 4)
        XCTAssertEqual(pipeline.clipFrames, 9)
        XCTAssertEqual(pipeline.frameSize.width, 32)
        XCTAssertEqual(pipeline.generator.steps, 4 + (48 - 4) / 4)
        let options = SamplingOptions(pipeline.config.sampling)
        var timings = RenderTimings()
        let batch = try pipeline.render(actions: [0, 1, 2], seeds: [11, 12, 13], options: options, fps: 8, timings: &timings)
        let alone = try pipeline.render(actions: [1], seeds: [12], options: options, fps: 8, timings: &timings)[0]
        XCTAssertEqual(batch[1].cube, alone.cube, "a clip's tokens do not depend on its batch")
        XCTAssertEqual(batch[1].frames.pixels, alone.frames.pixels)
        XCTAssertNotEqual(batch[0].cube, batch[1].cube)
        XCTAssertEqual(batch[2].frames.count, 9)
        XCTAssertGreaterThan(timings.tokens, 0)
    }

    func testMissingTokenizerAndUntrainedParallelAreClearErrors() throws {
        let gptOnly = Self.tiny + "/gpt-n4.safetensors"
        XCTAssertThrowsError(try VideoPipeline(bundle: try ModelBundle.load(gptOnly))) {
            XCTAssertTrue("\($0)".contains("no tokenizer"), "\($0)")
        }
        XCTAssertThrowsError(try VideoPipeline(bundle: try ModelBundle.load(Self.tiny), parallel: 16)) {
            XCTAssertTrue("\($0)".contains("--parallel 16"), "\($0)")
        }
    }

    /// `tokens --logits`: the guided logits every token was drawn from, in PAR sequence order;
    /// under greedy decoding each row's argmax is the token at that sequence position.
    func testTokensWritesLogitsInSequenceOrder() throws {
        let dir = try scratchFolder()
        let r = try runParVideo(["tokens", "--model", Self.tiny, "--parallel", "4", "--action", "1", "--top-k", "1",
                                 "--logits", "l.npy", "-o", "t.npy"], in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        let cube = try NPY.read(dir.appendingPathComponent("t.npy").path)
        XCTAssertEqual(cube.shape, [3, 4, 4])
        let bytes = try Data(contentsOf: dir.appendingPathComponent("l.npy"))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'descr': '<f4'") && header.contains("'shape': (48, 64)"), header)
        let logits: [Float] = bytes[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(logits.count, 48 * 64)
        let order = PAROrder(T: 3, H: 4, W: 4, parallel: 4)
        for p in 0..<48 {
            let row = logits[(p * 64)..<((p + 1) * 64)]
            let best = row.indices.max { row[$0] < row[$1] }! - p * 64
            XCTAssertEqual(Int32(best), cube.values[order.rasterOf[p]], "position \(p)")
        }
    }

    func testMainCommandWritesTheClip() throws {
        let dir = try scratchFolder()
        let r = try runParVideo(["--model", Self.tiny, "--action", "spin", "--frames", "8", "--seed", "5", "--json", "-o", "a.mp4"], in: dir)
        XCTAssertEqual(r.code, 0, r.err)
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["steps"] as? Int, 15)
        XCTAssertEqual(json["action"] as? Int, 2)
        for key in ["tokens_seconds", "decode_seconds", "encode_seconds"] { XCTAssertNotNil(json[key] as? Double, key) }
        let info = try VideoProbe.info(dir.appendingPathComponent("a.mp4"))
        XCTAssertEqual(info.frames, 8)
        XCTAssertEqual(info.width, 32)
        // Same seed and settings: the same bytes.
        XCTAssertEqual(try runParVideo(["--model", Self.tiny, "--action", "2", "--frames", "8", "--seed", "5", "--quiet", "-o", "b.mp4"], in: dir).code, 0)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.mp4")), try Data(contentsOf: dir.appendingPathComponent("b.mp4")))
        // Errors that need the model: an untrained n, a name the model lacks, no frames.
        for (args, needle) in [(["--parallel", "16"], "--parallel 16"), (["--action", "Archery"], "unknown action"),
                               (["--frames", "0"], "--frames 0")] {
            var full = ["--model", Self.tiny, "--action", "0", "-o", "c.mp4"]
            for i in stride(from: 0, to: args.count, by: 2) {
                if let at = full.firstIndex(of: args[i]) { full[at + 1] = args[i + 1] } else { full += [args[i], args[i + 1]] }
            }
            let e = try runParVideo(full, in: dir)
            XCTAssertEqual(e.code, 2, "\(args): \(e.err)")
            XCTAssertTrue(e.err.contains(needle), "\(args): \(e.err)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.mp4").path))
    }
}
