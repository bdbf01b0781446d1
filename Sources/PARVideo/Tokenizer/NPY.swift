import Foundation

/// Reads an integer .npy array (NumPy format 1.0-3.0, C order, little-endian
/// or single-byte types): token cubes for `par-video decode`.
public enum NPY {
    public static func readIntegers(_ path: String) throws -> (shape: [Int], values: [Int32]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError("cannot read \(path)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw TokenizerError("\(path): not a .npy file")
        }
        let major = bytes[6]
        let (lenBytes, start) = major == 1 ? (2, 8) : (4, 8)
        guard bytes.count >= start + lenBytes else { throw TokenizerError("\(path): truncated .npy header") }
        var hlen = 0
        for i in 0..<lenBytes { hlen |= Int(bytes[start + i]) << (8 * i) }
        let dataStart = start + lenBytes + hlen
        guard dataStart <= bytes.count, let header = String(bytes: bytes[(start + lenBytes)..<dataStart], encoding: .ascii) else {
            throw TokenizerError("\(path): truncated .npy header")
        }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else {
            throw TokenizerError("\(path): .npy header has no dtype")
        }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        if let f = field("fortran_order"), f.hasPrefix("True") { throw TokenizerError("\(path): Fortran-order arrays are not supported") }
        guard let s = field("shape"), let open = s.firstIndex(of: "("), let close = s.firstIndex(of: ")") else {
            throw TokenizerError("\(path): .npy header has no shape")
        }
        let shape = try s[s.index(after: open)..<close].split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw TokenizerError("\(path): bad .npy shape") }
            return v
        }
        let count = shape.reduce(1, *)
        let sizes: [String: Int] = ["<i4": 4, "<i8": 8, "<i2": 2, "<u2": 2, "|u1": 1, "|i1": 1, "<u4": 4]
        guard let size = sizes[descr] else {
            throw TokenizerError("\(path): dtype \(descr) is not an integer type (token cubes are int32/int64)")
        }
        guard bytes.count - dataStart == count * size else {
            throw TokenizerError("\(path): holds \(bytes.count - dataStart) data bytes, shape \(shape) of \(descr) needs \(count * size)")
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
                guard let w = Int32(exactly: v) else { throw TokenizerError("\(path): value \(v) does not fit a token id") }
                values[i] = w
            }
        }
        return (shape, values)
    }
}
