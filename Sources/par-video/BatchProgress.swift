import Foundation
import PARVideo

/// Batch progress on stderr: on a terminal one bar rewritten in place, else
/// one plain line per finished clip (for logs of cluster jobs).
final class BatchProgress {
    let terminal: Bool
    let enabled: Bool
    private var total = 0
    private var skipped = 0
    private var done = 0
    private var start = DispatchTime.now().uptimeNanoseconds

    init(enabled: Bool, terminal: Bool = isatty(2) != 0) {
        self.enabled = enabled
        self.terminal = terminal
    }

    /// The runner's events (BatchRunner.Event).
    func handle(_ event: BatchRunner.Event) {
        switch event {
        case .started(let toRender, let skipped): started(total: toRender, skipped: skipped)
        case .step(let p): step(p)
        case .finished(let clip, let name): finished(clip: clip.name, label: name)
        }
    }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
    var clipsPerSecond: Double { elapsed > 0 ? Double(done) / elapsed : 0 }

    func started(total: Int, skipped: Int) {
        (self.total, self.skipped, start) = (total, skipped, DispatchTime.now().uptimeNanoseconds)
        guard enabled else { return }
        let resumed = skipped > 0 ? " (\(skipped) already finished, skipped)" : ""
        emit("batch: \(total) clips to render\(resumed)\n")
    }

    func finished(clip: String, label: String) {
        done += 1
        guard enabled else { return }
        let rate = clipsPerSecond
        let eta = rate > 0 ? Self.duration(Double(total - done) / rate) : "?"
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
        let eta = rate > 0 ? Self.duration(Double(total - done) / rate) : "?"
        emit(String(format: "\r%d/%d clips  %.2f clips/s  ETA %@  (batch step %d/%d)\u{1B}[K", done, total, rate, eta, p.stepsDone, p.totalSteps))
    }

    func end() { if enabled && terminal && done > 0 { emit("\n") } }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    private func emit(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
