import Foundation

/// .npy files for token cubes: int32 (and float32, for logits) C-order arrays
/// written in format 1.0; any integer dtype read (formats 1.0-3.0, C order, little-endian).
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
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
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

    public static func read(_ path: String) throws -> (values: [Int32], shape: [Int]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw WeightsError("cannot read \(path)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw WeightsError("\(path): not a .npy file")
        }
        let major = bytes[6]
        let (lenBytes, start) = major == 1 ? (2, 8) : (4, 8)
        guard bytes.count >= start + lenBytes else { throw WeightsError("\(path): truncated .npy header") }
        var hlen = 0
        for i in 0..<lenBytes { hlen |= Int(bytes[start + i]) << (8 * i) }
        let dataStart = start + lenBytes + hlen
        guard dataStart <= bytes.count, let header = String(bytes: bytes[(start + lenBytes)..<dataStart], encoding: .ascii) else {
            throw WeightsError("\(path): truncated .npy header")
        }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else {
            throw WeightsError("\(path): .npy header has no dtype")
        }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        if let f = field("fortran_order"), f.hasPrefix("True") { throw WeightsError("\(path): Fortran-order arrays are not supported") }
        guard let s = field("shape"), let open = s.firstIndex(of: "("), let close = s.firstIndex(of: ")") else {
            throw WeightsError("\(path): .npy header has no shape")
        }
        let shape = try s[s.index(after: open)..<close].split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw WeightsError("\(path): bad .npy shape") }
            return v
        }
        let count = shape.reduce(1, *)
        let sizes: [String: Int] = ["<i4": 4, "<i8": 8, "<i2": 2, "<u2": 2, "|u1": 1, "|i1": 1, "<u4": 4]
        guard let size = sizes[descr] else {
            throw WeightsError("\(path): dtype \(descr) is not an integer type (token cubes are int32/int64)")
        }
        guard bytes.count - dataStart == count * size else {
            throw WeightsError("\(path): holds \(bytes.count - dataStart) data bytes, shape \(shape) of \(descr) needs \(count * size)")
        }
        var values = [Int32](repeating: 0, count: count)
        try bytes.withUnsafeBytes { raw in
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
        }
        return (values, shape)
    }
}
