/// The header of a .npy file (format versions 1.0, 2.0 and 3.0): the magic,
/// the version, the header length and a Python dict literal such as
/// `{'descr': '<u2', 'fortran_order': False, 'shape': (5, 16, 16), }`.
/// The dict is parsed by its grammar (strings in either quote, True/False,
/// tuples of integers, whitespace, trailing commas), not searched for
/// substrings: a key holding "'fortran_order': False" must not decide the order.
public struct NPYHeader: Equatable, Sendable {
    public let descr: String
    public let fortranOrder: Bool
    public let shape: [Int]
    /// Offset of the array data from the start of the file.
    public let dataStart: Int

    public static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses the header at the start of `bytes`; `path` names the file in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> NPYHeader {
        func fail(_ m: String) -> WeightsError { WeightsError("\(path): \(m)") }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a .npy file") }
        let (major, minor) = (bytes[6], bytes[7])
        guard (1...3).contains(major), minor == 0 else { throw fail(".npy format version \(major).\(minor) is not supported (1.0-3.0)") }
        let lenBytes = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lenBytes else { throw fail("truncated .npy header") }
        var length = 0
        for i in 0..<lenBytes { length |= Int(bytes[8 + i]) << (8 * i) }
        guard length <= InputLimits.npyHeaderBytes else {
            throw fail(".npy header of \(length) bytes exceeds the \(InputLimits.npyHeaderBytes)-byte limit")
        }
        let start = 8 + lenBytes
        guard start + length <= bytes.count else { throw fail("truncated .npy header") }
        var parser = DictParser(text: Array(bytes[start..<(start + length)]), path: path)
        let (descr, fortran, shape) = try parser.parse()
        return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape, dataStart: start + length)
    }
}

/// A recursive-descent parser for the one dict a .npy header holds.
private struct DictParser {
    let text: [UInt8]
    let path: String
    var i = 0

    init(text: [UInt8], path: String) { self.text = text; self.path = path }

    func fail(_ m: String) -> WeightsError { WeightsError("\(path): bad .npy header: \(m)") }

    var atEnd: Bool { i >= text.count }
    var peek: UInt8? { atEnd ? nil : text[i] }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard peek == c.asciiValue else { throw fail("expected '\(c)' at byte \(i)") }
        i += 1
    }

    /// Consumes `c` after optional whitespace when it is next.
    mutating func accept(_ c: Character) -> Bool {
        skipSpace()
        if peek == c.asciiValue { i += 1; return true }
        return false
    }

    mutating func string() throws -> String {
        skipSpace()
        guard let q = peek, q == 0x27 || q == 0x22 else { throw fail("expected a quoted string at byte \(i)") }
        i += 1
        let s = i
        while let c = peek, c != q {
            // No escapes: numpy's keys and dtype strings never need them.
            guard c != 0x5C, c >= 0x20, c < 0x7F else { throw fail("unexpected byte \(c) in a string") }
            i += 1
        }
        guard !atEnd else { throw fail("unterminated string") }
        let value = String(decoding: text[s..<i], as: UTF8.self)
        i += 1
        return value
    }

    mutating func bool() throws -> Bool {
        skipSpace()
        for (word, value) in [("True", true), ("False", false)] {
            let w = Array(word.utf8)
            if i + w.count <= text.count, Array(text[i..<(i + w.count)]) == w {
                i += w.count
                return value
            }
        }
        throw fail("expected True or False at byte \(i)")
    }

    mutating func integer() throws -> Int {
        skipSpace()
        var value = 0, digits = 0
        while let c = peek, c >= 0x30, c <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(c - 0x30))
            guard !o1, !o2 else { throw fail("dimension too large") }
            value = a; digits += 1; i += 1
        }
        guard digits > 0 else { throw fail("expected a dimension at byte \(i)") }
        if peek == UInt8(ascii: "L") { i += 1 }  // Python 2's long literal (old numpy files)
        return value
    }

    /// `()`, `(n,)` or `(n, m, ...)` with an optional trailing comma: a
    /// one-element tuple needs its comma, as in Python.
    mutating func tuple() throws -> [Int] {
        try expect("(")
        var dims: [Int] = []
        if accept(")") { return dims }
        while true {
            dims.append(try integer())
            guard dims.count <= InputLimits.dims else { throw fail("more than \(InputLimits.dims) dimensions") }
            if accept(")") {
                guard dims.count > 1 else { throw fail("(\(dims[0])) is not a tuple") }
                return dims
            }
            try expect(",")
            if accept(")") { return dims }
        }
    }

    mutating func parse() throws -> (String, Bool, [Int]) {
        var descr: String?, fortran: Bool?, shape: [Int]?
        try expect("{")
        if !accept("}") {
            while true {
                let key = try string()
                try expect(":")
                switch key {
                case "descr":
                    guard descr == nil else { throw fail("duplicate key 'descr'") }
                    skipSpace()
                    guard peek == 0x27 || peek == 0x22 else { throw fail("descr is not a simple dtype string (structured arrays are not supported)") }
                    descr = try string()
                case "fortran_order":
                    guard fortran == nil else { throw fail("duplicate key 'fortran_order'") }
                    fortran = try bool()
                case "shape":
                    guard shape == nil else { throw fail("duplicate key 'shape'") }
                    shape = try tuple()
                default:
                    throw fail("unknown key '\(key)'")
                }
                if accept("}") { break }
                try expect(",")
                if accept("}") { break }
            }
        }
        skipSpace()
        guard atEnd else { throw fail("bytes after the dict") }
        guard let descr, let fortran, let shape else { throw fail("needs the keys 'descr', 'fortran_order' and 'shape'") }
        return (descr, fortran, shape)
    }
}
