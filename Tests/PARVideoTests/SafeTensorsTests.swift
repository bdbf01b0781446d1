import Foundation
import XCTest
@testable import PARVideo

/// Builds safetensors files byte by byte so each malformed case is exact.
final class SafeTensorsTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(header: String, data: [UInt8], headerLengthOverride: UInt64? = nil, name: String = "t.safetensors") throws -> String {
        var bytes = [UInt8]()
        let h = Array(header.utf8)
        var len = (headerLengthOverride ?? UInt64(h.count)).littleEndian
        withUnsafeBytes(of: &len) { bytes += $0 }
        bytes += h + data
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func floatBytes(_ xs: [Float]) -> [UInt8] { xs.withUnsafeBytes { Array($0) } }

    func testReadsF32F16BF16AndMetadata() throws {
        let f32 = floatBytes([1, -2.5, 3, 4])
        let f16 = [Float16(0.5), Float16(-1.25)].withUnsafeBytes { Array($0) }
        let bf16: [UInt8] = [Float(3.0), Float(-0.15625)].flatMap { v -> [UInt8] in
            let hi = UInt16(v.bitPattern >> 16)
            return [UInt8(hi & 0xff), UInt8(hi >> 8)]
        }
        let header = """
        {"__metadata__":{"par_video":"{\\"kind\\":\\"gpt\\"}"},\
        "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},\
        "b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},\
        "c":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]}}
        """
        let file = try SafeTensorsFile(path: try write(header: header, data: f32 + f16 + bf16))
        XCTAssertEqual(file.metadata["par_video"], "{\"kind\":\"gpt\"}")
        XCTAssertEqual(try file.floats("a", shape: [2, 2]), [1, -2.5, 3, 4])
        XCTAssertEqual(try file.floats("b"), [0.5, -1.25])
        XCTAssertEqual(try file.floats("c"), [3.0, -0.15625])
        XCTAssertEqual(file.names, ["a", "b", "c"])
    }

    private func assertError(_ header: String, data: [UInt8], lengthOverride: UInt64? = nil, contains needle: String,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write(header: header, data: data, headerLengthOverride: lengthOverride)
        XCTAssertThrowsError(try SafeTensorsFile(path: path), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(needle), "'\(error)' lacks '\(needle)'", file: file, line: line)
        }
    }

    func testRejectsMalformedFiles() throws {
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        try assertError(ok, data: [], lengthOverride: 1 << 40, contains: "exceeds the 100 MB limit")
        try assertError(ok, data: [], lengthOverride: 4096, contains: "runs past the end")
        try assertError(ok, data: [1, 2, 3], contains: "outside the data section")
        try assertError(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: .init(repeating: 0, count: 8), contains: "needs 12")
        try assertError(#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: .init(repeating: 0, count: 8), contains: "unsupported dtype Q4")
        try assertError(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                        data: .init(repeating: 0, count: 12), contains: "overlap")
        try assertError("not json", data: [], contains: "not a JSON object")
        let tiny = dir.appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        XCTAssertThrowsError(try SafeTensorsFile(path: tiny.path)) { XCTAssertTrue("\($0)".contains("truncated")) }
    }

    func testNamedLookupErrors() throws {
        let path = try write(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2]))
        let file = try SafeTensorsFile(path: path)
        XCTAssertThrowsError(try file.floats("layers.0.attention.wqkv.weight")) {
            XCTAssertTrue("\($0)".contains("missing tensor 'layers.0.attention.wqkv.weight'"))
        }
        XCTAssertThrowsError(try file.floats("w", shape: [3])) { XCTAssertTrue("\($0)".contains("expected [3]")) }
        XCTAssertThrowsError(try file.int32s("w")) { XCTAssertTrue("\($0)".contains("dtype F32")) }
    }
}
