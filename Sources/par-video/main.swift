import ArgumentParser
import Foundation
import PARVideo

// Interrupts remove partial outputs from the very start.
AtomicOutput.installHandlers()

do {
    var command = try ParVideoCommand.parseAsRoot()
    try command.run()
} catch {
    exit(CLIExit.report(error))
}
