import Foundation

/// A set's labels.csv: a header naming the columns `clip` and `label` (others
/// are ignored), then one clip per line. The one reader of that file, with the
/// rules of tools/fvd/protocol.py `read_labels`.
public struct FVDLabels: Sendable {
    public static let fileName = "labels.csv"
    public static let maxBytes = 64 << 20

    public let path: String
    public let byClip: [String: String]

    /// nil when the set has no labels.csv.
    public static func read(set dir: String) throws -> FVDLabels? {
        let path = (dir as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do { data = try InputFile.read(path, limit: maxBytes) } catch let e as InputFileError { throw FVDInputError(e.description) }
        guard let text = String(data: data, encoding: .utf8) else { throw FVDInputError("\(path): not UTF-8 text") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> FVDLabels {
        let records = try csvRecords(text, path: path)
        guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }),
              let ci = header.firstIndex(of: "clip"), let li = header.firstIndex(of: "label") else {
            throw FVDInputError("\(path): needs a header with columns clip,label")
        }
        var labels: [String: String] = [:]
        for r in records.dropFirst() {
            if r.fields.count == 1 && r.fields[0].isEmpty { continue }  // blank line
            let clip = ci < r.fields.count ? r.fields[ci].trimmingCharacters(in: .whitespaces) : ""
            let label = li < r.fields.count ? r.fields[li].trimmingCharacters(in: .whitespaces) : ""
            guard !clip.isEmpty, !label.isEmpty else { throw FVDInputError("\(path): line \(r.line): empty clip or label") }
            if let old = labels[clip], old != label {
                throw FVDInputError("\(path): line \(r.line): clip \(clip) labelled twice (\(old) and \(label))")
            }
            labels[clip] = label
        }
        return FVDLabels(path: path, byClip: labels)
    }

    /// A clip's label, by its name or its name without the extension.
    public func label(of clip: FVDClip) throws -> String {
        if let l = byClip[clip.name] { return l }
        if let dot = clip.name.lastIndex(of: "."), let l = byClip[String(clip.name[..<dot])] { return l }
        throw FVDInputError("\(path): no label for clip \(clip.name)")
    }

    /// RFC 4180 records: comma-separated, fields in double quotes may hold
    /// commas, newlines and doubled quotes. `line` is where the record starts.
    static func csvRecords(_ text: String, path: String) throws -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = [], field: [Unicode.Scalar] = []
        var quoted = false, afterQuote = false, line = 1, start = 1
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endField() { fields.append(String(String.UnicodeScalarView(field))); field = []; afterQuote = false }
        while let c = pending ?? it.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; afterQuote = true; pending = n }
                    } else { quoted = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case ",": endField()
            case "\r": continue
            case "\n":
                endField(); records.append((start, fields)); fields = []
                line += 1; start = line
            case "\"" where field.allSatisfy({ $0 == " " }) && !afterQuote:
                field = []; quoted = true
            default:
                if afterQuote && c != " " { throw FVDInputError("\(path): line \(line): text after a closing quote") }
                if !afterQuote { field.append(c) }
            }
        }
        if quoted { throw FVDInputError("\(path): line \(start): unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty || afterQuote { endField(); records.append((start, fields)) }
        return records
    }
}
