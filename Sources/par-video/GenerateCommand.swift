import ArgumentParser
import Foundation
import PARVideo

/// `par-video generate` (the default subcommand): one clip of one action.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate one clip of an action class, or images of an image model's class (the default subcommand).",
        discussion: """
            Examples:
              par-video --action 12 --frames 17 -o out.mp4
              par-video --action 12 -o preview.gif
              par-video --action 12 -o - | ffplay -
              par-video --action PlayingGuitar --format both --size 256 -o clips/guitar.mp4
              par-video --action 12 --frames 40 -o long.mp4
              par-video --action 12 --prefix real.mp4 --frames 16 -o continued.mp4
              par-video --model imagenet/ --class 207 -o dog.png
              par-video --model imagenet/ --class "golden retriever" --count 16 --grid --size 256 -o dogs.jpg
            """
    )

    @Option(name: [.long, .customLong("class")], help: ArgumentHelp("Action (or image) class: a 0-based id or a name of the model, case-insensitive (see `par-video actions`).",
                                                                 valueName: "id|name"))
    var action: String

    @Option(name: .long, help: ArgumentHelp("Image models: images to make, image k from seed + k; more than one go to a folder or, with --grid, one image.", valueName: "K"))
    var count: Int?

    @Flag(name: .long, help: "Image models: the --count images as one contact sheet.")
    var grid = false

    @Option(name: .long, help: ArgumentHelp("Frames to generate, at least 1; beyond the model's clip length the clip is extended in time, each cube continuing from the last latent frames. (default: the model's clip length, see `par-video inspect`)",
                                            valueName: "N"))
    var frames: Int?

    @Option(name: .long, help: ArgumentHelp("Continue a real clip: its last frames (resized to the model's size) are the context; the output is this clip followed by --frames generated frames.",
                                            valueName: "PATH"))
    var prefix: String?

    @Option(name: .long, help: "Random seed; the same seed, model and settings give the same clip.")
    var seed: UInt64 = 0

    @OptionGroup var render: RenderOptions

    @Flag(name: .long, help: "Print one JSON object: steps (all cubes, and per cube), seconds for tokens, decode and encode, settings, output path.")
    var json = false

    @Flag(name: .long, help: "No progress and no summary line (errors still go to stderr).")
    var quiet = false

    func validate() throws {
        if action.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--action: empty") }
        if let frames, !(1...100_000).contains(frames) {
            throw ValidationError("--frames \(frames): must be at least 1 (and at most 100000)")
        }
        if let prefix {
            try checkInput(prefix, option: "--prefix")
            guard FileManager.default.isReadableFile(atPath: prefix) else {
                throw ValidationError("--prefix \(prefix): not readable")
            }
        }
        if let count, !(1...1024).contains(count) { throw ValidationError("--count \(count): must be in 1...1024") }
        try render.out.check(input: prefix, option: "--prefix", stills: nil)
    }

    /// The spelling of the class option the user typed (its last occurrence, as the parser takes), for errors.
    static func classOption(_ arguments: [String]) -> String {
        let typed = arguments.last { a in ["--action", "--class"].contains { a == $0 || a.hasPrefix($0 + "=") } }
        return typed?.hasPrefix("--class") == true ? "--class" : "--action"
    }

    func run() throws {
        let (loaded, modelPath) = try render.renderer()
        let out = render.out
        // Against the loaded model's own classes.
        let actionID = try loaded.config.selection.resolve(action, option: Self.classOption(CommandLine.arguments))
        if let images = loaded as? ImagePipeline { return try stills(images, actionID, modelPath) }
        guard count == nil, !grid else { throw ValidationError("--count and --grid are for image models; this model makes clips") }
        let pipeline = loaded as! VideoPipeline
        var prefixClip: VideoFrames?
        if let prefix {
            do { prefixClip = try pipeline.readPrefix(prefix) } catch let e as PipelineError { throw ValidationError("--prefix \(e.description)") }
        }
        let fps = out.frameRate()
        let options = render.sampling.options(pipeline.config.sampling, seed: seed)
        let progress = ClipProgress("generate", enabled: !quiet && !json)
        let r: ClipReport
        do {
            r = try pipeline.writeClip(action: actionID, seed: seed, frames: frames, prefix: prefixClip, options: options, fps: fps,
                                       to: try out.target, encode: out.encodeOptions(fps: fps), progress: progress.report)
        } catch let e as PipelineError { throw RunError(e.description) } catch let e as SamplingError { throw RunError(e.description) }
        progress.finish()
        let (w, h) = out.outputSize(pipeline.frameSize)
        if json {
            try JSONReport.print([
                "output": out.output, "model": modelPath, "action": actionID, "action_name": pipeline.actionName(actionID),
                "seed": seed, "parallel": pipeline.config.parallel, "steps": r.steps, "cubes": r.cubes,
                "cube_steps": Array(repeating: r.cubeSteps, count: r.cubes), "frames": r.frames, "prefix_frames": r.prefixFrames,
                "width": w, "height": h, "fps": fps, "threads": Parallel.threads,
                "cfg_scale": JSONReport.value(options.cfgScale), "temperature": JSONReport.value(options.temperature),
                "top_k": options.topK, "top_p": JSONReport.value(options.topP),
                "tokens_seconds": JSONReport.seconds(r.timings.tokens), "decode_seconds": JSONReport.seconds(r.timings.decode),
                "context_seconds": JSONReport.seconds(r.timings.context), "encode_seconds": JSONReport.seconds(r.encodeSeconds),
            ], toStderr: out.toStdout)
        } else if !quiet {
            let cubeText = r.cubes > 1 ? " over \(r.cubes) cubes" : ""
            out.report(String(format: "%@: %@ (%d), %d frames %dx%d; %d steps%@ (n=%d) %.2f s, decode %.2f s, encode %.2f s",
                         out.output, pipeline.actionName(actionID), actionID, r.frames, w, h, r.steps, cubeText,
                         pipeline.config.parallel, r.timings.tokens, r.timings.decode, r.encodeSeconds))
        }
    }
}
