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
}
