import Foundation

/// Minimal .npy (format 1.0) for int32 arrays: the token-cube file format.
public enum NPY {
    /// The bytes of a C-order little-endian int32 array of `shape`.
    public static func encode(_ values: [Int32], shape: [Int]) -> Data {
        precondition(values.count == shape.reduce(1, *))
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '<i4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Magic (6) + version (2) + length (2) + header + '\n' pads to 64 bytes.
        let pad = 63 - (10 + header.utf8.count) % 64
        header += String(repeating: " ", count: pad) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let len = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(len & 0xff), UInt8(len >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { p in
            data.append(contentsOf: UnsafeRawBufferPointer(p).map { $0 })
        }
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

    /// Reads an int32 (or int64 with values fitting int32) little-endian C-order array.
    public static func read(_ path: String) throws -> (values: [Int32], shape: [Int]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw WeightsError("\(path): cannot read") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw WeightsError("\(path): not a .npy file")
        }
        let major = bytes[6]
        let (hlen, start) = major == 1 ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        guard start + hlen <= bytes.count, let header = String(bytes: bytes[start..<(start + hlen)], encoding: .ascii) else {
            throw WeightsError("\(path): bad .npy header")
        }
        guard !header.contains("'fortran_order': True") else { throw WeightsError("\(path): Fortran order not supported") }
        let width: Int
        if header.contains("'<i4'") { width = 4 } else if header.contains("'<i8'") { width = 8 } else {
            throw WeightsError("\(path): only little-endian int32/int64 .npy is supported")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw WeightsError("\(path): .npy header has no shape")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = start + hlen
        guard bytes.count - body == count * width else { throw WeightsError("\(path): data size does not match shape \(shape)") }
        let values: [Int32] = try bytes.withUnsafeBytes { raw in
            try (0..<count).map { i in
                if width == 4 { return Int32(littleEndian: raw.loadUnaligned(fromByteOffset: body + 4 * i, as: Int32.self)) }
                let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: body + 8 * i, as: Int64.self))
                guard let w = Int32(exactly: v) else { throw WeightsError("\(path): value \(v) does not fit int32") }
                return w
            }
        }
        return (values, shape)
    }
}
