import Foundation
import XCTest
@testable import PARVideo

/// Crafted model bundles and .npy cubes, built at run time: each must end in
/// one clear error line and a non-zero exit, never a crash, a wrapped size
/// or a silently wrong result.
final class HostileFileTests: XCTestCase {
    let gpt = fixturesDir.appendingPathComponent("engine/2d-n4-b3-cfg/model.safetensors")
    let tokenizer = fixturesDir.appendingPathComponent("tokenizer/small_b.safetensors")

    /// A safetensors file's header and data section.
    struct Parts {
        var header: [String: Any]
        var data: Data

        init(_ url: URL) throws {
            let bytes = try Data(contentsOf: url)
            let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as! [String: Any]
            data = bytes.subdata(in: (8 + n)..<bytes.count)
        }

        /// Edits the `config` object of the `par_video` metadata.
        mutating func config(_ edit: (inout [String: Any]) -> Void) throws {
            var meta = header["__metadata__"] as! [String: String]
            var pv = try JSONSerialization.jsonObject(with: Data(meta["par_video"]!.utf8)) as! [String: Any]
            var config = pv["config"] as! [String: Any]
            edit(&config)
            pv["config"] = config
            meta["par_video"] = String(decoding: try JSONSerialization.data(withJSONObject: pv), as: UTF8.self)
            header["__metadata__"] = meta
        }

        mutating func setShape(_ name: String, _ shape: [Int]) {
            var e = header[name] as! [String: Any]
            e["shape"] = shape
            header[name] = e
        }

        /// Overwrites every float of an F32 tensor with `value`.
        mutating func fill(_ name: String, with value: Float) {
            let e = header[name] as! [String: Any]
            XCTAssertEqual(e["dtype"] as? String, "F32")
            let o = e["data_offsets"] as! [Int]
            var bits = value.bitPattern.littleEndian
            let word = withUnsafeBytes(of: &bits) { Data($0) }
            for off in stride(from: o[0], to: o[1], by: 4) { data.replaceSubrange(off..<(off + 4), with: word) }
        }

        func write(to url: URL) throws {
            var h = try JSONSerialization.data(withJSONObject: header)
            while h.count % 8 != 0 { h.append(0x20) }
            var out = Data()
            var len = UInt64(h.count).littleEndian
            withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
            out.append(h)
            out.append(data)
            try out.write(to: url)
        }
    }

    /// Writes an edited copy of `source` as NAME.safetensors in `dir`.
    func craft(_ source: URL, in dir: URL, _ name: String, _ edit: (inout Parts) throws -> Void) throws -> String {
        var parts = try Parts(source)
        try edit(&parts)
        let url = dir.appendingPathComponent("\(name).safetensors")
        try parts.write(to: url)
        return url.path
    }

