import Foundation
import XCTest
@testable import PARVideo

/// Swift tokenizer against the numpy reference (tools/reference/magvit2_reference.py,
/// fixtures by tools/fixtures/make_tokenizer_fixtures.py).
final class TokenizerTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer")

    struct Expected {
        let file: SafeTensorsFile
        var config: TokenizerConfig {
            get throws { try JSONDecoder().decode(TokenizerConfig.self, from: Data(file.metadata["config"]!.utf8)) }
        }
        var seed: UInt64 { UInt64(file.metadata["seed"]!)! }
        func floats(_ n: String) throws -> [Float] { try file.floats(n) }
        func ints(_ n: String) throws -> [Int32] { try file.int32s(n) }
        func shape(_ n: String) -> [Int] { file.tensors[n]!.shape }
    }

    func expected(_ name: String) throws -> Expected {
        Expected(file: try SafeTensorsFile(path: Self.fixtures.appendingPathComponent("\(name)_expected.safetensors").path))
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count)")
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func checkDecoder(_ tok: VideoTokenizer, _ exp: Expected, tolerance: Float) throws {
        let s = exp.shape("indices")
        let got = try tok.decodeUnclamped(cube: try exp.ints("indices"), t: s[0], h: s[1], w: s[2])
        let want = try exp.floats("decoded")
        let err = Self.maxAbsDiff(got, want)
        print("decoder max abs error vs reference: \(err)")
        XCTAssertLessThanOrEqual(err, tolerance)
        let px = try tok.decode(cube: try exp.ints("indices"), t: s[0], h: s[1], w: s[2])
        XCTAssertLessThanOrEqual(Self.maxAbsDiff(px, want.map { min(max($0, 0), 1) }), tolerance)
    }

    func checkEncoder(_ tok: VideoTokenizer, _ exp: Expected) throws {
        let v = exp.shape("video")
        let video = try exp.floats("video")
        let z = try tok.encodeLatents(frames: video, count: v[0], height: v[1], width: v[2])
        let err = Self.maxAbsDiff(z, try exp.floats("latents"))
        print("encoder latent max abs error vs reference: \(err)")
        XCTAssertLessThanOrEqual(err, 1e-4)
        XCTAssertEqual(try tok.encode(frames: video, count: v[0], height: v[1], width: v[2]), try exp.ints("encoded"))
    }

    func testSmallSeededConfigMatchesReference() throws {
        let exp = try expected("small_a")
        let tok = try VideoTokenizer(config: try exp.config, weights: SeededTokenizerWeights(config: try exp.config, seed: exp.seed))
        try checkDecoder(tok, exp, tolerance: 1e-4)
        try checkEncoder(tok, exp)
    }

    /// The built-in layout's time-only stride and depth-to-space factors.
    func testTimeOnlyFactorsMatchReference() throws {
        let exp = try expected("small_c")
        let cfg = try exp.config
        XCTAssertEqual(cfg.encoder.factors.last, [2, 1, 1])
        XCTAssertEqual(cfg.decoder.factors.first, [2, 1, 1])
        let tok = try VideoTokenizer(config: cfg, weights: SeededTokenizerWeights(config: cfg, seed: exp.seed))
        try checkDecoder(tok, exp, tolerance: 1e-4)
        try checkEncoder(tok, exp)
    }

    /// BF16-stored kernels computed in fp32: exact against the reference.
    func testSmallBF16BundleInFloat32MatchesReference() throws {
        let tok = try VideoTokenizer(path: Self.fixtures.appendingPathComponent("small_b.safetensors").path, float32Only: true)
        XCTAssertEqual(tok.config.decoder.channels, [24, 24])
        let exp = try expected("small_b")
        try checkDecoder(tok, exp, tolerance: 1e-4)
        try checkEncoder(tok, exp)
    }

    /// The bf16 path (bf16 activations, fp32 accumulation) stays close to the fp32 reference.
    func testSmallBF16BundleOnBF16KernelsStaysClose() throws {
        try XCTSkipUnless(VideoTokenizer.hasBF16Kernels, "CPU has no AVX512_BF16")
        let tok = try VideoTokenizer(path: Self.fixtures.appendingPathComponent("small_b.safetensors").path)
        let exp = try expected("small_b")
        try checkDecoder(tok, exp, tolerance: 5e-3)
        let v = exp.shape("video")
        let z = try tok.encodeLatents(frames: try exp.floats("video"), count: v[0], height: v[1], width: v[2])
        XCTAssertLessThanOrEqual(Self.maxAbsDiff(z, try exp.floats("latents")), 0.05)
    }

    /// The AMX bf16 kernel and the vdpbf16ps one: the same products summed in another
    /// order; activations are rounded to bf16 between layers, so a few roundings differ.
    func testAMXAndVdpbf16psKernelsAgree() throws {
        try XCTSkipUnless(VideoTokenizer.hasBF16Kernels && CausalConv3D.useAMX, "CPU has no AMX")
        let saved = CausalConv3D.useAMX
        defer { CausalConv3D.useAMX = saved }
        let exp = try expected("small_b")
        let s = exp.shape("indices"), cube = try exp.ints("indices")
        var out: [[Float]] = []
        for amx in [false, true] {
            CausalConv3D.useAMX = amx
            let tok = try VideoTokenizer(path: Self.fixtures.appendingPathComponent("small_b.safetensors").path)
            out.append(try tok.decodeUnclamped(cube: cube, t: s[0], h: s[1], w: s[2]))
        }
        XCTAssertLessThanOrEqual(Self.maxAbsDiff(out[0], out[1]), 1e-3)
        try checkDecoder(try VideoTokenizer(path: Self.fixtures.appendingPathComponent("small_b.safetensors").path), exp, tolerance: 5e-3)
    }

    /// The OpenBLAS path (CPUs without AVX-512) on the same fixture.
    func testOpenBLASPathMatchesReference() throws {
        let exp = try expected("small_a")
        CausalConv3D.forceBLAS = true
        defer { CausalConv3D.forceBLAS = false }
        let tok = try VideoTokenizer(config: try exp.config, weights: SeededTokenizerWeights(config: try exp.config, seed: exp.seed))
        try checkDecoder(tok, exp, tolerance: 1e-4)
        try checkEncoder(tok, exp)
    }

    func testChunkingAlongTimeGivesTheWholeClipResult() throws {
        let exp = try expected("small_a")
        let tok = try VideoTokenizer(config: try exp.config, weights: SeededTokenizerWeights(config: try exp.config, seed: exp.seed))
        let s = exp.shape("indices"), cube = try exp.ints("indices")
        tok.chunkFrames = 1
        let one = try tok.decodeUnclamped(cube: cube, t: s[0], h: s[1], w: s[2])
        tok.chunkFrames = s[0]
        let all = try tok.decodeUnclamped(cube: cube, t: s[0], h: s[1], w: s[2])
        XCTAssertLessThanOrEqual(Self.maxAbsDiff(one, all), 1e-5)
    }

    /// NBP's full-size UCF decoder (225M parameters, seeded weights) at full width on a 2x4x4 cube.
    func testFullSizeNBPDecoderMatchesReference() throws {
        let exp = try expected("full_decoder")
        let cfg = try exp.config
        XCTAssertEqual(cfg, TokenizerConfig.nbpUCF)
        let tok = try VideoTokenizer(config: cfg, weights: SeededTokenizerWeights(config: cfg, seed: exp.seed), decoderOnly: true)
        XCTAssertEqual(exp.shape("decoded"), [5, 32, 32, 3])
        try checkDecoder(tok, exp, tolerance: 1e-3)
    }

    func testFSQRoundTripsAllCodes() throws {
        let fsq = try FSQ(levels: [8, 8, 8, 5, 5, 5])
        XCTAssertEqual(fsq.vocabularySize, 64000)
        XCTAssertEqual(fsq.basis, [1, 8, 64, 512, 2560, 12800])
        XCTAssertEqual(fsq.codes(1), [-0.75, -1, -1, -1, -1, -1])
        XCTAssertEqual(fsq.codes(63999), [0.75, 0.75, 0.75, 1, 1, 1])
        var code = [Float](repeating: 0, count: 6)
        for i in 0..<64000 {
            fsq.codes(i, into: &code)
            XCTAssertEqual(fsq.index(codes: code), i)
        }
    }

    func testBadInputsGiveClearErrors() throws {
        let exp = try expected("small_a")
        let cfg = try exp.config
        let tok = try VideoTokenizer(config: cfg, weights: SeededTokenizerWeights(config: cfg, seed: 1))
        XCTAssertThrowsError(try tok.decode(cube: [0, 1, 1000], t: 1, h: 1, w: 3)) {
            XCTAssertTrue("\($0)".contains("outside the vocabulary [0, 1000)"), "\($0)")
        }
        XCTAssertThrowsError(try tok.decode(cube: [0, 1, 2], t: 1, h: 2, w: 2)) {
            XCTAssertTrue("\($0)".contains("has 3 values, expected 1x2x2"), "\($0)")
        }
        let frame = [Float](repeating: 0.5, count: 16 * 16 * 3)
        XCTAssertThrowsError(try tok.encode(frames: frame + frame, count: 2, height: 16, width: 16)) {
            XCTAssertTrue("\($0)".contains("cannot be encoded"), "\($0)")
        }
        XCTAssertThrowsError(try tok.encode(frames: frame, count: 1, height: 8, width: 8)) {
            XCTAssertTrue("\($0)".contains("expected 1x8x8x3"), "\($0)")
        }
        XCTAssertThrowsError(try VideoTokenizer(path: Self.fixtures.appendingPathComponent("small_b_expected.safetensors").path)) {
            XCTAssertTrue("\($0)".contains("no par_video metadata"), "\($0)")
        }
    }
}
