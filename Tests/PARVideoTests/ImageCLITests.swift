import Foundation
import XCTest
@testable import PARVideo

/// Images through the binary with the tiny class-to-image bundle
/// (Tests/Fixtures/image/tiny: 1000 classes, 8 x 8 tokens, 16 x 16 pixels).
final class ImageCLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let model = fixtures.appendingPathComponent("image/tiny").path

    func run(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
        let command = args.first == "batch" ? ["batch"] : []
        return try runParVideo(command + ["--model", Self.model, "--quiet"] + args.drop { $0 == "batch" }, in: dir)
    }

    func data(_ dir: URL, _ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }

    /// Width and height from a PNG's IHDR.
    func pngSize(_ d: Data) -> (Int, Int) {
        func be(_ o: Int) -> Int { d[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }

    func testImageKindsByExtension() throws {
        let dir = try scratchFolder()
        for name in ["dog.png", "dog.jpg", "dog.webp"] {
            let r = try run(["--class", "207", "-o", name], in: dir)
            XCTAssertEqual(r.code, 0, r.err)
        }
        XCTAssertEqual(Array(try data(dir, "dog.png").prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertEqual(pngSize(try data(dir, "dog.png")).0, 16)
        XCTAssertEqual(Array(try data(dir, "dog.jpg").prefix(3)), [0xFF, 0xD8, 0xFF])
        let webp = try data(dir, "dog.webp")
        XCTAssertEqual(String(decoding: webp[8..<12], as: UTF8.self), "WEBP")
        // A name, a synonym and --action resolve to the same class and the same image.
        XCTAssertEqual(try run(["--class", "Golden Retriever", "-o", "b.png"], in: dir).code, 0)
        XCTAssertEqual(try run(["--action", "207", "-o", "c.png"], in: dir).code, 0)
        XCTAssertEqual(try run(["--class", "tench", "-o", "t1.png"], in: dir).code, 0)
        XCTAssertEqual(try run(["--class", "Tinca tinca", "-o", "t2.png"], in: dir).code, 0)
        XCTAssertEqual(try data(dir, "b.png"), try data(dir, "dog.png"))
        XCTAssertEqual(try data(dir, "c.png"), try data(dir, "dog.png"))
        XCTAssertEqual(try data(dir, "t1.png"), try data(dir, "t2.png"))
        XCTAssertNotEqual(try data(dir, "t1.png"), try data(dir, "dog.png"))
        let json = try run(["--class", "207", "-o", "j.png", "--json"], in: dir)
        XCTAssertTrue(json.out.contains("\"class_name\":\"golden retriever\""), json.out)
    }

    func testCountGridAndSize() throws {
        let dir = try scratchFolder()
        XCTAssertEqual(try run(["--class", "1", "--seed", "4", "-o", "one.png"], in: dir).code, 0)
        XCTAssertEqual(try run(["--class", "1", "--seed", "4", "--count", "3", "-o", "many/"], in: dir).code, 0)
        XCTAssertEqual(listing(dir.appendingPathComponent("many")), ["000000.png", "000001.png", "000002.png"])
        let first = try data(dir, "many/000000.png"), second = try data(dir, "many/000001.png")
        XCTAssertEqual(first, try data(dir, "one.png"))  // image 0 draws from --seed itself
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(try run(["--class", "1", "--seed", "5", "-o", "next.png"], in: dir).code, 0)
        XCTAssertEqual(second, try data(dir, "next.png"))  // image k from seed + k
        XCTAssertEqual(try run(["--class", "1", "--count", "3", "--grid", "-o", "sheet.png"], in: dir).code, 0)
        XCTAssertTrue(pngSize(try data(dir, "sheet.png")) == (38, 38))  // 2 x 2 cells of 16 + 2 padding
        XCTAssertEqual(try run(["--class", "1", "--size", "32", "-o", "big.png"], in: dir).code, 0)
        XCTAssertTrue(pngSize(try data(dir, "big.png")) == (32, 32))
        // Several images to one file without --grid: one line, nothing written.
        let r = try run(["--class", "1", "--count", "2", "-o", "two.png"], in: dir)
        XCTAssertEqual(r.code, 2)
        XCTAssertTrue(r.err.contains("--count 2 makes 2 images"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("two.png").path))
    }

    func testExistingOutputNeedsOverwrite() throws {
        let dir = try scratchFolder()
        try Data("old".utf8).write(to: dir.appendingPathComponent("x.png"))
        let r = try run(["--class", "3", "-o", "x.png"], in: dir)
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1)
        XCTAssertEqual(try data(dir, "x.png"), Data("old".utf8))
        XCTAssertEqual(try run(["--class", "3", "-o", "x.png", "-y"], in: dir).code, 0)
        XCTAssertEqual(Array(try data(dir, "x.png").prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertEqual(listing(dir), ["x.png"])
        let video = try run(["--class", "3", "-o", "x.mp4"], in: dir)
        XCTAssertEqual(video.code, 2)
        XCTAssertTrue(video.err.contains("an image model writes .png, .jpg, .webp"), video.err)
    }

    func testUnknownAndAmbiguousNames() throws {
        let dir = try scratchFolder()
        let typo = try run(["--class", "golden retreiver", "-o", "x.png"], in: dir)
        XCTAssertEqual(typo.code, 2)
        XCTAssertTrue(typo.err.contains("closest: golden retriever"), typo.err)
        // The error names the option as typed and calls an image model's classes classes.
        let unknown = try run(["--class", "nosuchthing", "-o", "x.png"], in: dir)
        XCTAssertEqual(unknown.code, 2)
        XCTAssertTrue(unknown.err.hasPrefix("error: --class: unknown class 'nosuchthing'"), unknown.err)
        let range = try run(["--action", "1000", "-o", "x.png"], in: dir)
        XCTAssertEqual(range.code, 2)
        XCTAssertTrue(range.err.hasPrefix("error: --action: class id 1000 is out of range"), range.err)
        let batch = try run(["batch", "--actions", "0,nosuchthing", "--per-class", "1", "-o", "r"], in: dir)
        XCTAssertEqual(batch.code, 2)
        XCTAssertTrue(batch.err.contains("--actions: unknown class 'nosuchthing'"), batch.err)
        let crane = try run(["--class", "crane", "-o", "x.png"], in: dir)
        XCTAssertEqual(crane.code, 2)
        XCTAssertTrue(crane.err.contains("134 (crane), 517 (crane)"), crane.err)
        XCTAssertEqual(listing(dir), [])
    }

    /// The image size, --count and the recorded sampling defaults; no video fields (--frames, --fps).
    func testInspectShowsTheImageDefaults() throws {
        let r = try runParVideo(["inspect", Self.model], in: try scratchFolder())
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains(", --size 16x16, --count 1, --cfg 1.5, --temperature 1, --top-k 0, --top-p 1"), r.out)
        XCTAssertTrue(r.out.contains("kind: images"), r.out)
        XCTAssertTrue(r.out.contains("classes: 1000"), r.out)
        XCTAssertFalse(r.out.contains("--frames"), r.out)
        XCTAssertFalse(r.out.contains("--fps"), r.out)
        let j = try runParVideo(["inspect", Self.model, "--json"], in: try scratchFolder())
        XCTAssertEqual(j.code, 0, j.err)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        XCTAssertEqual(obj["kind"] as? String, "image")
        let d = try XCTUnwrap(obj["defaults"] as? [String: Any])
        XCTAssertEqual(d["width"] as? Int, 16)
        XCTAssertEqual(d["height"] as? Int, 16)
        XCTAssertEqual(d["count"] as? Int, 1)
        XCTAssertEqual(d["cfg_scale"] as? Double, 1.5)
        XCTAssertNil(d["frames"])
        XCTAssertNil(d["fps"])
    }

    /// 8 images as PNGs and as the .npz sample batch: the same bytes whatever --batch and --threads.
    func testBatchWritesPNGsAndTheSampleBatch() throws {
        let dir = try scratchFolder()
        let a = try run(["batch", "--actions", "0-3", "--per-class", "2", "--seed", "7", "-o", "a"], in: dir)
        XCTAssertEqual(a.code, 0, a.err)
        let b = try run(["batch", "--actions", "0-3", "--per-class", "2", "--seed", "7", "--batch", "3", "--threads", "1", "-o", "b"], in: dir)
        XCTAssertEqual(b.code, 0, b.err)
        let names = listing(dir.appendingPathComponent("a")).filter { $0.hasSuffix(".png") }
        XCTAssertEqual(names.count, 8)
        for n in names + ["samples.npz"] { XCTAssertEqual(try data(dir, "a/\(n)"), try data(dir, "b/\(n)"), n) }
        let npz = try data(dir, "a/samples.npz")
        // A stored zip member arr_0.npy holding uint8 (8, 16, 16, 3): the PNGs' pixels in clip order.
        XCTAssertEqual(Array(npz.prefix(4)), [0x50, 0x4B, 0x03, 0x04])
        XCTAssertEqual(npz[8], 0)  // method: stored
        XCTAssertEqual(String(decoding: npz[30..<39], as: UTF8.self), "arr_0.npy")
        let npy = npz[39...]
        XCTAssertTrue(String(decoding: npy.prefix(128), as: UTF8.self).contains("'descr': '|u1', 'fortran_order': False, 'shape': (8, 16, 16, 3)"))
        let pixels = try FrameFolder.read(dir.appendingPathComponent("a")).pixels
        let start = npy.startIndex + 128
        XCTAssertEqual(Array(npz[start..<(start + pixels.count)]), pixels)
        XCTAssertEqual(Array(npz[(start + pixels.count)...].prefix(4)), [0x50, 0x4B, 0x01, 0x02])
        // A rerun resumes: nothing rendered, the same sample batch.
        XCTAssertEqual(try run(["batch", "--actions", "0-3", "--per-class", "2", "--seed", "7", "-o", "a"], in: dir).code, 0)
        XCTAssertEqual(try data(dir, "a/samples.npz"), npz)
        let frames = try run(["batch", "--actions", "0", "--per-class", "1", "--format", "frames", "-o", "c"], in: dir)
        XCTAssertEqual(frames.code, 2)
        XCTAssertTrue(frames.err.contains("an image model's batch writes PNG images"), frames.err)
    }

    // MARK: bad inputs, each one line and exit 2

    func testVideoBundleClassBeyondItsClasses() throws {
        let dir = try scratchFolder()
        let r = try runParVideo(["--model", PipelineTests.tiny, "--class", "500", "-o", "x.mp4"], in: dir)
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1)
        XCTAssertTrue(r.err.hasPrefix("error: --class: action id 500 is out of range"), r.err)
        let typed = try runParVideo(["--model", PipelineTests.tiny, "--action=nosuch", "-o", "x.mp4"], in: dir)
        XCTAssertEqual(typed.code, 2)
        XCTAssertTrue(typed.err.hasPrefix("error: --action: unknown action 'nosuch'"), typed.err)
        XCTAssertEqual(listing(dir), [])
    }

    func bundle(gpt: String, vq: Data) throws -> URL {
        let dir = try scratchFolder("bundle")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(gpt), to: dir.appendingPathComponent("gpt.safetensors"))
        try vq.write(to: dir.appendingPathComponent("vq.safetensors"))
        return dir
    }

    func testWrongCodebookShape() throws {
        let src = try Data(contentsOf: Self.fixtures.appendingPathComponent("vq2d/vq_c.safetensors"))
        let n = Int(src.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = String(decoding: src[8..<(8 + n)], as: UTF8.self)
        let entry = try XCTUnwrap(header.range(of: "\"quantize.embedding.weight\":{\"dtype\":\"F32\",\"shape\":[128,4]"))
        header.replaceSubrange(entry, with: "\"quantize.embedding.weight\":{\"dtype\":\"F32\",\"shape\":[256,2]")
        let model = try bundle(gpt: "image/tiny/gpt.safetensors", vq: src.prefix(8) + Data(header.utf8) + src[(8 + n)...])
        let out = try scratchFolder()
        let r = try runParVideo(["--model", model.path, "--class", "1", "-o", "x.png"], in: out)
        XCTAssertEqual(r.code, 2)
        XCTAssertEqual(r.err, "error: \(model.path)/vq.safetensors: codebook has shape [256, 2], the vq2d config needs [128, 4]\n")
        XCTAssertEqual(listing(out), [])
    }

    func testVocabularyAgainstCodebook() throws {
        let vq = try Data(contentsOf: Self.fixtures.appendingPathComponent("vq2d/vq_b.safetensors"))
        let model = try bundle(gpt: "image/tiny/gpt.safetensors", vq: vq)
        let out = try scratchFolder()
        for args in [["--class", "1", "-o", "x.png"], ["batch", "--per-class", "1", "--actions", "0", "-o", "run"]] {
            let r = try runParVideo(args.prefix { $0 == "batch" } + ["--model", model.path] + args.drop { $0 == "batch" }, in: out)
            XCTAssertEqual(r.code, 2)
            XCTAssertEqual(r.err, "error: \(model.path): the GPT's vocabulary (128) differs from the vq2d tokenizer's codebook (32)\n")
        }
        XCTAssertEqual(listing(out), [])
    }
}

final class ImageNetClassTests: XCTestCase {
    func testCatalogMatchesTheClassList() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../tools/imagenet1k_classes.txt").standardized
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let c = ActionCatalog.imagenet
        XCTAssertEqual(c.count, 1000)
        XCTAssertEqual(lines.count, 1000)
        for (i, line) in lines.enumerated() {
            XCTAssertEqual(([c.names[i]] + c.aliases[i]).joined(separator: ", "), line)
        }
        XCTAssertEqual(c.names[207], "golden retriever")
        XCTAssertEqual(try c.resolve("207"), 207)
        XCTAssertEqual(try c.resolve("great white shark"), 2)
        XCTAssertEqual(try c.resolve("man-eater"), 2)
        XCTAssertThrowsError(try c.resolve("1000"))
    }

    func testBicubicWeights() {
        XCTAssertTrue(Bicubic.weights(0) == (0, 1, 0, 0))
        let w = Bicubic.weights(0.25)
        XCTAssertEqual(w.0 + w.1 + w.2 + w.3, 1, accuracy: 1e-6)
        let flat = [Float](repeating: 0.3, count: 12 * 12 * 3)
        XCTAssertTrue(Bicubic.resize(flat, height: 12, width: 12, channels: 3, toHeight: 8, toWidth: 8).allSatisfy { abs($0 - 0.3) < 1e-6 })
        // 384 -> 256: output 0 samples 0.25 of the way from pixel 0 to 1, as PyTorch does.
        XCTAssertEqual(Bicubic.taps(384, 256)[0].first, -1)
        XCTAssertEqual(Bicubic.taps(384, 256)[1].first, 0)
    }
}

final class NPZTests: XCTestCase {
    func u(_ d: Data, _ o: Int, _ n: Int) -> UInt64 { d[o..<(o + n)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }

    /// Both layouts: the member's bytes, CRC and sizes where a zip reader looks for them.
    func testStoredArchiveLayouts() throws {
        let dir = try scratchFolder()
        let images: [[UInt8]] = [[UInt8](repeating: 7, count: 12), (0..<12).map { UInt8($0) }]
        for zip64 in [false, true] {
            let url = dir.appendingPathComponent("s\(zip64).npz")
            try NPZ.writeImages(to: url, count: 2, height: 2, width: 2, overwrite: false, forceZip64: zip64) { images[$0] }
            let d = try Data(contentsOf: url)
            var crc = CRC32()
            let npy = NPY.header(descr: "|u1", shape: [2, 2, 2, 3]) + Data(images[0] + images[1])
            crc.update(Array(npy))
            let extra = zip64 ? 20 : 0
            XCTAssertEqual(u(d, 0, 4), 0x0403_4B50)
            XCTAssertEqual(u(d, 8, 2), 0)  // stored
            XCTAssertEqual(u(d, 14, 4), UInt64(crc.value))
            XCTAssertEqual(u(d, 18, 4), zip64 ? 0xFFFF_FFFF : UInt64(npy.count))
            XCTAssertEqual(u(d, 28, 2), UInt64(extra))
            if zip64 { XCTAssertEqual(u(d, 30 + 9 + 4, 8), UInt64(npy.count)) }
            let start = 30 + 9 + extra
            XCTAssertEqual(d[start..<(start + npy.count)], npy)
            let central = start + npy.count
            XCTAssertEqual(u(d, central, 4), 0x0201_4B50)
            let end = d.count - 22
            XCTAssertEqual(u(d, end, 4), 0x0605_4B50)
            XCTAssertEqual(u(d, end + 16, 4), zip64 ? 0xFFFF_FFFF : UInt64(central))
            if zip64 {
                let locator = end - 20, record = end - 20 - 56
                XCTAssertEqual(u(d, locator, 4), 0x0706_4B50)
                XCTAssertEqual(u(d, locator + 8, 8), UInt64(record))
                XCTAssertEqual(u(d, record, 4), 0x0606_4B50)
                XCTAssertEqual(u(d, record + 48, 8), UInt64(central))
            }
        }
        // The check of a standard zip's CRC-32.
        var c = CRC32()
        c.update(Array("123456789".utf8))
        XCTAssertEqual(c.value, 0xCBF4_3926)
    }
}
