import Foundation

/// Progress of one clip over all its cubes. On a terminal one line rewritten
/// in place: cube k/K, step, tokens, ETA. Otherwise (a log file, a cluster
/// job) a plain line when a cube ends and at most every `interval` seconds in
/// between.
public final class ClipProgress {
    public let enabled: Bool
    public let terminal: Bool
    public let interval: Double
    public let label: String
    private let clock: NanoClock
    private let emit: (String) -> Void
    private let start: UInt64
    private var lastLine: UInt64

    public init(_ label: String, enabled: Bool, terminal: Bool = isatty(2) != 0, interval: Double = 10,
                clock: @escaping NanoClock = monotonicNanoseconds, emit: @escaping (String) -> Void = standardErrorSink) {
        (self.label, self.enabled, self.terminal, self.interval, self.clock, self.emit) = (label, enabled, terminal, interval, clock, emit)
        start = clock()
        lastLine = start
    }

    public func report(_ p: RenderProgress) {
        guard enabled else { return }
        let t = clock()
        let elapsed = seconds(from: start, to: t)
        let left = p.stepsDone > 0 ? elapsed / Double(p.stepsDone) * Double(p.totalSteps - p.stepsDone) : 0
        let text = String(format: "cube %d/%d  step %d/%d  tokens %d/%d  ETA %@", p.cube, p.cubes, p.step, p.steps,
                          p.tokens, p.cubeTokens, durationText(left))
        if terminal {
            emit("\r" + text + "\u{1B}[K")
        } else if p.step == p.steps || seconds(from: lastLine, to: t) >= interval {
            lastLine = t
            emit("\(label): " + text + "\n")
        }
    }

    /// Clears the terminal line.
    public func finish() { if enabled && terminal { emit("\r\u{1B}[K") } }
}
