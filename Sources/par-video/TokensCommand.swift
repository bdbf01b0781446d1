import ArgumentParser
import Foundation
import PARVideo

/// `par-video tokens`: decode one token cube and write it as int32 .npy.
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Decode the token cube for one action and write it as .npy (int32, T x H x W, (t, y, x) order).")

    @Option(name: .long, help: "Model bundle: a .safetensors file or a folder.") var model: String
    @Option(name: .long, help: "Action class: an id or a name the bundle lists.") var action: String
    @Option(name: .long, help: "Tokens per step n (a GPT of the bundle trained for it; default: smallest present).") var parallel: Int?
    @Option(name: .long, help: "Seed of the sampler.") var seed: UInt64 = 0
    @OptionGroup(title: "Sampling") var sampling: SamplingFlags
    @Option(name: .long, help: "Threads.") var threads: Int = 2
    @Option(name: .shortAndLong, help: "Output .npy path.") var output: String
    @Option(name: .long, help: "Also write the guided logits every token was drawn from as .npy (float32, N x vocab, PAR sequence order).") var logits: String?
    @Flag(name: .long, help: "Print one JSON object with the run's figures.") var json = false

    /// Every output is checked before the model loads: the cube and the
    /// logits must be two different files.
    func validate() throws {
        try ThreadCount.check(threads)
        try checkInput(model, option: "--model")
        let outURL = URL(fileURLWithPath: output)
        do { try AtomicOutput.checkWritable(outURL) } catch { throw ValidationError("\(error)") }
        if let logits {
            let logitsURL = URL(fileURLWithPath: logits)
            guard !AtomicOutput.sameTarget(logitsURL, outURL) else {
                throw ValidationError("--logits \(logits) and -o \(output) name the same file; the logits would replace the cube")
            }
            do { try AtomicOutput.checkWritable(logitsURL) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        Parallel.threads = threads
        let bundle = try ModelBundle.load(model)
        let entry: GPTEntry
        do { entry = try bundle.gpt(parallel: parallel) } catch let e as WeightsError { throw ValidationError(e.description) }
        let config = entry.config
        let actionID = try Self.resolveAction(action, config: config)
        let options = sampling.options(config.sampling, seed: seed)
        do { try options.validate() } catch let e as WeightsError { throw ValidationError(e.description) }
        let outURL = URL(fileURLWithPath: output)
        let logitsURL = logits.map { URL(fileURLWithPath: $0) }

        let generator = PARGenerator(model: try GPT(entry))
        let showProgress = !json && isatty(2) != 0
        // Steps predict increasing sequence positions, so appending each step's rows gives sequence order.
        var seen: [Float] = []
        let vocab = config.vocabSize
        let hook: ((Int, Int, UnsafePointer<Float>) -> Void)? = logitsURL == nil ? nil : { _, rows, ptr in
            seen.append(contentsOf: UnsafeBufferPointer(start: ptr, count: rows * vocab))
        }
        let start = Date()
        let cube = try generator.generate(actions: [actionID], options: options, progress: { p in
            if showProgress { FileHandle.standardError.write(Data("\rstep \(p.step)/\(p.steps)".utf8)) }
        }, logitsHook: hook)[0]
        let seconds = Date().timeIntervalSince(start)
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        try AtomicOutput.write(to: outURL) { tmp in
            try AtomicOutput.writeFile(NPY.encode(cube.tokens, shape: [cube.T, cube.H, cube.W]), to: tmp.path)
        }
        if let logitsURL {
            try AtomicOutput.write(to: logitsURL) { tmp in
                try AtomicOutput.writeFile(NPY.encode(seen, shape: [seen.count / vocab, vocab]), to: tmp.path)
            }
        }

        if json {
            let obj: [String: Any] = [
                "steps": generator.steps, "tokens": cube.tokens.count, "seconds": (seconds * 1000).rounded() / 1000,
                "parallel": config.parallel, "cube": [cube.T, cube.H, cube.W], "action": actionID, "seed": seed,
                "cfg_scale": Double(options.cfgScale), "top_k": options.topK, "top_p": Double(options.topP),
                "temperature": Double(options.temperature), "output": output,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("\(output): \(cube.T)x\(cube.H)x\(cube.W) tokens, \(generator.steps) steps (n=\(config.parallel)) in \(String(format: "%.2f", seconds)) s")
        }
    }

    /// An id, or a name from the bundle's `actions` (UCF-101 names when a
    /// 101-class bundle lists none).
    static func resolveAction(_ text: String, config: GPTConfig) throws -> Int {
        let catalog = config.actions.map(ActionCatalog.init) ?? (config.numClasses == 101 ? .ucf101 : nil)
        if let catalog {
            do { return try catalog.resolve(text) } catch { throw ValidationError("\(error)") }
        }
        guard let id = Int(text), id >= 0 && id < config.numClasses else {
            throw ValidationError("action '\(text)' is outside the model's classes 0..<\(config.numClasses)")
        }
        return id
    }
}
