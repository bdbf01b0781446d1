import Dispatch
import Foundation

/// Atomic output: a file or folder is built under a hidden temporary name in
/// its target folder and renamed into place only when complete, so a failed
/// or interrupted run never leaves a partial MP4 or frame folder behind.
///
///     try AtomicOutput.write(to: url) { tmp in try writeSomething(at: tmp) }
///
/// SIGINT and SIGTERM remove every temporary path still in flight, then exit
/// with 128 + signal (130, 143).
public enum AtomicOutput {
    /// Checks that `url` can be created: its folder exists, is a folder and is
    /// writable, and `url` itself is not the wrong kind of thing.
    public static func checkWritable(_ url: URL, directory: Bool = false) throws {
        let fm = FileManager.default
        let parent = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDir) else {
            throw VideoIOError("cannot write \(url.path): folder \(parent.path) does not exist")
        }
        guard isDir.boolValue else {
            throw VideoIOError("cannot write \(url.path): \(parent.path) is not a folder")
        }
        guard access(parent.path, W_OK) == 0 else {
            throw VideoIOError("cannot write \(url.path): folder \(parent.path) is not writable")
        }
        if fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue != directory {
            throw VideoIOError("cannot write \(url.path): it exists and is \(isDir.boolValue ? "a folder" : "a file")")
        }
    }

    /// Runs `body` with a temporary URL next to `url` and renames the result
    /// over `url` when `body` returns. The temporary path is removed when
    /// `body` throws or the process is interrupted. `directory`: the
    /// temporary path is created as an empty folder for `body` to fill.
    public static func write<R>(to url: URL, directory: Bool = false, _ body: (URL) throws -> R) throws -> R {
        try checkWritable(url, directory: directory)
        let tmp = temporaryURL(for: url)
        if directory {
            do { try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: false) } catch {
                throw VideoIOError("cannot create folder \(tmp.path): \(error.localizedDescription)")
            }
        }
        register(tmp)
        defer { unregister(tmp) }
        do {
            let result = try body(tmp)
            try commit(tmp, to: url, directory: directory)
            return result
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }

    /// `dir/.name.partial-<pid>-<n>`: hidden, in the same folder (so rename is
    /// atomic) and recognisable as debris if the process is SIGKILLed.
    public static func temporaryURL(for url: URL) -> URL {
        let n = counter.next()
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(n)")
    }

    private static func commit(_ tmp: URL, to url: URL, directory: Bool) throws {
        // rename(2) replaces a file atomically; a non-empty folder cannot be
        // replaced, so an old folder is moved aside first and removed after.
        var aside: URL?
        if directory, FileManager.default.fileExists(atPath: url.path) {
            let old = temporaryURL(for: url)
            guard rename(url.path, old.path) == 0 else {
                throw VideoIOError("cannot replace \(url.path): \(String(cString: strerror(errno)))")
            }
            aside = old
        }
        guard rename(tmp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let old = aside { _ = rename(old.path, url.path) }
            throw VideoIOError("cannot rename \(tmp.path) to \(url.path): \(reason)")
        }
        if let old = aside { try? FileManager.default.removeItem(at: old) }
    }

    // MARK: cleanup on SIGINT / SIGTERM

    private static let lock = NSLock()
    nonisolated(unsafe) private static var pending = Set<String>()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let counter = Counter()

    private static func register(_ url: URL) {
        installHandlers()
        lock.lock(); pending.insert(url.path); lock.unlock()
    }

    private static func unregister(_ url: URL) {
        lock.lock(); pending.remove(url.path); lock.unlock()
    }

    /// Paths currently being written (for tests and diagnostics).
    public static var inFlight: [String] {
        lock.lock(); defer { lock.unlock() }
        return pending.sorted()
    }

    /// Removes every temporary path still in flight. Safe to call from an
    /// error path of the program before it exits.
    public static func removeInFlight() {
        lock.lock()
        let paths = pending
        pending.removeAll()
        lock.unlock()
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
    }

    private static let installOnce: Void = {
        // Dispatch delivers the signal on its own thread, so cleanup runs
        // with ordinary (non async-signal-safe) calls while the main thread
        // may be busy computing.
        let queue = DispatchQueue(label: "par-video.signals")
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            src.setEventHandler {
                removeInFlight()
                _exit(128 + sig)
            }
            src.resume()
            sources.append(src)
        }
        // libdispatch arms a signal source asynchronously (its manager thread
        // installs the real handler), and until then SIG_IGN drops the signal:
        // a SIGTERM right after the first write was lost under load. A probe
        // source on SIGWINCH (ignored by default, so early or late probes are
        // harmless) is armed after the ones above; once it fires, they are armed.
        let probe = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: queue)
        let armed = DispatchSemaphore(value: 0)
        probe.setEventHandler { armed.signal() }
        probe.resume()
        for _ in 0..<500 {
            raise(SIGWINCH)
            if armed.wait(timeout: .now() + .milliseconds(10)) == .success { break }
        }
        probe.cancel()
    }()

    /// Installs the SIGINT/SIGTERM cleanup (done on first use; the CLI calls
    /// it at start so an interrupt before the first write also exits cleanly).
    public static func installHandlers() { _ = installOnce }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
