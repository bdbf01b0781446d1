import Foundation
import XCTest
@testable import PARVideo

/// A class-to-image bundle: a 2d GPT (Tests/Fixtures/engine) and a vq2d
/// tokenizer (Tests/Fixtures/vq2d) in one folder.
final class ImagePipelineTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    func folder(gpt: String, vq: String) throws -> URL {
        let dir = try scratchFolder()
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("engine/\(gpt)/model.safetensors"),
                                         to: dir.appendingPathComponent("gpt.safetensors"))
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("vq2d/\(vq).safetensors"),
                                         to: dir.appendingPathComponent("vq.safetensors"))
        return dir
    }

    func testRendersImagesIndependentOfTheBatch() throws {
        let dir = try folder(gpt: "2d-n4-b1-cfg-gqa", vq: "vq_c")
        let p = try ImagePipeline(bundle: try ModelBundle.load(dir.path))
        XCTAssertEqual(p.imageSize.width, 16)
        XCTAssertEqual(p.imageSize.height, 16)
        var timings = RenderTimings()
        let options = SamplingOptions(cfgScale: 1.5, topK: 20)
        let two = try p.render(classes: [0, 3], seeds: [5, 9], options: options, timings: &timings)
        let one = try p.render(classes: [3], seeds: [9], options: options, timings: &timings)
        XCTAssertEqual(two[1].cube, one[0].cube)
        XCTAssertEqual(two[1].image.pixels, one[0].image.pixels)
        XCTAssertNotEqual(two[0].image.pixels, two[1].image.pixels)
        let decoded = try p.tokenizer.decode(indices: two[0].cube.tokens, h: 8, w: 8)
        XCTAssertEqual(two[0].image.pixels, VideoFrames(floats: decoded, count: 1, height: 16, width: 16).pixels)
        XCTAssertEqual(two[0].image.pixels.count, 16 * 16 * 3)
    }

    /// The GPT's vocabulary (128) against another codebook (32): one line at load.
    func testVocabularyMismatchIsOneLineError() throws {
        let dir = try folder(gpt: "2d-n4-b1-cfg-gqa", vq: "vq_b")
        XCTAssertThrowsError(try ImagePipeline(bundle: try ModelBundle.load(dir.path))) {
            XCTAssertEqual("\($0)", "\(dir.path): the GPT's vocabulary (128) differs from the vq2d tokenizer's codebook (32)")
        }
    }

    func testVideoGPTIsRefused() throws {
        let dir = try folder(gpt: "3d-n4-b1-cfg", vq: "vq_c")
        XCTAssertThrowsError(try ImagePipeline(bundle: try ModelBundle.load(dir.path))) {
            XCTAssertTrue("\($0)".hasSuffix("makes video tokens, not a 1 x H x W image grid"), "\($0)")
        }
    }
}
