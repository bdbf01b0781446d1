import ArgumentParser
import Foundation
import PARVideo

/// Exit codes and one-line error reports (README "Exit codes").
enum CLIExit {
    static let failure: Int32 = 1
    static let usage: Int32 = 2

    /// Prints `error` as one line on stderr and returns the exit code. Help
    /// and version requests print as usual and exit 0.
    static func report(_ error: Error) -> Int32 {
        let code = ParVideoCommand.exitCode(for: error)
        if code == .success { ParVideoCommand.exit(withError: error) }
        AtomicOutput.removeInFlight()
        var text = ParVideoCommand.message(for: error)
        if text.isEmpty, let e = error as? ExitCode { return e.rawValue }
        // One line, whatever the source of the message.
        text = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
        if code == .validationFailure, !text.contains("(see ") { text += " (see 'par-video --help')" }
        let isUsage = code == .validationFailure || error is BadInput
        FileHandle.standardError.write(Data("error: \(text)\n".utf8))
        return isUsage ? usage : (code.rawValue == 0 ? failure : code.rawValue)
    }
}

/// A model whose files do not fit together, or do not fit the command (exit 2).
struct BadInput: Error, CustomStringConvertible {
    let description: String
}

extension WeightsError {
    /// As the CLI reports it: exit 2 for a bad model, 1 for a failed read.
    var cli: Error { badInput ? BadInput(description: description) : RunError(description) }
}

/// A failure at run time (exit 1), as one line.
struct RunError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
