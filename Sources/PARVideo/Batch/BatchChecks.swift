import Foundation

/// The checks of a batch command line that need no model, before any work:
/// each refusal is one usage line.
public enum BatchChecks {
    /// Exactly one of `perClass` (K) and `count` (N), each in 1...maxClips;
    /// a label file only with a count.
    public static func clips(perClass: Int?, count: Int?, labels: Bool) throws {
        switch (perClass, count) {
        case (nil, nil): throw BatchError.usage("give --per-class K or --count N")
        case (.some, .some): throw BatchError.usage("--per-class and --count exclude each other")
        default: break
        }
        if let perClass, perClass < 1 { throw BatchError.usage("--per-class \(perClass): must be at least 1") }
        if let count, count < 1 { throw BatchError.usage("--count \(count): must be at least 1") }
        if let count { try BatchPlan.checkSize(count, what: "--count \(count)") }
        if let perClass { try BatchPlan.checkSize(perClass, what: "--per-class \(perClass)") }
        if labels, count == nil { throw BatchError.usage("--labels needs --count N") }
    }

    /// `path` is a writable folder, or can be made in a writable folder.
    public static func outputFolder(_ path: String) throws {
        let dir = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw BatchError.usage("-o \(path): exists and is not a folder") }
            guard access(dir.path, W_OK) == 0 else { throw BatchError.usage("-o \(path): folder is not writable") }
        } else {
            do { try AtomicOutput.checkWritable(dir, directory: true) } catch let e as VideoIOError {
                throw BatchError.usage(e.description)
            }
        }
    }
}

extension BatchJob.Clips {
    /// `perClass` clips per class, else `count` clips, classes cycling or from
    /// the label file at `labels` (each line's class found by `resolve`).
    public static func from(perClass: Int?, count: Int?, labels: String?, resolve: (String) throws -> Int) throws -> Self {
        if let perClass { return .perClass(perClass) }
        guard let count else { throw BatchError.usage("give --per-class K or --count N") }
        return .count(count, labels: try labels.map { try BatchPlan.readLabels(path: $0, resolve: resolve) })
    }
}
