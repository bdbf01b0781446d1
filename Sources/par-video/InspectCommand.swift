import ArgumentParser
import Foundation
import PARVideo

/// `par-video inspect [M]`: the bundle's configs, parameter counts and the
/// defaults that `generate` and `batch` take from it.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Print a model bundle's defaults, configs and parameter counts.")

    @Argument(help: ArgumentHelp("Model bundle, the same as --model.", valueName: "PATH")) var path: String?
    @OptionGroup(title: "Model") var model: BundleOptions
    @Flag(name: .long, help: "Print one JSON object (defaults, the class names once, each GPT and the tokenizer).") var json = false

    func validate() throws {
        if let path { try checkInput(path, option: "") }
        if path != nil, model.model != nil { throw ValidationError("give the bundle as PATH or as --model, not both") }
    }

    func run() throws {
        var options = model
        if let path { options.model = path }
        let (bundle, modelPath) = try options.open()
        let tokenizer: VideoTokenizer?
        // Built as decode and generate build them: every tensor checked against its config.
        do { tokenizer = try bundle.tokenizer.map { try VideoTokenizer(file: $0.file) } } catch let e as TokenizerError { throw RunError(e.description) }
        var gpts: [[String: Any]] = []
        for n in bundle.parallels {
            let entry = try bundle.gpt(parallel: n)
            _ = try GPTWeights(config: entry.config, file: entry.file)
            var c = entry.config
            c.actions = nil  // listed once, below
            let params = entry.file.tensors.values.filter { $0.name != "freqs_cis" }.reduce(0) { $0 + $1.count }
            let dtypes = Set(entry.file.tensors.values.map(\.dtype.rawValue)).sorted().joined(separator: "/")
            gpts.append(["file": entry.file.path, "parallel": n, "steps": c.steps, "parameters": params, "dtypes": dtypes,
                         "config": try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(c))])
        }
        var report: [String: Any] = ["model": modelPath, "gpts": gpts]
        if let first = bundle.parallels.first.flatMap({ bundle.gpts[$0]?.config }) {
            report["classes"] = first.numClasses
            report["actions"] = first.selection.catalog?.names ?? []
        }
        if let entry = try? bundle.gpt() {
            let s = entry.config.sampling
            var defaults: [String: Any] = ["parallel": entry.config.parallel, "fps": VideoFrames.defaultFPS,
                                           "cfg_scale": JSONReport.value(s.cfgScale), "temperature": JSONReport.value(s.temperature),
                                           "top_k": s.topK, "top_p": JSONReport.value(s.topP)]
            if let tokenizer {
                let c = entry.config.cube
                let shape = tokenizer.config.outputShape(t: c[0], h: c[1], w: c[2])
                defaults.merge(["frames": shape.frames, "width": shape.width, "height": shape.height]) { $1 }
            }
            report["defaults"] = defaults
        }
        if let tok = bundle.tokenizer {
            let params = tok.file.tensors.values.reduce(0) { $0 + $1.count }
            report["tokenizer"] = ["file": tok.file.path, "parameters": params, "config": try JSONSerialization.jsonObject(with: tok.configJSON)]
        }
        if json { return try JSONReport.print(report) }
        printText(report)
    }

    /// The same facts as lines for a reader.
    func printText(_ r: [String: Any]) {
        print("model \(r["model"]!)")
        if let d = r["defaults"] as? [String: Any] {
            func v(_ key: String) -> String { Self.line(d[key]!, fragment: true) }
            let size = d["width"] == nil ? "" : "--size \(v("width"))x\(v("height")), --frames \(v("frames")), "
            print("  defaults: --parallel \(v("parallel")), \(size)--fps \(v("fps")), --cfg \(v("cfg_scale")), "
                  + "--temperature \(v("temperature")), --top-k \(v("top_k")), --top-p \(v("top_p"))")
        }
        if let classes = r["classes"] { print("  classes: \(classes) (`par-video actions` lists them)") }
        for g in r["gpts"] as! [[String: Any]] {
            let params = g["parameters"] as! Int
            print("gpt \(g["file"]!)")
            print("  parameters: \(params) (\(String(format: "%.1f", Double(params) / 1e6))M, \(g["dtypes"]!)), \(g["steps"]!) steps at n=\(g["parallel"]!)")
            print("  config: " + Self.line(g["config"]!))
        }
        if let t = r["tokenizer"] as? [String: Any] {
            let params = t["parameters"] as! Int
            print("tokenizer \(t["file"]!)")
            print("  parameters: \(params) (\(String(format: "%.1f", Double(params) / 1e6))M)")
            print("  config: " + Self.line(t["config"]!))
        }
    }

    /// JSON text of `object` (a number alone with `fragment`: 8, not 8.0).
    static func line(_ object: Any, fragment: Bool = false) -> String {
        let options: JSONSerialization.WritingOptions = fragment ? [.fragmentsAllowed] : [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: options)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
