import Foundation
import XCTest
@testable import PARVideo

/// Clear one-line errors for bad bundles and bad requests.
final class BundleErrorTests: XCTestCase {
    private var dir: URL!
    let model = fixturesDir.appendingPathComponent("engine/2d-n4-b3-cfg/model.safetensors").path

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    /// Rewrites the fixture bundle with tensors dropped, renamed or reshaped.
    func rewrite(_ edit: (inout [String: Any]) -> Void, metadata: ((inout [String: Any]) -> Void)? = nil) throws -> String {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as! [String: Any]
        edit(&header)
        if let metadata {
            var meta = header["__metadata__"] as! [String: String]
            var pv = try JSONSerialization.jsonObject(with: Data(meta["par_video"]!.utf8)) as! [String: Any]
            var config = pv["config"] as! [String: Any]
            metadata(&config)
            pv["config"] = config
            meta["par_video"] = String(data: try JSONSerialization.data(withJSONObject: pv), encoding: .utf8)!
            header["__metadata__"] = meta
        }
        var h = try JSONSerialization.data(withJSONObject: header)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        var len = UInt64(h.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(h); out.append(bytes.subdata(in: (8 + n)..<bytes.count))
        let url = dir.appendingPathComponent("m\(UUID().uuidString.prefix(6)).safetensors")
        try out.write(to: url)
        return url.path
    }

    func testMissingTensorIsNamed() throws {
        let path = try rewrite { $0["layers.1.feed_forward.w2.weight"] = nil }
        let m = message { _ = try GPT(ModelBundle.load(path).gpt()) }
        XCTAssertTrue(m.contains("missing tensor 'layers.1.feed_forward.w2.weight'"), m)
    }

    func testWrongShapeAndDtypeAreNamed() throws {
        let shape = try rewrite { h in
            var e = h["norm.weight"] as! [String: Any]
            let dim = (e["shape"] as! [Int])[0]
            e["shape"] = [dim / 2, 2]
            h["norm.weight"] = e
        }
        var m = message { _ = try GPT(ModelBundle.load(shape).gpt()) }
        XCTAssertTrue(m.contains("'norm.weight' has shape"), m)
        let dtype = try rewrite { h in
            var e = h["output.weight"] as! [String: Any]
            e["dtype"] = "I32"
            h["output.weight"] = e
        }
        m = message { _ = try GPT(ModelBundle.load(dtype).gpt()) }
        XCTAssertTrue(m.contains("'output.weight' has dtype I32"), m)
    }

    func testBadActionAndUnsupportedParallel() throws {
        let bundle = try ModelBundle.load(model)
        let gen = PARGenerator(model: try GPT(bundle.gpt()))
        var m = message { _ = try gen.generate(actions: [10], options: SamplingOptions(topK: 1)) }
        XCTAssertEqual(m, "action 10 is outside the model's classes 0..<10")
        m = message { _ = try gen.generate(actions: [-1], options: SamplingOptions(topK: 1)) }
        XCTAssertTrue(m.contains("action -1 is outside"), m)
        m = message { _ = try bundle.gpt(parallel: 16) }
        XCTAssertTrue(m.hasSuffix("no model trained for --parallel 16 (available: 4)"), m)
    }

    func testBadConfigAndNotABundle() throws {
        let odd = try rewrite({ _ in }, metadata: { $0["parallel"] = 9 })
        var m = message { _ = try ModelBundle.load(odd) }
        XCTAssertTrue(m.contains("parallel 9: H and W (8x8) must divide by 3"), m)
        let noDim = try rewrite({ _ in }, metadata: { $0["dim"] = nil })
        m = message { _ = try ModelBundle.load(noDim) }
        XCTAssertTrue(m.contains("missing key 'dim'"), m)
        let plain = try rewrite { $0["__metadata__"] = nil }
        m = message { _ = try ModelBundle.load(plain) }
        XCTAssertTrue(m.contains("not a par-video bundle"), m)
        m = message { _ = try ModelBundle.load(dir.appendingPathComponent("nope").path) }
        XCTAssertTrue(m.contains("no such model file or folder"), m)
    }

    /// A folder holds several GPTs keyed by parallel; the smallest is the default.
    func testFolderBundle() throws {
        for (src, name) in [("engine/2d-n4-b3-cfg", "a.safetensors"), ("engine/2d-n16-b1-nocfg", "b.safetensors")] {
            try FileManager.default.copyItem(at: fixturesDir.appendingPathComponent("\(src)/model.safetensors"),
                                             to: dir.appendingPathComponent(name))
        }
        let bundle = try ModelBundle.load(dir.path)
        XCTAssertEqual(bundle.parallels, [4, 16])
        XCTAssertEqual(try bundle.gpt().config.parallel, 4)
        XCTAssertEqual(try bundle.gpt(parallel: 16).config.parallel, 16)
        let m = message { _ = try bundle.gpt(parallel: 1) }
        XCTAssertTrue(m.contains("available: 4, 16"), m)
    }

    func testNPYRoundTripAndAtomicWrite() throws {
        let path = dir.appendingPathComponent("c.npy").path
        let values = (0..<60).map { Int32($0 * 1000 - 7) }
        try NPY.write(values, shape: [3, 4, 5], to: path)
        let (back, shape) = try NPY.read(path)
        XCTAssertEqual(back, values); XCTAssertEqual(shape, [3, 4, 5])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["c.npy"])
        let m = message { try NPY.write(values, shape: [60], to: dir.appendingPathComponent("no/such/dir.npy").path) }
        XCTAssertTrue(m.contains("cannot write"), m)
    }
}
