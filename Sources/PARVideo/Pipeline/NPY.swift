import Foundation

/// .npy files for token cubes: int32 (and float32, for logits) C-order arrays
/// written in format 1.0; any integer dtype read (formats 1.0-3.0, C order,
/// little-endian; the header's grammar is NPYHeader's).
public enum NPY {
    /// The bytes of a C-order little-endian int32 array of `shape`.
    public static func encode(_ values: [Int32], shape: [Int]) -> Data {
        encode(values, descr: "<i4", shape: shape)
    }

    /// The bytes of a C-order little-endian float32 array of `shape`.
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        encode(values, descr: "<f4", shape: shape)
    }

    private static func encode<T>(_ values: [T], descr: String, shape: [Int]) -> Data {
        precondition(values.count == shape.reduce(1, *))
        var data = header(descr: descr, shape: shape)
        values.withUnsafeBufferPointer { p in
            data.append(contentsOf: UnsafeRawBufferPointer(p).map { $0 })
        }
        return data
    }

    /// The format 1.0 header of a C-order array, padded to 64 bytes.
    static func header(descr: String, shape: [Int]) -> Data {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        // Magic (6) + version (2) + length (2) + header + '\n' pads to 64 bytes.
        let pad = 63 - (10 + header.utf8.count) % 64
        header += String(repeating: " ", count: pad) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let len = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(len & 0xff), UInt8(len >> 8)])
        data.append(contentsOf: Array(header.utf8))
        return data
    }

    /// Writes atomically: a temporary file in the same folder, then rename,
    /// so a failure never leaves a partial file behind.
    public static func write(_ values: [Int32], shape: [Int], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try encode(values, shape: shape).write(to: tmp)
            if rename(tmp.path, url.path) != 0 { throw WeightsError("\(path): cannot write (\(String(cString: strerror(errno))))") }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            if let e = error as? WeightsError { throw e }
            throw WeightsError("\(path): cannot write (\(error.localizedDescription))")
        }
    }

    public static func read(_ path: String) throws -> (values: [Int32], shape: [Int]) {
        let data: Data
        do { data = try InputFile.read(path, limit: 1 << 32) } catch let e as InputFileError { throw WeightsError(e.description) }
        return try decode(data, path: path)
    }

    /// Integer element types a token cube may be stored in, and their sizes.
    static let integerSizes: [String: Int] = ["<i4": 4, "<i8": 8, "<i2": 2, "<u2": 2, "|u1": 1, "|i1": 1, "<u4": 4]

    /// A .npy file's bytes -> token ids and shape; every size from the header
    /// is checked against the bytes present before anything is allocated.
    public static func decode(_ data: Data, path: String) throws -> (values: [Int32], shape: [Int]) {
        try data.withUnsafeBytes { raw in try decode(raw, path: path) }
    }

    static func decode(_ raw: UnsafeRawBufferPointer, path: String) throws -> (values: [Int32], shape: [Int]) {
        let header = try NPYHeader.parse(raw, path: path)
        let (descr, shape, dataStart) = (header.descr, header.shape, header.dataStart)
        guard !header.fortranOrder else { throw WeightsError("\(path): Fortran-order arrays are not supported") }
        guard let size = integerSizes[descr] else {
            throw WeightsError("\(path): dtype \(descr) is not an integer type (token cubes are int32/int64)")
        }
        let present = raw.count - dataStart
        guard let count = Checked.product(shape), let needed = Checked.multiply(count, size) else {
            throw WeightsError("\(path): shape \(shape) of \(descr) overflows a byte count (the file holds \(present) data bytes)")
        }
        guard present == needed else {
            throw WeightsError("\(path): holds \(present) data bytes, shape \(shape) of \(descr) needs \(needed)")
        }
        var values = [Int32](repeating: 0, count: count)
        let base = raw.baseAddress! + dataStart
        for i in 0..<count {
            let v: Int64
            switch descr {
            case "<i4": v = Int64(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            case "<u4": v = Int64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case "<i8": v = Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
            case "<i2": v = Int64(Int16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
            case "<u2": v = Int64(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            case "|i1": v = Int64(base.load(fromByteOffset: i, as: Int8.self))
            default: v = Int64(base.load(fromByteOffset: i, as: UInt8.self))
            }
            guard let w = Int32(exactly: v) else { throw WeightsError("\(path): value \(v) does not fit a token id") }
            values[i] = w
        }
        return (values, shape)
    }
}
