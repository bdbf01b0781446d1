import Foundation
import XCTest
@testable import PARVideo

/// `par-video bench` on the image configs: the published layouts' sizes, and
/// the tiny image config through the binary (the full-size ones are run by hand, BENCHMARKS.md).
final class ImageBenchTests: XCTestCase {
    /// The official code's parameter counts (gpt.py: 775M, 1.4B, 3.1B) from the presets' layouts.
    func testPresetsAreThePublishedLayouts() throws {
        for (preset, params) in [(DecodeBenchmark.Preset.parXL, 775e6), (.parXXL, 1.4e9), (.par3B, 3.1e9)] {
            let c = preset.config
            XCTAssertEqual(c.cube, [1, 24, 24])
            XCTAssertEqual(c.vocabSize, 16384)
            XCTAssertEqual(c.numClasses, 1000)
            XCTAssertEqual(c.rope, .twoD)
            XCTAssertEqual(c.imageSize, 384)
            XCTAssertEqual(preset.vq, .vq16)
            XCTAssertEqual(preset.topK, 0)
            XCTAssertEqual(preset.batches, [1])
            try c.validate()
            let bytes = try XCTUnwrap(DecodeBenchmark.randomWeightBytes(c, dtype: .f32))
            XCTAssertEqual(Double(bytes) / 4, params, accuracy: params * 0.05, preset.rawValue)
            XCTAssertEqual(DecodeBenchmark.randomWeightBytes(c, dtype: .bf16), bytes / 2)
        }
        XCTAssertEqual(DecodeBenchmark.Preset.parXL.cfgScale, 1.5)
        XCTAssertEqual(DecodeBenchmark.Preset.parXXL.cfgScale, 1.435)
        XCTAssertEqual(DecodeBenchmark.Preset.par3B.cfgScale, 1.345)
        XCTAssertNil(DecodeBenchmark.Preset.paper.vq)
        XCTAssertEqual(DecodeBenchmark.Preset.paper.topK, 8000)
    }

    /// The random weights the bench allocates are the bytes it checks memory for.
    func testRandomWeightBytesAreWhatIsAllocated() throws {
        let c = DecodeBenchmark.Preset.imageTiny.config
        let w = GPTWeights(randomFor: c, dtype: .f32)
        let embeddings = w.tokEmbeddings.bytes + w.clsEmbedding.bytes + (w.specialEmbeddings?.bytes ?? 0)
        XCTAssertEqual(DecodeBenchmark.randomWeightBytes(c, dtype: .f32), w.streamedBytes + embeddings)
    }

    func testTinyImageConfigTimesTokensAndDecode() throws {
        let r = try runParVideo(["bench", "--config", "image-tiny", "--parallel", "1", "4", "--threads", "1"], in: try scratchFolder(),
                                shell: "timeout 300")
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first { $0.hasPrefix("| n |") })
        XCTAssertTrue(header.hasSuffix("| decode s | decode bound s | decode share | s/image |"), header)
        let rows = lines.filter { $0.range(of: #"^\| \d+ \|"#, options: .regularExpression) != nil }
        XCTAssertEqual(rows.map { $0.split(separator: "|")[0...1].map { $0.trimmingCharacters(in: .whitespaces) } }, [["1", "1"], ["4", "1"]])
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertEqual(cells.count, 20, row)
            let tokens = try XCTUnwrap(Double(cells[4])), decode = try XCTUnwrap(Double(cells[16])), total = try XCTUnwrap(Double(cells[19]))
            XCTAssertGreaterThan(try XCTUnwrap(Double(cells[5])), 0, row)  // tokens/s (the tiny config's seconds round to 0.00)
            XCTAssertTrue(cells[18].hasSuffix("%"), row)  // the decode's share of its bound
            XCTAssertEqual(total, tokens + decode, accuracy: 0.011, row)
        }
        XCTAssertTrue(r.out.contains("CFG 1.5, top-k 0"), r.out)
        XCTAssertTrue(r.out.contains("one 16x16 VQ decode"), r.out)
    }

    /// --peer: the official code's figures beside these, per n, at the same precision; a file for
    /// another size or precision, or not that JSON, is one line and exit 2 before any work.
    func testPeerFiguresBesideTheTable() throws {
        let dir = try scratchFolder()
        func peer(_ name: String, size: String = "tiny", mode: String = "fp32") throws {
            let row = #"{"parallel": 1, "mode": "\#(mode)", "tokens_seconds": 0.5, "decode_seconds": 0.25, "seconds_per_image": 0.75}"#
            try Data(#"{"schema": 1, "peer": "official PAR, pytorch 2", "size": "\#(size)", "threads": 2, "rows": [\#(row)]}"#.utf8)
                .write(to: dir.appendingPathComponent(name))
        }
        try peer("ok.json")
        let r = try runParVideo(["bench", "--config", "image-tiny", "--parallel", "1", "--threads", "1", "--peer", "ok.json"], in: dir,
                                shell: "timeout 300")
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("# beside official PAR, pytorch 2 (fp32)"), r.out)
        XCTAssertTrue(r.out.contains("| 1 | 0.50 | 0.25 | 0.75 | "), r.out)
        try peer("xl.json", size: "XL")
        try peer("bf16.json", mode: "bf16")
        try Data("[1, 2]".utf8).write(to: dir.appendingPathComponent("bad.json"))
        for (args, needle) in [(["--peer", "xl.json"], "figures of size XL, this config is tiny"),
                               (["--peer", "bf16.json"], "no fp32 rows for --dtype f32"),
                               (["--peer", "bad.json"], "not the JSON of tools/bench/bench_par_official.py"),
                               (["--peer", "none.json"], "none.json: no such file")] {
            let bad = try runParVideo(["bench", "--config", "image-tiny", "--threads", "1"] + args, in: dir)
            XCTAssertEqual(bad.code, 2, "\(args): \(bad.err)")
            XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
            XCTAssertTrue(bad.err.contains(needle), "\(args): \(bad.err)")
            XCTAssertFalse(bad.out.contains("| n |"), "\(args): the table ran")
        }
        let video = try runParVideo(["bench", "--config", "small", "--peer", "ok.json"], in: dir)
        XCTAssertEqual(video.code, 2)
        XCTAssertTrue(video.err.contains("a peer is for the image configs"), video.err)
    }
}
