import Foundation

/// The one JSON form of every command's `--json`: one object on one line,
/// sorted snake_case keys, durations as `*_seconds` rounded to milliseconds,
/// and `schema`, the version of this key scheme.
enum JSONReport {
    static let schema = 1

    /// On stdout, or on stderr with `toStderr` (the video itself is on stdout).
    static func print(_ object: [String: Any], toStderr: Bool = false) throws {
        var object = object
        object["schema"] = schema
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        let line = String(decoding: data, as: UTF8.self)
        if toStderr { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { Swift.print(line) }
    }

    /// Seconds to 3 decimals.
    static func seconds(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }

    /// A Float setting as it was written (1.15, not 1.149999976158142).
    static func value(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
}

/// Wall-clock seconds since `t0` (DispatchTime nanoseconds).
func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
