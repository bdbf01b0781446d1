import ArgumentParser
import Foundation
import PARVideo

// Before anything else: a misdetected OpenBLAS core costs 10x in sgemm.
OpenBLASCore.reexecIfMisdetected()

// Interrupts remove partial outputs from the very start.
AtomicOutput.installHandlers()

do {
    var command = try ParVideoCommand.parseAsRoot()
    try command.run()
} catch {
    exit(CLIExit.report(error))
}
