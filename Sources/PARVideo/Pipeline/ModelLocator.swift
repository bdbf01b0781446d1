import Foundation

/// Where every command looks for a model bundle, in this order: --model,
/// else $PAR_VIDEO_MODEL, else the installed model (`par-video-model/` next
/// to the executable, or `../share/par-video/model/` beside its bin folder,
/// where `make install` puts it), else the repository's `models/builtin/` in
/// a folder above the executable (a build inside the checkout), else ./models.
public enum ModelLocator {
    /// The order after --model in one line, for --help.
    public static let searchOrder = "$PAR_VIDEO_MODEL, else the installed model (par-video-model/ next to the binary or ../share/par-video/model), else the repository's models/builtin, else ./models"

    public static var candidates: [String] {
        if let env = ProcessInfo.processInfo.environment["PAR_VIDEO_MODEL"], !env.isEmpty { return [env] }
        var list: [String] = []
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var dir = exe.deletingLastPathComponent()
            list.append(dir.appendingPathComponent("par-video-model").path)
            list.append(dir.deletingLastPathComponent().appendingPathComponent("share/par-video/model").path)
            while dir.path != "/" {
                list.append(dir.appendingPathComponent("models/builtin").path)
                dir.deleteLastPathComponent()
            }
        }
        list.append("models")
        return list
    }

    public static func describe(explicit: String?) -> String {
        explicit ?? (candidates.count == 1 ? candidates[0] : "$PAR_VIDEO_MODEL, par-video-model/ next to the executable, ../share/par-video/model, models/builtin or ./models")
    }

    /// The first bundle path that holds a .safetensors file.
    public static func resolve(explicit: String?) -> String? {
        for path in explicit.map({ [$0] }) ?? candidates where !bundles(at: path).isEmpty { return path }
        return nil
    }

    /// The .safetensors files of the bundle that `resolve` finds.
    public static func bundles(explicit: String?) -> [URL] {
        guard let path = resolve(explicit: explicit) else { return [] }
        return bundles(at: path)
    }

    /// The file itself, or every *.safetensors directly inside the folder.
    public static func bundles(at path: String) -> [URL] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return [] }
        let url = URL(fileURLWithPath: path)
        guard isDir.boolValue else { return [url] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") }.sorted().map { url.appendingPathComponent($0) }
    }
}
