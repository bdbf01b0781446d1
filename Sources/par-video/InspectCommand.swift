import ArgumentParser
import Foundation
import PARVideo

/// `par-video inspect M`: the bundle's configs and parameter counts.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Print a model bundle's config and parameter count.")

    @Argument(help: "Model bundle: a .safetensors file or a folder.") var model: String

    func run() throws {
        let bundle = try ModelBundle.load(model)
        for n in bundle.parallels {
            let entry = try bundle.gpt(parallel: n)
            let c = entry.config
            _ = try GPTWeights(config: c, file: entry.file)  // checks every tensor
            let params = entry.file.tensors.values.filter { $0.name != "freqs_cis" }.reduce(0) { $0 + $1.count }
            let dtypes = Set(entry.file.tensors.values.map(\.dtype.rawValue)).sorted().joined(separator: "/")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print("gpt \(entry.file.path)")
            print("  parameters: \(params) (\(String(format: "%.1f", Double(params) / 1e6))M, \(dtypes))")
            print("  layers \(c.nLayer), dim \(c.dim), heads \(c.nHead)/\(c.kvHeads) kv, head_dim \(c.headDim), ffn hidden \(c.ffnHidden)")
            print("  vocab \(c.vocabSize), classes \(c.numClasses), cube \(c.cube.map(String.init).joined(separator: "x")), parallel \(c.parallel), rope \(c.rope.rawValue), steps \(c.steps)")
            print("  config: " + String(decoding: try encoder.encode(c), as: UTF8.self))
        }
        if let tok = bundle.tokenizer {
            // Builds it as decode and generate do: every tensor checked against the config.
            do { _ = try VideoTokenizer(file: tok.file) } catch let e as TokenizerError { throw RunError(e.description) }
            let params = tok.file.tensors.values.reduce(0) { $0 + $1.count }
            print("tokenizer \(tok.file.path)")
            print("  parameters: \(params) (\(String(format: "%.1f", Double(params) / 1e6))M)")
            print("  config: " + String(decoding: tok.configJSON, as: UTF8.self))
        }
    }
}
