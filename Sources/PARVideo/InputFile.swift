import Foundation

/// Why an input path cannot be read: one line naming the path.
public struct InputFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// True when nothing exists at the path (callers word that case their own way).
    public let missing: Bool
    public init(_ description: String, missing: Bool = false) {
        self.description = description
        self.missing = missing
    }
}

/// The one way every command opens what the user names as input (models,
/// files inside a model folder, cubes, videos, frames, label files, run
/// folders). Only regular files and folders are accepted: opening a FIFO
/// blocks until a writer appears, and a device or socket is no input at all.
public enum InputFile {
    public enum Kind: Sendable { case file, folder }

    /// What `path` is (symbolic links followed), or an error for anything
    /// that is neither a regular file nor a folder.
    public static func kind(of path: String) throws -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let missing = errno == ENOENT
            throw InputFileError("\(path): \(missing ? "no such file or folder" : String(cString: strerror(errno)))", missing: missing)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .folder
        default: throw InputFileError("\(path): \(describe(mode: st.st_mode)), not a regular file or folder")
        }
    }

    /// Opens a regular file for reading without ever blocking: O_NONBLOCK
    /// makes open(2) return at once on a FIFO, and the type is checked on the
    /// opened descriptor (no window for a swap between check and open).
    /// The caller closes the descriptor.
    public static func open(_ path: String) throws -> Int32 {
        try openChecked(path, flags: O_RDONLY)
    }

    /// `open` with other flags (O_RDWR | O_CREAT | O_APPEND for a manifest):
    /// still refuses anything but a regular file.
    public static func openChecked(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        let fd = Glibc.open(path, flags | O_NONBLOCK | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let missing = errno == ENOENT
            throw InputFileError("\(path): cannot open (\(missing ? "no such file" : String(cString: strerror(errno))))", missing: missing)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw InputFileError("\(path): cannot stat (\(reason))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw InputFileError("\(path): \(describe(mode: st.st_mode)), not a regular file")
        }
        // Regular files never block; clear the flag so reads behave as usual.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// The whole content of a regular file of at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws -> Data {
        let fd = try open(path)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InputFileError("\(path): cannot stat") }
        let size = Int(st.st_size)
        guard size <= limit else {
            throw InputFileError("\(path): \(size) bytes, more than the \(limit) this input may have")
        }
        var data = Data(count: size)
        var offset = 0
        while offset < size {
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + offset, size - offset) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw InputFileError("\(path): read failed (\(n < 0 ? String(cString: strerror(errno)) : "file shrank while read"))")
            }
            offset += n
        }
        return data
    }

    /// "a FIFO (named pipe)", "a socket", ... for a file mode.
    public static func describe(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }
}
