import Foundation

/// What an output may be checked for before any work: the name fits, the
/// folder is there and writable, and what is already at the path may be
/// replaced.
extension AtomicOutput {
    /// Checks that `url` can be created: its folder exists, is a folder and is
    /// writable, its name (and the temporary name) fits the file system, and
    /// `url` itself is absent or the same kind of thing: a regular file, or a
    /// folder when `directory`. A device, FIFO, socket or symbolic link is
    /// refused: the output would replace it. Without `overwrite` anything
    /// already at `url` is refused, as ffmpeg does without -y.
    public static func checkWritable(_ url: URL, directory: Bool = false, overwrite: Bool = true) throws {
        let name = url.lastPathComponent
        guard !name.isEmpty, name != ".", name != "..", name != "/" else {
            throw VideoIOError("cannot write \(url.path): not a file or folder name")
        }
        guard name.utf8.count <= maxNameBytes else {
            throw VideoIOError("cannot write \(url.path): the name is \(name.utf8.count) bytes, at most \(maxNameBytes) "
                               + "(its temporary name while written adds up to \(temporaryOverhead), and names stop at \(NAME_MAX))")
        }
        guard url.path.utf8.count + temporaryOverhead < Int(PATH_MAX) else {
            throw VideoIOError("cannot write \(url.path): the path is longer than the \(Int(PATH_MAX) - temporaryOverhead - 1) bytes allowed")
        }
        let parent = url.deletingLastPathComponent()
        var st = stat()
        guard stat(parent.path, &st) == 0 else {
            throw VideoIOError("cannot write \(url.path): folder \(parent.path) does not exist")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw VideoIOError("cannot write \(url.path): \(parent.path) is not a folder")
        }
        guard access(parent.path, W_OK) == 0 else {
            throw VideoIOError("cannot write \(url.path): folder \(parent.path) is not writable")
        }
        try checkReplaceable(url, directory: directory, overwrite: overwrite)
    }

    /// `url` is absent, or (with `overwrite`) a regular file (a folder when
    /// `directory`) that an output may replace.
    static func checkReplaceable(_ url: URL, directory: Bool, overwrite: Bool) throws {
        var st = stat()
        guard lstat(url.path, &st) == 0 else { return }
        let type = st.st_mode & S_IFMT
        switch type {
        case S_IFREG where !directory, S_IFDIR where directory:
            guard overwrite else { throw exists(url, folder: directory) }
            return
        case S_IFREG, S_IFDIR:
            throw VideoIOError("cannot write \(url.path): it exists and is \(type == S_IFDIR ? "a folder" : "a file")")
        case S_IFLNK:
            throw VideoIOError("cannot write \(url.path): it is a symbolic link, which the output would replace; give the path it points to")
        default:
            throw VideoIOError("cannot write \(url.path): it is \(InputFile.describe(mode: st.st_mode)), not a regular "
                               + "\(directory ? "folder" : "file"); par-video never replaces one")
        }
    }

    /// The refusal for an existing output without overwrite.
    static func exists(_ url: URL, folder: Bool) -> VideoIOError {
        VideoIOError("\(url.path) exists (\(folder ? "a folder" : "a file")); -y (--overwrite) replaces it, or give another -o")
    }

    /// True when `a` and `b` name the same output: the same folder (symbolic
    /// links and `.`/`..` resolved) and name, or one existing file (hard links).
    public static func sameTarget(_ a: URL, _ b: URL) -> Bool {
        func canonical(_ u: URL) -> String {
            let parent = u.deletingLastPathComponent().path
            guard let real = realpath(parent, nil) else { return u.standardizedFileURL.path }
            defer { free(real) }
            return String(cString: real) + "/" + u.lastPathComponent
        }
        if canonical(a) == canonical(b) { return true }
        var sa = stat(), sb = stat()
        return stat(a.path, &sa) == 0 && stat(b.path, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
