import ArgumentParser
import Foundation
import PARVideo

/// `par-video inspect [M]`: the bundle's defaults, configs and parameter counts (BundleSummary).
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
        let summary: BundleSummary
        do { summary = try BundleSummary(options.open().bundle) } catch let e as TokenizerError { throw RunError(e.description) }
        let r = try JSONSerialization.jsonObject(with: summary.json()) as! [String: Any]
        if json { return try JSONReport.print(r) }
        func text(_ v: Any?) -> String { v.map { JSONReport.text($0, fragment: true) } ?? "?" }
        print("model \(summary.model)")
        if let d = r["defaults"] as? [String: Any] {
            let size = d["width"] == nil ? "" : "--size \(text(d["width"]))x\(text(d["height"])), "
            // An image model's --count (one image; more to a folder or a --grid sheet), a video model's --frames and --fps.
            let shape = summary.kind == "image" ? "--count \(text(d["count"])), " : (d["frames"] == nil ? "" : "--frames \(text(d["frames"])), ")
                + (d["fps"] == nil ? "" : "--fps \(text(d["fps"])), ")
            print("  defaults: --parallel \(text(d["parallel"])), \(size)\(shape)--cfg \(text(d["cfg_scale"])), "
                  + "--temperature \(text(d["temperature"])), --top-k \(text(d["top_k"])), --top-p \(text(d["top_p"]))")
        }
        print("  kind: \(summary.kind == "image" ? "images (--class, --count, --grid; PNG, JPEG, WebP)" : "video clips (--action, --frames, --fps)")")
        if let classes = summary.classes { print("  classes: \(classes) (`par-video actions` lists them)") }
        for (name, nets) in [("gpt", r["gpts"] as? [[String: Any]] ?? []), ("tokenizer", (r["tokenizer"] as? [String: Any]).map { [$0] } ?? []),
                           ("vq2d tokenizer", (r["vq2d"] as? [String: Any]).map { [$0] } ?? [])] {
            for g in nets {
                let params = g["parameters"] as! Int
                let steps = g["steps"].map { ", \(text($0)) steps at n=\(text(g["parallel"]))" } ?? ""
                print("\(name) \(text(g["file"]).replacingOccurrences(of: "\"", with: ""))")
                print("  parameters: \(params) (\(String(format: "%.1f", Double(params) / 1e6))M, \(g["dtypes"]!))\(steps)")
                print("  config: " + JSONReport.text(g["config"]!))
            }
        }
    }
}
