import Foundation
import PARVideo

extension JSONReport {
    /// On stdout, or on stderr with `toStderr` (the video itself is on stdout).
    static func print(_ object: [String: Any], toStderr: Bool = false) throws {
        let text = try Self.line(object)
        if toStderr { FileHandle.standardError.write(Data((text + "\n").utf8)) } else { Swift.print(text) }
    }
}

/// Wall-clock seconds since `t0` (monotonic nanoseconds).
func seconds(since t0: UInt64) -> Double { seconds(from: t0, to: now()) }

func now() -> UInt64 { monotonicNanoseconds() }
