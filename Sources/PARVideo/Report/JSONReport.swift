import Foundation

/// The one JSON form of every command's `--json`: one object on one line,
/// sorted snake_case keys, durations as `*_seconds` rounded to milliseconds,
/// measured figures to 6 significant digits, and `schema`, the version of
/// this key scheme.
public enum JSONReport {
    public static let schema = 1

    /// `object` with `schema`, as one line of JSON.
    public static func line(_ object: [String: Any]) throws -> String {
        var object = object
        object["schema"] = schema
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// JSON text of `object`, keys sorted; with `fragment` a lone value too (8, not 8.0).
    public static func text(_ object: Any, fragment: Bool = false) -> String {
        let options: JSONSerialization.WritingOptions = fragment ? [.fragmentsAllowed, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: options)) ?? Data(), as: UTF8.self)
    }

    /// Seconds to 3 decimals.
    public static func seconds(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }

    /// A Float setting as it was written (1.15, not 1.149999976158142).
    public static func value(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }

    /// A measured figure to 6 significant digits (0.333333, not 0.33333333333333331).
    public static func figure(_ x: Double) -> Double {
        x.isFinite ? Double(String(format: "%.6g", x)) ?? x : x
    }

    /// Every Double inside `value` rounded: `*_seconds` keys as `seconds`,
    /// the rest as `figure`. Integers and other values are kept.
    public static func rounded(_ value: Any, key: String = "") -> Any {
        if let d = value as? [String: Any] { return Dictionary(uniqueKeysWithValues: d.map { ($0, rounded($1, key: $0)) }) }
        if let a = value as? [Any] { return a.map { rounded($0) } }
        // Whole numbers (integers, booleans, 2.0) stay the value they were.
        guard let x = value as? Double, x.isFinite, x != x.rounded() else { return value }
        return key.hasSuffix("_seconds") ? seconds(x) : figure(x)
    }
}
