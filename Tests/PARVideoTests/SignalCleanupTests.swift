import Foundation
import XCTest
import PARVideo

/// Ctrl-C during a write: the partial file and folder are removed and the
/// process exits 130 (143 for SIGTERM). The child is this test binary run
/// with one test selected and PARVIDEO_SIGNAL_CHILD set.
final class SignalCleanupTests: XCTestCase {
    /// The child side: starts a file and a folder write, says where, waits.
    func testChildWaitsForSignal() throws {
        guard let target = ProcessInfo.processInfo.environment["PARVIDEO_SIGNAL_CHILD"] else { return }
        let dir = URL(fileURLWithPath: target)
        try AtomicOutput.write(to: dir.appendingPathComponent("clip.mp4")) { tmp in
            _ = FileManager.default.createFile(atPath: tmp.path, contents: Data(repeating: 7, count: 1000))
            try AtomicOutput.write(to: dir.appendingPathComponent("clip"), directory: true) { folder in
                _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("000000.png").path, contents: Data([1]))
                print("READY", AtomicOutput.inFlight.count)
                fflush(nil)
                // A signal interrupts sleep(3) (libdispatch installs a real handler
                // for its signal sources); returning early would commit the outputs.
                let end = Date().addingTimeInterval(30)
                while Date() < end { usleep(50_000) }
            }
        }
        XCTFail("the signal did not arrive")
    }

    func testInterruptRemovesPartialOutputs() throws {
        #if os(Linux)
        for (sig, code) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let dir = try scratchFolder("signal\(sig)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            p.arguments = ["PARVideoTests.SignalCleanupTests/testChildWaitsForSignal"]
            var env = ProcessInfo.processInfo.environment
            env["PARVIDEO_SIGNAL_CHILD"] = dir.path
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Wait for READY: both temporaries exist.
            var seen = ""
            let deadline = Date().addingTimeInterval(20)
            while !seen.contains("READY"), Date() < deadline {
                seen += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
            }
            XCTAssertTrue(seen.contains("READY 2"), seen)
            XCTAssertEqual(listing(dir).count, 2, "temporaries should exist before the signal: \(listing(dir))")
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, code)
            XCTAssertEqual(listing(dir), [], "partial outputs left after signal \(sig)")
        }
        #endif
    }
}
