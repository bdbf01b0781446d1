import Foundation

/// Progress of a batch run: on a terminal one bar rewritten in place, else
/// one plain line per finished clip (for logs of cluster jobs).
public final class BatchProgress {
    public let terminal: Bool
    public let enabled: Bool
    private let clock: NanoClock
    private let emit: (String) -> Void
    private var total = 0
    private var done = 0
    private var start: UInt64

    public init(enabled: Bool, terminal: Bool = isatty(2) != 0,
                clock: @escaping NanoClock = monotonicNanoseconds, emit: @escaping (String) -> Void = standardErrorSink) {
        (self.enabled, self.terminal, self.clock, self.emit) = (enabled, terminal, clock, emit)
        start = clock()
    }

    /// The runner's events.
    public func handle(_ event: BatchRunner.Event) {
        switch event {
        case .started(let toRender, let skipped): started(total: toRender, skipped: skipped)
        case .step(let p): step(p)
        case .finished(let clip, let name): finished(clip: clip.name, label: name)
        }
    }

    /// Seconds since the rendering started.
    public var elapsed: Double { seconds(from: start, to: clock()) }
    public var clipsPerSecond: Double {
        let s = elapsed
        return s > 0 ? Double(done) / s : 0
    }

    private func etaText(_ rate: Double) -> String { rate > 0 ? durationText(Double(total - done) / rate) : "?" }

    func started(total: Int, skipped: Int) {
        (self.total, start) = (total, clock())
        guard enabled else { return }
        let resumed = skipped > 0 ? " (\(skipped) already finished, skipped)" : ""
        emit("batch: \(total) clips to render\(resumed)\n")
    }

    func finished(clip: String, label: String) {
        done += 1
        guard enabled else { return }
        let rate = clipsPerSecond
        let eta = etaText(rate)
        if terminal {
            let width = 24
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            emit(String(format: "\r[%@] %d/%d clips  %.2f clips/s  ETA %@\u{1B}[K", bar, done, total, rate, eta))
        } else {
            emit(String(format: "%d/%d %@ (%@)  %.2f clips/s  ETA %@\n", done, total, clip, label, rate, eta))
        }
    }

    /// Steps of the batch in flight, on a terminal only (a batch of a large
    /// model takes minutes; logs get a line per clip instead).
    func step(_ p: RenderProgress) {
        guard enabled, terminal else { return }
        let rate = clipsPerSecond
        emit(String(format: "\r%d/%d clips  %.2f clips/s  ETA %@  (batch step %d/%d)\u{1B}[K", done, total, rate, etaText(rate), p.stepsDone, p.totalSteps))
    }

    /// Ends the terminal bar's line.
    public func end() { if enabled && terminal && done > 0 { emit("\n") } }
}
