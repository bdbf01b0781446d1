import ArgumentParser
import PARVideo

/// Checks a path the user names as input before any work (exit 2, one
/// line): it must exist and be a regular file or folder of an allowed kind.
/// The readers check again when they open it (InputFile), so a file swapped
/// for a FIFO in between still cannot block.
func checkInput(_ path: String, option: String, allow: Set<InputFile.Kind> = [.file, .folder]) throws {
    let label = option.isEmpty ? "" : "\(option) "
    let kind: InputFile.Kind
    do { kind = try InputFile.kind(of: path) } catch let e as InputFileError {
        throw ValidationError(label + (e.missing ? "\(path): no such file or folder" : e.description))
    }
    guard allow.contains(kind) else {
        throw ValidationError(label + "\(path): \(kind == .folder ? "a folder, expected a file" : "a file, expected a folder")")
    }
}
