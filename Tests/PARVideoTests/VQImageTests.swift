import Foundation
import XCTest
@testable import PARVideo

/// The VQ image tokenizer against the numpy reference (tools/reference/vq2d_reference.py,
/// fixtures by tools/fixtures/make_vq2d_fixtures.py) and, when a local full-size check
/// folder is named, against LlamaGen's own code (tools/eval/check_vq2d_torch.py).
final class VQImageTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/vq2d")

    struct Expected {
        let file: SafeTensorsFile
        var config: VQConfig { get throws { try JSONDecoder().decode(VQConfig.self, from: Data(file.metadata["config"]!.utf8)) } }
        var seed: UInt64 { UInt64(file.metadata["seed"]!)! }
        func floats(_ n: String) throws -> [Float] { try file.floats(n) }
        func ints(_ n: String) throws -> [Int32] { try file.int32s(n) }
        func shape(_ n: String) -> [Int] { file.tensors[n]!.shape }
    }

    func expected(_ name: String) throws -> Expected {
        Expected(file: try SafeTensorsFile(path: Self.fixtures.appendingPathComponent("\(name)_expected.safetensors").path))
    }

    /// max |a - b| / max |b|.
    static func relDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count)")
        let scale = b.reduce(0) { max($0, abs($1)) }
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } / max(scale, 1e-30)
    }

    func check(_ tok: VQImageTokenizer, _ exp: Expected, tolerance: Float = 1e-4, encode: Bool = true) throws {
        let s = exp.shape("indices")
        let want = try exp.floats("decoded")
        let got = try tok.decodeUnclamped(indices: try exp.ints("indices"), h: s[0], w: s[1])
        let err = Self.relDiff(got, want)
        print("vq2d decoder max rel error vs reference: \(err)")
        XCTAssertLessThanOrEqual(err, tolerance)
        let px = try tok.decode(indices: try exp.ints("indices"), h: s[0], w: s[1])
        XCTAssertLessThanOrEqual(Self.relDiff(px, want.map { min(max(($0 + 1) / 2, 0), 1) }), tolerance)
        guard encode else { return }
        let i = exp.shape("image")
        let image = try exp.floats("image")
        let z = try tok.encodeLatents(image: image, height: i[0], width: i[1])
        let zerr = Self.relDiff(z, try exp.floats("latents"))
        print("vq2d encoder latent max rel error vs reference: \(zerr)")
        XCTAssertLessThanOrEqual(zerr, tolerance)
        XCTAssertEqual(try tok.encode(image: image, height: i[0], width: i[1]), try exp.ints("encoded"))
    }

    func testSeededConfigMatchesReference() throws {
        let exp = try expected("vq_a")
        try check(try VQImageTokenizer(config: try exp.config, weights: SeededVQWeights(seed: exp.seed)), exp)
    }

    func testOpenBLASPathMatchesReference() throws {
        CausalConv3D.forceBLAS = true
        defer { CausalConv3D.forceBLAS = false }
        let exp = try expected("vq_a")
        try check(try VQImageTokenizer(config: try exp.config, weights: SeededVQWeights(seed: exp.seed)), exp)
    }

    /// The converter's bundle (BF16 kernels, raw codebook, no res blocks per
    /// encoder level) through the one bundle loader, computed in fp32.
    func testBF16BundleInFloat32MatchesReference() throws {
        let path = Self.fixtures.appendingPathComponent("vq_b.safetensors").path
        let bundle = try ModelBundle.load(path)
        let vq = try XCTUnwrap(bundle.vq)
        XCTAssertNil(bundle.tokenizer)
        XCTAssertEqual(vq.config, try expected("vq_b").config.with(source: "seeded test weights"))
        try check(try VQImageTokenizer(file: vq.file, float32Only: true), try expected("vq_b"))
    }

    func testBF16KernelsStayClose() throws {
        try XCTSkipUnless(VideoTokenizer.hasBF16Kernels, "no AVX512_BF16 on this CPU")
        let file = try SafeTensorsFile(path: Self.fixtures.appendingPathComponent("vq_b.safetensors").path)
        try check(try VQImageTokenizer(file: file), try expected("vq_b"), tolerance: 3e-2, encode: false)
    }

    /// A bundle whose codebook has another shape (same bytes) is refused at
    /// load, in one line naming the codebook, by the library and the binary.
    func testWrongCodebookShapeIsOneLineError() throws {
        let src = try Data(contentsOf: Self.fixtures.appendingPathComponent("vq_b.safetensors"))
        let n = Int(src.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = String(decoding: src[8..<(8 + n)], as: UTF8.self)
        let entry = try XCTUnwrap(header.range(of: "\"quantize.embedding.weight\":{\"dtype\":\"F32\",\"shape\":[32,4]"))
        header.replaceSubrange(entry, with: "\"quantize.embedding.weight\":{\"dtype\":\"F32\",\"shape\":[64,2]")
        let dir = try scratchFolder()
        let bad = dir.appendingPathComponent("vq.safetensors")
        try (src.prefix(8) + Data(header.utf8) + src[(8 + n)...]).write(to: bad)
        let message = "\(bad.path): codebook has shape [64, 2], the vq2d config needs [32, 4]"
        XCTAssertThrowsError(try ModelBundle.load(bad.path)) { XCTAssertEqual("\($0)", message) }
        let r = try runParVideo(["inspect", bad.path], in: dir)
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.err, "error: \(message)\n")
        let good = try runParVideo(["inspect", Self.fixtures.appendingPathComponent("vq_b.safetensors").path], in: dir)
        XCTAssertEqual(good.code, 0, good.err)
        XCTAssertTrue(good.out.contains("vq2d tokenizer ") && good.out.contains("\"codebook_size\":32"), good.out)
    }

    func testBadGridsGiveClearErrors() throws {
        let exp = try expected("vq_a")
        let tok = try VQImageTokenizer(config: try exp.config, weights: SeededVQWeights(seed: exp.seed), decoderOnly: true)
        XCTAssertThrowsError(try tok.decode(indices: [0, 64], h: 1, w: 2)) {
            XCTAssertEqual("\($0)", "code 64 at position 1 is outside the codebook [0, 64)")
        }
        XCTAssertThrowsError(try tok.decode(indices: [0, 1, 2], h: 2, w: 2)) { XCTAssertEqual("\($0)", "code grid has 3 values, expected 2x2") }
        XCTAssertThrowsError(try tok.encode(image: [Float](repeating: 0, count: 12), height: 2, width: 2)) {
            XCTAssertEqual("\($0)", "this vq2d tokenizer was loaded without its encoder")
        }
        var cfg = try exp.config
        cfg.channels = 48
        XCTAssertThrowsError(try cfg.validate()) { XCTAssertTrue("\($0)".contains("divisible by 32 groups"), "\($0)") }
    }

    /// Same bytes whatever the thread count (the norms' sums run over more
    /// than one slice at this size).
    func testSameBytesWhateverTheThreadCount() throws {
        let exp = try expected("vq_a")
        let tok = try VQImageTokenizer(config: try exp.config, weights: SeededVQWeights(seed: exp.seed))
        let grid = (0..<(24 * 20)).map { Int32(($0 * 37) % 64) }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var outputs: [[Float]] = []
        for n in [1, 2, 5] {
            Parallel.threads = n
            outputs.append(try tok.decodeUnclamped(indices: grid, h: 24, w: 20))
        }
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
    }

    /// A class-to-image GPT's recorded image side must be a multiple of its H = W.
    func testGPTImageSizeIsChecked() throws {
        var c = GPTConfig(dim: 64, nLayer: 1, nHead: 2, vocabSize: 256, numClasses: 10, cube: [1, 16, 16], parallel: 4, rope: .twoD)
        c.imageSize = 256
        XCTAssertNoThrow(try c.validate())
        c.imageSize = 200
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".hasPrefix("model config: image_size 200 must be a multiple of H = W"), "\($0)") }
    }

    /// Full size against LlamaGen's own code: PAR_VIDEO_VQ_TORCH names a folder
    /// with vq.safetensors (convert_vq.py of the random-weight .pt) and
    /// expected.safetensors, both written by tools/eval/check_vq2d_torch.py.
    func testFullSizeMatchesOfficialCode() throws {
        guard let dir = ProcessInfo.processInfo.environment["PAR_VIDEO_VQ_TORCH"] else {
            throw XCTSkip("PAR_VIDEO_VQ_TORCH not set (a local full-size check)")
        }
        let file = try SafeTensorsFile(path: dir + "/vq.safetensors")
        let exp = Expected(file: try SafeTensorsFile(path: dir + "/expected.safetensors"))
        let tok = try VQImageTokenizer(file: file, float32Only: true)
        let s = exp.shape("indices"), t0 = Date()
        _ = try tok.decodeUnclamped(indices: try exp.ints("indices"), h: s[0], w: s[1])
        print("full-size vq2d decode of \(s[0])x\(s[1]) codes: \(String(format: "%.2f", Date().timeIntervalSince(t0))) s on \(Parallel.threads) threads")
        try check(tok, exp, encode: exp.file.tensors["image"] != nil)
    }
}

extension VQConfig {
    func with(source: String) -> VQConfig { var c = self; c.source = source; return c }
}
