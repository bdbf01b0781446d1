import Foundation

/// Monotonic nanoseconds; the progress meters take it as a parameter so that
/// tests can drive time.
public typealias NanoClock = @Sendable () -> UInt64

public let monotonicNanoseconds: NanoClock = { DispatchTime.now().uptimeNanoseconds }

/// Seconds from nanosecond `t0` to `t1`.
public func seconds(from t0: UInt64, to t1: UInt64) -> Double { Double(t1 &- t0) * 1e-9 }

/// Writes progress text to stderr unbuffered (stdout may carry a video).
public let standardErrorSink: @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }

/// `m:ss`, or `h:mm:ss` from an hour on.
public func durationText(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
