import XCTest
@testable import PARVideo

/// The Swift I3D against tools/fvd's numpy reference (fixtures written by
/// tools/fvd/make_i3d_fixtures.py). The tiny network (seeded random weights,
/// every width / 16) always runs; the real Kinetics weights run when
/// models/i3d.safetensors (make fvd-weights) or $PAR_VIDEO_I3D is there.
final class I3DTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/fvd")
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Clip k of `synthetic_clip` in make_i3d_fixtures.py (integer formula).
    static func syntheticClip(_ k: Int, frames: Int = 18, height: Int = 30, width: Int = 40) -> [UInt8] {
        var px = [UInt8](repeating: 0, count: frames * height * width * 3)
        for t in 0..<frames {
            for y in 0..<height {
                for x in 0..<width {
                    for c in 0..<3 {
                        let v = x * (3 + k) + y * (5 + 2 * c) + t * (7 + k * c) + ((x * y) >> (2 + c)) + 37 * k * (c + 1)
                        px[((t * height + y) * width + x) * 3 + c] = UInt8(v & 255)
                    }
                }
            }
        }
        return px
    }

    func expected(_ name: String) throws -> [Float] {
        try SafeTensorsFile(path: Self.fixtures.appendingPathComponent("i3d_expected.safetensors").path).floats(name)
    }

    /// Largest |a - b| over the largest |b|.
    func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        XCTAssertEqual(a.count, b.count)
        var diff = 0.0, scale = 0.0
        for (x, y) in zip(a, b) {
            diff = max(diff, Double(abs(x - y)))
            scale = max(scale, Double(abs(y)))
        }
        return diff / max(scale, 1e-30)
    }

    func testPreprocessMatchesReference() throws {
        let down = Self.syntheticClip(0, frames: 2)
        let up = Self.syntheticClip(5, frames: 2, height: 5, width: 7)
        let d = down.withUnsafeBufferPointer { FVDPreprocess.resize($0.baseAddress!, count: 2, width: 40, height: 30, size: 17) }
        let u = up.withUnsafeBufferPointer { FVDPreprocess.resize($0.baseAddress!, count: 2, width: 7, height: 5, size: 17) }
        XCTAssertLessThan(relativeError(d, try expected("preprocess_down")), 1e-6)
        XCTAssertLessThan(relativeError(u, try expected("preprocess_up")), 1e-6)
    }

    func tinyLogits() throws -> [[Float]] {
        let net = try I3D(path: Self.fixtures.appendingPathComponent("i3d_tiny.safetensors").path)
        XCTAssertEqual(net.classes, 40)
        return (0..<3).map { k in
            let px = Self.syntheticClip(k)
            let x = px.withUnsafeBufferPointer { FVDPreprocess.resize($0.baseAddress!, count: 16, width: 40, height: 30, size: 64) }
            return x.withUnsafeBufferPointer { net.logits($0.baseAddress!, frames: 16, height: 64, width: 64) }
        }
    }

    /// Every code path of the convolutions: implicit im2col (AVX-512), explicit
    /// im2col everywhere, and OpenBLAS sgemm; each against the numpy reference,
    /// and the result independent of the thread count.
    func testTinyNetworkMatchesReference() throws {
        let want = try expected("tiny_logits")
        let saved = (I3DConv.implicitMinChannels, I3DConv.forceBLAS, Parallel.threads)
        defer { (I3DConv.implicitMinChannels, I3DConv.forceBLAS, Parallel.threads) = saved }
        var runs: [String: [Float]] = [:]
        for (name, minChannels, blas) in [("implicit", 1, false), ("default", 16, false), ("explicit", Int.max, false), ("blas", 16, true)] {
            I3DConv.implicitMinChannels = minChannels
            I3DConv.forceBLAS = blas
            let got = try tinyLogits().flatMap { $0 }
            XCTAssertLessThan(relativeError(got, want), 1e-4, name)
            runs[name] = got
        }
        I3DConv.implicitMinChannels = 16
        I3DConv.forceBLAS = false
        Parallel.threads = 1
        XCTAssertEqual(try tinyLogits().flatMap { $0 }, runs["default"], "one thread differs from two")
    }

    /// The explicit im2col (one copy per inside run of taps) equals the per-tap
    /// table of input pixels, padding as zeros, on edges, strides and a slice.
    func testExplicitGatherMatchesTapTable() {
        let (t, h, w, stride, cin) = (5, 9, 11, 6, 3)
        let input = (0..<(t * h * w * stride)).map { Float($0 % 97) + 1 }
        for (size, step) in [((3, 7, 7), (2, 2, 2)), ((1, 3, 3), (1, 1, 1)), ((2, 2, 3), (1, 2, 3))] {
            let pads = (size.0 / 2, size.1 / 2, size.2 / 2)
            let out = ((t - 1) / step.0 + 1, (h - 1) / step.1 + 1, (w - 1) / step.2 + 1)
            let grid = ZeroPaddedTaps(input: (t, h, w), output: out, size: size, stride: step, pads: pads)
            let n = out.0 * out.1 * out.2, k = grid.taps * cin
            let zero = [Float](repeating: 0, count: cin)
            input.withUnsafeBufferPointer { xb in
                let base = xb.baseAddress! + 2
                var cols = [Float](repeating: -1, count: n * k)
                cols.withUnsafeMutableBufferPointer { grid.gather(base, pixelStride: stride, cin: cin, from: 0, count: n, into: $0.baseAddress!) }
                var table = [UnsafeRawPointer?](repeating: nil, count: n * grid.taps)
                zero.withUnsafeBufferPointer { z in
                    table.withUnsafeMutableBufferPointer {
                        grid.fill(UnsafeRawPointer(base), pixelBytes: stride * 4, zero: UnsafeRawPointer(z.baseAddress!), from: 0, count: n, into: $0.baseAddress!)
                    }
                    var expected = [Float]()
                    for e in table { let p = e!.assumingMemoryBound(to: Float.self); for c in 0..<cin { expected.append(p[c]) } }
                    XCTAssertEqual(cols, expected, "size \(size) stride \(step)")
                }
                // Dense rows (the stem's case) take the one-copy runs.
                let dense = (0..<(t * h * w * cin)).map { Float($0 % 89) + 1 }
                dense.withUnsafeBufferPointer { db in
                    var a = [Float](repeating: -1, count: n * k)
                    a.withUnsafeMutableBufferPointer { grid.gather(db.baseAddress!, pixelStride: cin, cin: cin, from: 0, count: n, into: $0.baseAddress!) }
                    zero.withUnsafeBufferPointer { z in
                        table.withUnsafeMutableBufferPointer {
                            grid.fill(UnsafeRawPointer(db.baseAddress!), pixelBytes: cin * 4, zero: UnsafeRawPointer(z.baseAddress!), from: 0, count: n, into: $0.baseAddress!)
                        }
                    }
                    var expected = [Float]()
                    for e in table { let p = e!.assumingMemoryBound(to: Float.self); for c in 0..<cin { expected.append(p[c]) } }
                    XCTAssertEqual(a, expected, "dense, size \(size) stride \(step)")
                }
            }
        }
    }

    func testRefusesMismatchedWidths() throws {
        // The fixture's kernels chain; a file whose stem is missing must not load.
        let dir = try scratchFolder()
        let bad = dir.appendingPathComponent("bad.safetensors")
        let header = #"{"params.Conv3d_1a_7x7.Conv_0.kernel":{"dtype":"F32","shape":[7,7,7,4,8],"data_offsets":[0,43904]}}"#
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        data.append(Data(bytes: &n, count: 8))
        data.append(Data(header.utf8))
        data.append(Data(count: 43904))
        try data.write(to: bad)
        XCTAssertThrowsError(try I3D(path: bad.path)) { error in
            XCTAssertTrue("\(error)".contains("expected [7, 7, 7, 3, cout]"), "\(error)")
        }
    }

    func testRealWeightsMatchReference() throws {
        guard let path = I3DLocator.resolve(explicit: nil, searchFrom: Self.repo.path) else {
            throw XCTSkip("I3D weights not found (\(I3DLocator.missingHint)); the real-weight check is skipped")
        }
        let net = try I3D(path: path)
        let want = try expected("real_logits")
        var got: [Float] = []
        for k in 0..<8 {
            let px = Self.syntheticClip(k)
            let x = px.withUnsafeBufferPointer { FVDPreprocess.resize($0.baseAddress!, count: 16, width: 40, height: 30) }
            got += x.withUnsafeBufferPointer { net.logits($0.baseAddress!, frames: 16, height: 224, width: 224) }
        }
        for k in 0..<8 {
            let e = relativeError(Array(got[(k * 400)..<((k + 1) * 400)]), Array(want[(k * 400)..<((k + 1) * 400)]))
            XCTAssertLessThan(e, 1e-4, "clip \(k)")
        }
    }
}
