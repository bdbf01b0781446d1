import Foundation
import PARVideo

/// Progress of one clip on stderr, over all its cubes. On a terminal one
/// line rewritten in place: cube k/K, step, tokens, ETA. Otherwise (a log
/// file, a cluster job) a plain line when a cube ends and at most every
/// `interval` seconds in between.
final class ProgressLine {
    let enabled: Bool
    let terminal: Bool
    let interval: Double
    let label: String
    private let start = now()
    private var lastLine = now()

    init(_ label: String, enabled: Bool, terminal: Bool = isatty(2) != 0, interval: Double = 10) {
        self.label = label
        self.enabled = enabled
        self.terminal = terminal
        self.interval = interval
    }

    func report(_ p: RenderProgress) {
        guard enabled else { return }
        let elapsed = seconds(since: start)
        let left = p.stepsDone > 0 ? elapsed / Double(p.stepsDone) * Double(p.totalSteps - p.stepsDone) : 0
        let text = String(format: "cube %d/%d  step %d/%d  tokens %d/%d  ETA %@", p.cube, p.cubes, p.step, p.steps,
                          p.tokens, p.cubeTokens, BatchProgress.duration(left))
        if terminal {
            emit("\r" + text + "\u{1B}[K")
        } else if p.step == p.steps || seconds(since: lastLine) >= interval {
            lastLine = now()
            emit("\(label): " + text + "\n")
        }
    }

    func finish() { if enabled && terminal { emit("\r\u{1B}[K") } }

    private func emit(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
