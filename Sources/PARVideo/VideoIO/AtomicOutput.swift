import Dispatch
import Foundation

/// Atomic output: a file or folder is built under a hidden temporary name in
/// its target folder and renamed into place only when complete, so a failed
/// or interrupted run never leaves a partial MP4 or frame folder behind.
///
///     try AtomicOutput.write(to: url) { tmp in try writeSomething(at: tmp) }
///
/// Signals that end the process (INT, TERM, HUP, PIPE, QUIT, USR1, USR2) all
/// take one shutdown path: stop the writers, remove every temporary path
/// still in flight, exit with 128 + signal.
public enum AtomicOutput {
    /// `.NAME.partial-PID-N`: what the temporary name adds to NAME, at most
    /// (a 7-digit pid, the kernel's largest, and a 9-digit counter).
    public static let temporaryOverhead = ".".utf8.count + ".partial-".utf8.count + 7 + 1 + 9
    /// The longest output name: the temporary name must fit NAME_MAX too.
    public static let maxNameBytes = Int(NAME_MAX) - temporaryOverhead

    /// Runs `body` with a temporary URL next to `url` and renames the result
    /// over `url` when `body` returns. The temporary path is removed when
    /// `body` throws or the process is interrupted. `directory`: the
    /// temporary path is created as an empty folder for `body` to fill.
    /// `body` wraps each step that creates something in `step`. Without
    /// `overwrite` an existing `url` is refused, also when it appears while
    /// `body` runs: the rename then never replaces it.
    public static func write<R>(to url: URL, directory: Bool = false, overwrite: Bool = true,
                                _ body: (URL) throws -> R) throws -> R {
        installHandlers()
        try checkWritable(url, directory: directory, overwrite: overwrite)
        removeStaleTemporaries(in: url.deletingLastPathComponent())
        let tmp = temporaryURL(for: url)
        try step {
            // Registered before it exists: a signal in between finds nothing to remove, never an orphan.
            register(tmp)
            if directory, mkdir(tmp.path, 0o755) != 0 {
                let reason = String(cString: strerror(errno))
                unregister(tmp)
                throw VideoIOError("cannot create folder \(tmp.path): \(reason)")
            }
        }
        do {
            let result = try body(tmp)
            try step {
                try commit(tmp, to: url, directory: directory, overwrite: overwrite)
                unregister(tmp)
            }
            return result
        } catch {
            step {
                try? FileManager.default.removeItem(at: tmp)
                unregister(tmp)
            }
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

    /// Removes the `.NAME.partial-PID-N` files and folders in `folder` whose process no longer
    /// runs: debris of a SIGKILLed run, which no handler could clean. Entries of a live process
    /// (another run writing beside this one) and links are left alone. Each folder is swept once
    /// per process, so a batch writing thousands of clips lists its folder once.
    public static func removeStaleTemporaries(in folder: URL) {
        let path = folder.standardizedFileURL.path
        gate.lock()
        let first = swept.insert(path).inserted
        gate.unlock()
        guard first, let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for name in names {
            guard name.hasPrefix("."), let mark = name.range(of: ".partial-", options: .backwards) else { continue }
            // Exactly PID-N after the mark, both decimal: nothing else of the user's is touched.
            let tail = name[mark.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
            guard tail.count == 2, tail.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  tail[0].count <= 7, let pid = pid_t(tail[0]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }       // alive, or not ours to ask about
            let entry = folder.appendingPathComponent(name).path
            var st = stat()
            guard lstat(entry, &st) == 0 else { continue }
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFREG || kind == S_IFDIR else { continue }
            step { try? FileManager.default.removeItem(atPath: entry) }
        }
    }

    /// Writes `data` as a new file at `path` (inside a temporary of `write`),
    /// under the writers' lock; errors name the file and the system's reason.
    public static func writeFile(_ data: Data, to path: String) throws {
        try step {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw VideoIOError("cannot write \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var offset = 0
            while offset < data.count {
                let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, data.count - offset) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw VideoIOError("cannot write \(path): \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
    }

    private static func commit(_ tmp: URL, to url: URL, directory: Bool, overwrite: Bool) throws {
        // Checked again here: the target may have become a device or a link since the start.
        try checkReplaceable(url, directory: directory, overwrite: overwrite)
        if !overwrite { return try commitNew(tmp, to: url, directory: directory) }
        // rename(2) replaces a file atomically; a non-empty folder cannot be
        // replaced, so an old folder is moved aside first and removed after.
        var aside: URL?
        if directory, FileManager.default.fileExists(atPath: url.path) {
            let old = temporaryURL(for: url)
            register(old)
            guard rename(url.path, old.path) == 0 else {
                unregister(old)
                throw VideoIOError("cannot replace \(url.path): \(String(cString: strerror(errno)))")
            }
            aside = old
        }
        guard rename(tmp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let old = aside {
                // Put the old folder back; it is no longer a temporary to remove.
                if rename(old.path, url.path) == 0 { unregister(old) }
            }
            throw VideoIOError("cannot rename \(tmp.path) to \(url.path): \(reason)")
        }
        if let old = aside {
            try? FileManager.default.removeItem(at: old)
            unregister(old)
        }
    }

    /// Puts `tmp` at `url` only if nothing is there: a file by link(2),
    /// which fails on an existing name; a folder by claiming the name with
    /// mkdir(2) and renaming over that empty folder (rename fails on a
    /// folder that has meanwhile been filled).
    private static func commitNew(_ tmp: URL, to url: URL, directory: Bool) throws {
        if directory {
            guard mkdir(url.path, 0o755) == 0 else {
                if errno == EEXIST { throw exists(url, folder: true) }
                throw VideoIOError("cannot create \(url.path): \(String(cString: strerror(errno)))")
            }
            guard rename(tmp.path, url.path) == 0 else {
                let reason = String(cString: strerror(errno))
                rmdir(url.path)
                throw VideoIOError("cannot rename \(tmp.path) to \(url.path): \(reason)")
            }
            return
        }
        if link(tmp.path, url.path) == 0 {
            unlink(tmp.path)
            return
        }
        if errno == EEXIST { throw exists(url, folder: false) }
        // A file system without hard links: checked just above, renamed now.
        guard errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EXDEV else {
            throw VideoIOError("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        guard rename(tmp.path, url.path) == 0 else {
            throw VideoIOError("cannot rename \(tmp.path) to \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: one shutdown path for every terminating signal

    /// Held by a writer for each step that creates, fills or renames a path
    /// (one frame, one temporary, one commit), and by the shutdown path, which
    /// never gives it back: once shutdown holds it no writer can add a file to
    /// a folder being removed or rename a half-built output into place.
    private static let gate = NSRecursiveLock()
    nonisolated(unsafe) private static var pending = Set<String>()
    nonisolated(unsafe) private static var swept = Set<String>()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let counter = Counter()

    /// The signals that end a run cleanly (128 + signal as the exit code).
    public static let terminatingSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2]

    /// Runs one writing step under the writers' lock.
    @discardableResult
    public static func step<R>(_ body: () throws -> R) rethrows -> R {
        gate.lock()
        defer { gate.unlock() }
        return try body()
    }

    private static func register(_ url: URL) {
        gate.lock(); pending.insert(url.path); gate.unlock()
    }

    private static func unregister(_ url: URL) {
        gate.lock(); pending.remove(url.path); gate.unlock()
    }

    /// Paths currently being written (for tests and diagnostics).
    public static var inFlight: [String] {
        gate.lock(); defer { gate.unlock() }
        return pending.sorted()
    }

    /// Removes every temporary path still in flight. Safe to call from an
    /// error path of the program before it exits.
    public static func removeInFlight() {
        gate.lock()
        defer { gate.unlock() }
        for p in pending { try? FileManager.default.removeItem(atPath: p) }
        pending.removeAll()
    }

    /// The shutdown path: waits for the writer's current step to end (a step
    /// stuck in a system call for 10 s is not waited for), keeps the lock so
    /// no further step starts, removes the temporaries and exits.
    static func shutdown(signal sig: Int32) -> Never {
        _ = gate.lock(before: Date().addingTimeInterval(10))
        for p in pending { try? FileManager.default.removeItem(atPath: p) }
        _exit(128 + sig)
    }

    private static var signalSet: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in terminatingSignals { sigaddset(&set, sig) }
        return set
    }

    /// Blocks the terminating signals until `installHandlers` has armed the
    /// shutdown path, which then delivers any that arrived. Called first
    /// thing by the CLI: the mask survives the OpenBLAS re-exec, so no signal
    /// between start and arming is lost or met by the default action or the
    /// Swift runtime's SIGQUIT backtrace (which let the run carry on).
    public static func holdSignals() {
        var set = signalSet
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    private static let installOnce: Void = {
        // Dispatch delivers the signal on its own thread, so shutdown runs
        // with ordinary (non async-signal-safe) calls while the main thread
        // may be busy computing or writing. The signals stay blocked until
        // every source is armed (an ignored signal would be lost instead).
        holdSignals()
        // A file-size limit (ulimit -f) fails the write with EFBIG, whose error
        // path removes the temporary, instead of killing the process mid-file.
        signal(SIGXFSZ, SIG_IGN)
        let queue = DispatchQueue(label: "par-video.signals")
        for sig in terminatingSignals {
            // A signal ignored from the start stays ignored: `nohup` (HUP) and
            // a shell's background job (INT, QUIT) ask for exactly that.
            var old = sigaction()
            if sigaction(sig, nil, &old) == 0, unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 1 { continue }
            let src = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            src.setEventHandler { shutdown(signal: sig) }
            src.resume()
            sources.append(src)
        }
        // libdispatch arms a signal source asynchronously (its manager thread
        // installs the real handler). A probe source on SIGWINCH (ignored by
        // default, so early or late probes are harmless) is armed after the
        // ones above; once it fires, they are armed and may be unblocked.
        let probe = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: queue)
        let armed = DispatchSemaphore(value: 0)
        probe.setEventHandler { armed.signal() }
        probe.resume()
        for _ in 0..<500 {
            raise(SIGWINCH)
            if armed.wait(timeout: .now() + .milliseconds(10)) == .success { break }
        }
        probe.cancel()
        var set = signalSet
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }()

    /// Installs the shutdown path (done on first use; the CLI calls it at
    /// start so a signal before the first write also exits cleanly).
    public static func installHandlers() { _ = installOnce }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