    /// Runs par-video and checks: exit `code`, stderr exactly one line starting
    /// "error: " that contains `expected`, no output file left.
    func expectFailure(_ args: [String], in dir: URL, code: Int32 = 1, _ expected: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let before = Set(listing(dir))
        let r = try runParVideo(args, in: dir)
        XCTAssertEqual(r.code, code, "\(args): \(r.err)", file: file, line: line)
        let lines = r.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(args): \(r.err)", file: file, line: line)
        XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains(expected), "\(args): \(r.err)", file: file, line: line)
        XCTAssertEqual(Set(listing(dir)), before, "\(args) left files", file: file, line: line)
    }

    // MARK: safetensors sizes

    func testTensorShapesThatWrapAreRefused() throws {
        let dir = try scratchFolder()
        // 16 KiB stored; [2^54 + 16, 256] of F32 wraps to that in 64 bits.
        let huge = try craft(gpt, in: dir, "huge") { $0.setShape("tok_embeddings.weight", [(1 << 54) + 16, 256]) }
        // Each side exact in a double, the element count overflows Int.
        let product = try craft(gpt, in: dir, "product") { $0.setShape("tok_embeddings.weight", [1 << 40, 1 << 30]) }
        // 2^61 elements fit, their 2^63 bytes do not.
        let bytes = try craft(gpt, in: dir, "bytes") { $0.setShape("tok_embeddings.weight", [1 << 31, 1 << 30]) }
        try expectFailure(["inspect", huge], in: dir, "tok_embeddings.weight' has an invalid shape")
        try expectFailure(["inspect", product], in: dir, "overflows a byte count")
        try expectFailure(["inspect", bytes], in: dir, "overflows a byte count")
        try expectFailure(["tokens", "--model", bytes, "--action", "0", "-o", "t.npy"], in: dir, "overflows a byte count")
    }

    func testHeaderLengthFrom2To63IsRefused() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("ff.safetensors")
        try Data(repeating: 0xff, count: 64).write(to: url)
        try expectFailure(["inspect", url.path], in: dir, "exceeds the 100 MB limit")
        try Data([0, 0, 0, 0, 0, 0, 0, 0x80] + [UInt8](repeating: 0x20, count: 8)).write(to: url)
        try expectFailure(["inspect", url.path], in: dir, "exceeds the 100 MB limit")
    }

    // MARK: GPT configs

    func testDivisionByZeroConfigsAreRefused() throws {
        let dir = try scratchFolder()
        let kv = try craft(gpt, in: dir, "kv") { try $0.config { $0["n_kv_head"] = 0 } }
        let mult = try craft(gpt, in: dir, "mult") { try $0.config { $0["multiple_of"] = 0 } }
        try expectFailure(["inspect", kv], in: dir, "n_kv_head must be positive")
        try expectFailure(["inspect", mult], in: dir, "multiple_of must be in")
        try expectFailure(["tokens", "--model", mult, "--action", "0", "-o", "t.npy"], in: dir, "multiple_of must be in")
    }

    func testSizesThatCannotFitGiveOneLine() throws {
        let dir = try scratchFolder()
        let layers = try craft(gpt, in: dir, "layers") { try $0.config { $0["n_layer"] = 1_000_000_000 } }
        let cube = try craft(gpt, in: dir, "cube") { try $0.config { $0["cube"] = [1_000_000, 8, 8]; $0["rope"] = "3d"; $0["dim"] = 32; $0["n_head"] = 2 } }
        try expectFailure(["inspect", layers], in: dir, "n_layer <= 4096")
        try expectFailure(["inspect", cube], in: dir, "sides in 1...4096")
        // Within every limit, but the KV cache of one clip needs more than this machine has.
        let memory = try craft(gpt, in: dir, "memory") { try $0.config {
            $0["n_layer"] = 4096; $0["dim"] = 65536; $0["n_head"] = 2; $0["cube"] = [1, 256, 256]
        } }
        try expectFailure(["inspect", memory], in: dir, "needs about")
        try expectFailure(["bench", "--parallel", "4", "--batch", "100000"], in: dir, "GB of memory, this machine has")
        try expectFailure(["bench", "--batch", "0"], in: dir, code: 2, "--batch 0")
        let tok = try craft(tokenizer, in: dir, "tok") { try $0.config { $0["size"] = 1_000_000 } }
        try expectFailure(["inspect", tok], in: dir, "size must be a multiple of")
        try NPY.encode((0..<80).map { Int32($0) }, shape: [5, 4, 4]).write(to: dir.appendingPathComponent("c.npy"))
        try expectFailure(["decode", "c.npy", "--model", tok, "-o", "x.mp4"], in: dir, "size must be a multiple of")
        // A small file whose frames would be taller than any video.
        try npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2050, 2), }", data: Data(count: 4100))
            .write(to: dir.appendingPathComponent("tall.npy"))
        try expectFailure(["decode", "tall.npy", "--model", tokenizer.path, "-o", "x.mp4"], in: dir, "larger than 4096x4096")
    }

    // MARK: one validator for every command

    func testInspectRefusesTokenizerConfigsOtherCommandsRefuse() throws {
        let dir = try scratchFolder()
        let cube = (0..<80).map { Int32($0) }
        try NPY.encode(cube, shape: [5, 4, 4]).write(to: dir.appendingPathComponent("c.npy"))
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            ("norm_groups", { $0["norm_groups"] = 0 }),
            ("fsq_levels", { $0["fsq_levels"] = [1, 8, 8, 5, 5, 5] }),
            ("kernel", { $0["kernel"] = 4 }),
            ("norm_eps", { $0["norm_eps"] = -1 }),
            ("embed_dim", { $0["embed_dim"] = 5 }),
            ("frames", { $0["frames"] = 0 }),
        ]
        for (i, (what, edit)) in edits.enumerated() {
            let path = try craft(tokenizer, in: dir, "t\(i)") { try $0.config(edit) }
            let decode = try runParVideo(["decode", "c.npy", "--model", path, "-o", "x.mp4"], in: dir)
            XCTAssertEqual(decode.code, 1, "\(what): \(decode.err)")
            try expectFailure(["inspect", path], in: dir, "tokenizer config")
        }
        // A tensor the config does not expect: decode refuses it, so inspect does too.
        let extra = try craft(tokenizer, in: dir, "extra") { p in
            p.header["decoder_layers.99.weight"] = ["dtype": "F32", "shape": [0], "data_offsets": [0, 0]]
        }
        try expectFailure(["inspect", extra], in: dir, "not part of the configured tokenizer")
    }

    func testNonsenseSamplingValuesAreRefused() throws {
        let dir = try scratchFolder()
        let cfg = try craft(gpt, in: dir, "cfg") { try $0.config { c in
            var s = c["sampling"] as! [String: Any]; s["cfg_scale"] = -1; c["sampling"] = s
        } }
        try expectFailure(["inspect", cfg], in: dir, "cfg scale must be finite and >= 0")
        let eps = try craft(gpt, in: dir, "eps") { try $0.config { $0["norm_eps"] = -1 } }
        try expectFailure(["tokens", "--model", eps, "--action", "0", "-o", "t.npy"], in: dir, "norm_eps must be finite and > 0")
        let m = gpt.path
        try expectFailure(["tokens", "--model", m, "--action", "0", "--cfg=-1", "-o", "t.npy"], in: dir, code: 2, "--cfg -1.0: must be >= 0")
        try expectFailure(["tokens", "--model", m, "--action", "0", "--temperature", "0", "-o", "t.npy"], in: dir, code: 2, "--temperature 0.0: must be > 0")
        try expectFailure(["tokens", "--model", m, "--action", "0", "--threads", "0", "-o", "t.npy"], in: dir, code: 2, "--threads 0")
        try expectFailure(["bench", "--threads", "0"], in: dir, code: 2, "--threads 0")
    }

    func testNonFiniteWeightsAreRefused() throws {
        let dir = try scratchFolder()
        for (i, v) in [Float.nan, .infinity].enumerated() {
            let path = try craft(gpt, in: dir, "w\(i)") { $0.fill("norm.weight", with: v) }
            try expectFailure(["tokens", "--model", path, "--action", "0", "-o", "t.npy"], in: dir, "logits are not finite")
        }
        try NPY.encode((0..<80).map { Int32($0) }, shape: [5, 4, 4]).write(to: dir.appendingPathComponent("c.npy"))
        let tok = try craft(tokenizer, in: dir, "tnan") { $0.fill("decoder_layers.8.conv.bias", with: .nan) }
        try expectFailure(["decode", "c.npy", "--model", tok, "-o", "x.mp4"], in: dir, "output is not finite")
    }

    // MARK: .npy

    /// A .npy file with `header` as its dict text (padded as numpy pads) and `data`.
    func npy(_ header: String, version: UInt8 = 1, data: Data = Data()) -> Data {
        var h = header
        let prefix = version == 1 ? 10 : 12
        while (prefix + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        var out = Data(NPYHeader.magic + [version, 0])
        let n = h.utf8.count
        out.append(contentsOf: version == 1 ? [UInt8(n & 0xff), UInt8(n >> 8)] : [UInt8(n & 0xff), UInt8(n >> 8), 0, 0])
        out.append(contentsOf: Array(h.utf8))
        out.append(data)
        return out
    }

    func testNPYShapesThatWrapAreRefused() throws {
        let dir = try scratchFolder()
        let cases: [(String, String)] = [
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (4611686018427387904, 1, 1), }", "overflows a byte count"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 1), }", "overflows a byte count"),
            ("{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693952, 1, 1), }", "overflows a byte count"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (99999999999999999999, 1, 1), }", "dimension too large"),
        ]
        for (i, (header, expected)) in cases.enumerated() {
            try npy(header).write(to: dir.appendingPathComponent("w\(i).npy"))
            try expectFailure(["decode", "w\(i).npy", "--model", tokenizer.path, "-o", "x.mp4"], in: dir, expected)
        }
    }

    func testNPYHeaderIsParsedByItsGrammar() throws {
        let data = Data((0..<6).flatMap { i -> [UInt8] in [UInt8(i), 0] })
        func read(_ header: String, version: UInt8 = 1) -> String {
            do {
                let (v, s) = try NPY.decode(npy(header, version: version, data: data), path: "f.npy")
                return "\(s) \(v)"
            } catch { return "\(error)" }
        }
        // What numpy writes, and the other spellings of the same literal.
        XCTAssertEqual(read("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }"), "[2, 3] [0, 1, 2, 3, 4, 5]")
        XCTAssertEqual(read("{\"shape\":(6,),\"descr\":\"<u2\",\"fortran_order\":False}"), "[6] [0, 1, 2, 3, 4, 5]")
        XCTAssertEqual(read("{ 'descr' : '<u2' ,\t'fortran_order' : False , 'shape' : ( 1 , 2 , 3 , ) }", version: 3), "[1, 2, 3] [0, 1, 2, 3, 4, 5]")
        XCTAssertEqual(read("{'descr': '<u2', 'fortran_order': False, 'shape': (6L,), }", version: 2), "[6] [0, 1, 2, 3, 4, 5]")
        // A key that holds the text of another entry decides nothing.
        XCTAssertTrue(read("{\"'fortran_order': False\": 1, 'descr': '<u2', 'fortran_order': True, 'shape': (2, 3), }").contains("unknown key"))
        XCTAssertTrue(read("{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3), }").contains("Fortran-order"))
        XCTAssertTrue(read("{'descr': '<u2', 'fortran_order': False, 'fortran_order': False, 'shape': (2, 3), }").contains("duplicate key"))
        XCTAssertTrue(read("{'descr': '<u2', 'shape': (2, 3), }").contains("needs the keys"))
        XCTAssertTrue(read("{'descr': '<u2', 'fortran_order': False, 'shape': (6), }").contains("is not a tuple"))
        XCTAssertTrue(read("{'descr': '<u2', 'fortran_order': 0, 'shape': (6,), }").contains("True or False"))
        XCTAssertTrue(read("{'descr': '<u2', 'fortran_order': False, 'shape': (6,), } x").contains("bytes after the dict"))
        XCTAssertTrue(read("{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (6,), }").contains("structured"))
        XCTAssertTrue(read("{'descr': '<u2', 'fortran_order': False, 'shape': (6,), }", version: 9).contains("version 9.0 is not supported"))
    }

    func testNPYFortranTrickAndVersionThroughTheBinary() throws {
        let dir = try scratchFolder()
        let values = Data((0..<80).flatMap { i -> [UInt8] in [UInt8(i), 0, 0, 0] })
        try npy("{\"'fortran_order': False\": 0, 'descr': '<i4', 'fortran_order': True, 'shape': (5, 4, 4), }", data: values)
            .write(to: dir.appendingPathComponent("trick.npy"))
        try npy("{'descr': '<i4', 'fortran_order': False, 'shape': (5, 4, 4), }", version: 9, data: values)
            .write(to: dir.appendingPathComponent("v9.npy"))
        try expectFailure(["decode", "trick.npy", "--model", tokenizer.path, "-o", "x.mp4"], in: dir, "unknown key")
        try expectFailure(["decode", "v9.npy", "--model", tokenizer.path, "-o", "x.mp4"], in: dir, "version 9.0 is not supported")
    }
}
