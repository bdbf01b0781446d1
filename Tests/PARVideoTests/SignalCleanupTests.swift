import Foundation
import XCTest
import PARVideo

/// Ctrl-C during a write: the partial file and folder are removed and the
/// process exits 128 + signal (130 for SIGINT, 143 for SIGTERM, ...). The
/// child is this test binary run with one test selected and
/// PARVIDEO_SIGNAL_CHILD set.
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

    /// Runs testChildWaitsForSignal in a child writing into `dir`; returns once it printed
    /// READY (both temporaries exist) or after 20 s, with what it printed.
    func startWaitingChild(in dir: URL) throws -> (Process, String) {
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
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while !seen.contains("READY"), Date() < deadline {
            seen += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        return (p, seen)
    }

    func testInterruptRemovesPartialOutputs() throws {
        #if os(Linux)
        for (sig, code) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let dir = try scratchFolder("signal\(sig)")
            let (p, seen) = try startWaitingChild(in: dir)
            XCTAssertTrue(seen.contains("READY 2"), seen)
            XCTAssertEqual(listing(dir).count, 2, "temporaries should exist before the signal: \(listing(dir))")
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, code)
            XCTAssertEqual(listing(dir), [], "partial outputs left after signal \(sig)")
        }
        #endif
    }

    /// SIGKILL runs no handler, so the killed child's file and folder temporaries stay; the
    /// next write into that folder removes them. A live process's temporary (this test's own
    /// pid stands for one) and names that only look alike are left alone.
    func testDebrisOfAKilledRunIsRemovedByTheNextWrite() throws {
        #if os(Linux)
        let dir = try scratchFolder("sigkill")
        let (p, _) = try startWaitingChild(in: dir)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let debris = listing(dir)
        XCTAssertEqual(debris.count, 2, "a SIGKILLed run leaves its temporaries: \(debris)")
        let keep = [".a.mp4.partial-\(getpid())-1", ".b.mp4.partial-x-1", ".c.mp4.partial-99999999-1", "d.partial-1"]
        for name in keep { _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: Data([1])) }
        try RunFolder.writeAtomically(Data("new".utf8), to: dir.appendingPathComponent("clip.txt"))
        XCTAssertEqual(listing(dir), (keep + ["clip.txt"]).sorted())
        #endif
    }

    /// Starts `par-video args` in `dir`; once a `.partial-` temporary shows up
    /// (the writing has begun), waits a random 0-`spread` µs and sends `sig`.
    /// Returns the exit status (128 + sig when the shutdown path ran), or nil
    /// when the run finished first.
    func interrupt(_ args: [String], in dir: URL, with sig: Int32, spread: UInt32) throws -> Int32? {
        let p = Process()
        p.executableURL = parVideoBinary
        p.arguments = args
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning, !listing(dir).contains(where: { $0.contains(".partial-") }), Date() < deadline { usleep(2_000) }
        usleep(UInt32.random(in: 0...spread))
        kill(p.processIdentifier, sig)
        p.waitUntilExit()
        return p.terminationReason == .exit && p.terminationStatus == 0 ? nil : p.terminationStatus
    }

    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2]

    /// The writer race: a signal while a PNG frame folder is being written
    /// used to delete the folder while the next frame was written into it,
    /// leaving `.NAME.partial-PID-N/` with PNGs. Every terminating signal,
    /// twice each, at random points of the frame writes: exit 128 + signal,
    /// and nothing left.
    func testEverySignalDuringFrameWritesLeavesNoDebris() throws {
        #if os(Linux)
        let tiny = fixturesDir.appendingPathComponent("pipeline/tiny").path
        var interrupted = 0
        for (trial, sig) in (Self.signals + Self.signals).enumerated() {
            let dir = try scratchFolder("frames\(trial)")
            let args = ["--model", tiny, "--action", "0", "--frames", "1000", "--format", "frames", "--threads", "1",
                        "--quiet", "-o", "clip"]
            guard let status = try interrupt(args, in: dir, with: sig, spread: 150_000) else {
                XCTAssertEqual(listing(dir), ["clip"])
                continue
            }
            interrupted += 1
            XCTAssertEqual(status, 128 + sig, "signal \(sig)")
            XCTAssertEqual(listing(dir), [], "signal \(sig), try \(trial): debris")
        }
        XCTAssertGreaterThan(interrupted, 7, "too few runs were interrupted while writing")
        #endif
    }

    /// `generate --format both` of a 300-frame clip: the MP4 is encoded, the
    /// frame folder written, then both renamed. Each signal at a random
    /// point of that: exit 128 + signal and at most whole outputs (the frame
    /// folder is renamed before the MP4); one after the end finds a finished
    /// run (exit 0).
    func testEverySignalDuringAGenerateRunLeavesNoDebris() throws {
        #if os(Linux)
        let tiny = fixturesDir.appendingPathComponent("pipeline/tiny").path
        var interrupted = 0
        for (trial, sig) in Self.signals.enumerated() {
            let dir = try scratchFolder("run\(trial)")
            let args = ["--model", tiny, "--action", "0", "--frames", "300", "--format", "both", "--threads", "1",
                        "--quiet", "-o", "long.mp4"]
            guard let status = try interrupt(args, in: dir, with: sig, spread: 250_000) else {
                XCTAssertEqual(listing(dir), ["long", "long.mp4"])
                continue
            }
            interrupted += 1
            let left = listing(dir)
            XCTAssertEqual(status, 128 + sig, "signal \(sig)")
            // A signal that lands after the last rename finds both outputs whole: nothing to remove.
            XCTAssertTrue(left == [] || left == ["long"] || left == ["long", "long.mp4"],
                          "signal \(sig), try \(trial): debris \(left)")
            if left.contains("long") { XCTAssertEqual(listing(dir.appendingPathComponent("long")).count, 300) }
            if left.contains("long.mp4") { XCTAssertEqual(try VideoProbe.info(dir.appendingPathComponent("long.mp4")).frames, 300) }
        }
        XCTAssertGreaterThan(interrupted, 2, "too few runs were interrupted to test anything")
        #endif
    }
}
