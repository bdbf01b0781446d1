import ArgumentParser
import CKernels
import Foundation
import PARVideo

// Signals wait until the shutdown path is armed below (the mask survives a re-exec).
AtomicOutput.holdSignals()

// Before anything else: a misdetected OpenBLAS core costs 10x in sgemm.
OpenBLASCore.reexecIfMisdetected()

// Large activation buffers come and go in every decoder layer: keep freed
// memory in the heap, so each new buffer does not fault in zeroed pages again.
ck_keep_freed_memory()

// Signals remove partial outputs from the very start.
AtomicOutput.installHandlers()

do {
    var command = try ParVideoCommand.parseAsRoot()
    try command.run()
} catch {
    exit(CLIExit.report(error))
}
