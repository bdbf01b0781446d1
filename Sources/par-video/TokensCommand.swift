import ArgumentParser
import Foundation
import PARVideo

/// `par-video tokens`: decode one token cube and write it as int32 .npy.
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Decode the token cube for one action and write it as .npy (int32, T x H x W, (t, y, x) order).")

    @Option(name: .long, help: ArgumentHelp("Action class: a 0-based id or a name of the model (see `par-video actions`).", valueName: "id|name"))
    var action: String
    @Option(name: .long, help: "Seed of the sampler.") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: ArgumentHelp("Output .npy path.", valueName: "OUT")) var output: String
    @Flag(name: [.customShort("y"), .long], help: "Replace existing outputs (-o, --logits); without it an existing file is an error and stays as it was.")
    var overwrite = false
    @Option(name: .long, help: ArgumentHelp("Also write the guided logits every token was drawn from as .npy (float32, N x vocab, PAR sequence order).", valueName: "PATH"))
    var logits: String?
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Sampling") var sampling: SamplingFlags
    @Flag(name: .long, help: "Print one JSON object with the run's figures.") var json = false

    /// Every output is checked before the model loads: the cube and the
    /// logits must be two different files, and new ones unless -y.
    func validate() throws {
        let outURL = URL(fileURLWithPath: output)
        if let logits, AtomicOutput.sameTarget(URL(fileURLWithPath: logits), outURL) {
            throw ValidationError("--logits \(logits) and -o \(output) name the same file; the logits would replace the cube")
        }
        for url in [outURL] + (logits.map { [URL(fileURLWithPath: $0)] } ?? []) {
            do { try AtomicOutput.checkWritable(url, overwrite: overwrite) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        let (_, entry, modelPath) = try model.open()
        let config = entry.config
        let actionID = try config.selection.resolve(action, option: "--action")
        let options = sampling.options(config.sampling, seed: seed)
        do { try options.validate() } catch let e as SamplingError { throw ValidationError(e.description) }
        let generator = PARGenerator(model: try GPT(entry))
        let progress = ClipProgress("tokens", enabled: !json)
        let t0 = now()
        let run = try TokenCubeRun(generator: generator, action: actionID, options: options, keepLogits: logits != nil) { p in
            progress.report(RenderProgress(cube: 1, cubes: 1, step: p.step, steps: p.steps, tokens: p.tokensDone, cubeTokens: config.tokensPerClip))
        }
        let elapsed = seconds(since: t0)
        progress.finish()
        try run.write(to: URL(fileURLWithPath: output), logitsTo: logits.map { URL(fileURLWithPath: $0) }, overwrite: overwrite)
        let cube = run.cube

        if json {
            try JSONReport.print([
                "output": output, "model": modelPath, "action": actionID, "seed": seed, "parallel": config.parallel,
                "steps": generator.steps, "tokens": cube.tokens.count, "cube": [cube.T, cube.H, cube.W], "threads": Parallel.threads,
                "cfg_scale": JSONReport.value(options.cfgScale), "temperature": JSONReport.value(options.temperature),
                "top_k": options.topK, "top_p": JSONReport.value(options.topP), "tokens_seconds": JSONReport.seconds(elapsed),
            ])
        } else {
            print("\(output): \(cube.T)x\(cube.H)x\(cube.W) tokens, \(generator.steps) steps (n=\(config.parallel)) in \(String(format: "%.2f", elapsed)) s")
        }
    }
}
