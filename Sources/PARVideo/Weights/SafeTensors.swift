import Foundation

/// Element types a safetensors file may hold that par-video reads.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64", u8 = "U8"

    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .u8: return 1
        }
    }
}

public struct WeightsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The model's files do not fit together (a tensor's shape against the
    /// config, a vocabulary against a codebook): the command's input is wrong,
    /// as a bad option value is, rather than the run failing.
    public let badInput: Bool
    public init(_ description: String, badInput: Bool = false) { self.description = description; self.badInput = badInput }
}

/// One tensor's entry in the header, checked against the file.
public struct TensorInfo: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section (after the header).
    public let begin: Int, end: Int
    /// Elements: the shape's product, checked against the bytes when read.
    public let count: Int
}

/// A safetensors file mapped read-only into memory. Tensors are views into the
/// mapping: nothing is copied until a caller asks for a converted array.
public final class SafeTensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes = InputLimits.headerBytes

    public let path: String
    public let metadata: [String: String]
    public let tensors: [String: TensorInfo]
    private let mapping: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        let fd: Int32
        do { fd = try InputFile.open(path) } catch let e as InputFileError { throw WeightsError(e.description) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw WeightsError("\(path): cannot stat") }
        let size = Int(st.st_size)
        guard size >= 8 else { throw WeightsError("\(path): truncated (\(size) bytes, no header length)") }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw WeightsError("\(path): mmap failed")
        }
        mapping = map
        mappedBytes = size
        do {
            let layout = try Self.layout(UnsafeRawBufferPointer(start: map, count: size), path: path)
            (dataStart, metadata, tensors) = (layout.dataStart, layout.metadata, layout.tensors)
        } catch {
            munmap(map, size)
            throw error
        }
    }

    deinit { munmap(mapping, mappedBytes) }

    /// The header of a whole file's bytes, every entry checked against them:
    /// where the data starts, the metadata and the tensors.
    static func layout(_ file: UnsafeRawBufferPointer, path: String) throws
        -> (dataStart: Int, metadata: [String: String], tensors: [String: TensorInfo]) {
        guard file.count >= 8 else { throw WeightsError("\(path): truncated (\(file.count) bytes, no header length)") }
        // Compared as UInt64: lengths from 2^63 up would wrap negative as Int.
        let rawLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard rawLength <= UInt64(Self.maxHeaderBytes) else {
            throw WeightsError("\(path): header of \(rawLength) bytes exceeds the 100 MB limit")
        }
        let headerLength = Int(rawLength)
        guard 8 + headerLength <= file.count else {
            throw WeightsError("\(path): header length \(headerLength) runs past the end of the file (\(file.count) bytes)")
        }
        let dataStart = 8 + headerLength
        let headerData = Data(bytes: file.baseAddress! + 8, count: headerLength)
        let (meta, infos) = try parseHeader(headerData, dataBytes: file.count - dataStart, path: path)
        return (dataStart, meta, infos)
    }

    private static func parseHeader(_ data: Data, dataBytes: Int, path: String) throws -> ([String: String], [String: TensorInfo]) {
        guard let json = try? JSONSerialization.jsonObject(with: data), let header = json as? [String: Any] else {
            throw WeightsError("\(path): header is not a JSON object")
        }
        guard header.count <= InputLimits.tensors + 1 else {
            throw WeightsError("\(path): header lists \(header.count) entries, more than the \(InputLimits.tensors) tensors a file may hold")
        }
        var metadata: [String: String] = [:]
        var infos: [String: TensorInfo] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw WeightsError("\(path): __metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw WeightsError("\(path): metadata value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeAny = entry["shape"] as? [Any],
                  let offsetsAny = entry["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw WeightsError("\(path): malformed header entry for tensor '\(name)'")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw WeightsError("\(path): tensor '\(name)' has unsupported dtype \(dtypeName)")
            }
            guard shapeAny.count <= InputLimits.dims else {
                throw WeightsError("\(path): tensor '\(name)' has \(shapeAny.count) dimensions (at most \(InputLimits.dims))")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let n = Self.size(v) else { throw WeightsError("\(path): tensor '\(name)' has an invalid shape") }
                return n
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = Self.size(v) else { throw WeightsError("\(path): tensor '\(name)' has invalid data offsets") }
                return n
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataBytes else {
                throw WeightsError("\(path): tensor '\(name)' offsets [\(begin), \(end)) lie outside the data section (\(dataBytes) bytes)")
            }
            guard let count = Checked.product(shape), let needed = Checked.multiply(count, dtype.byteSize) else {
                throw WeightsError("\(path): tensor '\(name)' shape \(shape) of \(dtypeName) overflows a byte count")
            }
            guard end - begin == needed else {
                throw WeightsError("\(path): tensor '\(name)' holds \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(needed)")
            }
            infos[name] = TensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end, count: count)
        }
        // Tensors must not share bytes: a crafted file could alias two weights.
        let sorted = infos.values.filter { $0.end > $0.begin }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw WeightsError("\(path): tensors '\(a.name)' and '\(b.name)' overlap")
        }
        return (metadata, infos)
    }

    /// A JSON number that is a whole size: integral, 0 ... 2^53 (exact in a
    /// double, and beyond any file).
    static func size(_ value: Any) -> Int? {
        guard let n = value as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d >= 0, d <= 9_007_199_254_740_992, d.rounded() == d else { return nil }
        return Int(d)
    }

    public var names: [String] { tensors.keys.sorted() }

    /// The header entry for `name`, checked against an expected shape and dtypes.
    public func info(_ name: String, shape: [Int]? = nil, dtypes: Set<DType>? = nil) throws -> TensorInfo {
        guard let info = tensors[name] else { throw WeightsError("\(path): missing tensor '\(name)'") }
        if let shape, info.shape != shape {
            throw WeightsError("\(path): tensor '\(name)' has shape \(info.shape), expected \(shape)")
        }
        if let dtypes, !dtypes.contains(info.dtype) {
            throw WeightsError("\(path): tensor '\(name)' has dtype \(info.dtype.rawValue), expected one of \(dtypes.map(\.rawValue).sorted())")
        }
        return info
    }

    /// The tensor's bytes inside the mapping (valid while this file lives).
    public func bytes(_ info: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping + dataStart + info.begin, count: info.end - info.begin)
    }

    /// A float tensor converted to fp32 (a copy; for small tensors and tests).
    public func floats(_ name: String, shape: [Int]? = nil) throws -> [Float] {
        let info = try self.info(name, shape: shape, dtypes: [.f32, .f16, .bf16])
        let raw = bytes(info)
        return [Float](unsafeUninitializedCapacity: info.count) { out, initialized in
            convertToFloat(raw, dtype: info.dtype, into: out.baseAddress!, count: info.count)
            initialized = info.count
        }
    }

    /// An integer tensor (I32 or I64) as Int32.
    public func int32s(_ name: String, shape: [Int]? = nil) throws -> [Int32] {
        let info = try self.info(name, shape: shape, dtypes: [.i32, .i64])
        let raw = bytes(info)
        if info.dtype == .i32 {
            return (0..<info.count).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
        return try (0..<info.count).map {
            let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))
            guard let w = Int32(exactly: v) else { throw WeightsError("\(path): tensor '\(name)' value \(v) does not fit Int32") }
            return w
        }
    }
}

/// Widens `count` elements of F32/F16/BF16 data to fp32.
@inline(__always)
public func convertToFloat(_ raw: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutablePointer<Float>, count: Int) {
    switch dtype {
    case .f32:
        memcpy(out, raw.baseAddress!, count * 4)
    case .f16:
        let src = raw.baseAddress!.assumingMemoryBound(to: Float16.self)
        for i in 0..<count { out[i] = Float(src[i]) }
    case .bf16:
        let src = raw.baseAddress!.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { out[i] = Float(bitPattern: UInt32(src[i]) << 16) }
    default:
        preconditionFailure("convertToFloat: \(dtype) is not a float type")
    }
}
