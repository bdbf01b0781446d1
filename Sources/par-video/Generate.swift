import ArgumentParser
import Foundation
import PARVideo

/// `par-video generate` (the default subcommand): one clip of one action.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate one clip of an action class (the default subcommand).",
        discussion: """
            Examples:
              par-video --action 12 --frames 17 -o out.mp4
              par-video --action PlayingGuitar --format both --size 256 -o clips/guitar.mp4
              par-video --action 12 --frames 40 -o long.mp4
              par-video --action 12 --prefix real.mp4 --frames 16 -o continued.mp4
            """
    )

    @Option(name: .long, help: ArgumentHelp("Action class: a 0-based id or a name, case-insensitive (see `par-video actions`).",
                                            valueName: "id|name"))
    var action: String

    @Option(name: .long, help: ArgumentHelp("Frames to generate, at least 1; beyond the model's clip length the clip is extended in time, each step continuing from its last latent frames. (default: the model's clip length, 17 for UCF-101)",
                                            valueName: "N"))
    var frames: Int?

    @Option(name: .long, help: ArgumentHelp("Continue a real clip: its last frames (resized to the model's size) are the context; the output is this clip followed by --frames generated frames.",
                                            valueName: "PATH"))
    var prefix: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp(
        "Output: the MP4 file (--format mp4), the frame folder (frames), or an .mp4 path whose name without .mp4 is the frame folder (both).",
        valueName: "OUT"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("Output size WxH or N (N x N), even, bicubic scaling. (default: the model's size, 128x128 for UCF-101)",
                                            valueName: "WxH|N"))
    var size: FrameSize?

    @Option(name: .long, help: "Frames per second of the output.")
    var fps: Double = VideoFrames.defaultFPS

    @Option(name: .long, help: ArgumentHelp("mp4: H.264 file; frames: folder of PNG frames 000000.png, ... (StyleGAN-V/FVD layout); both.",
                                            valueName: "mp4|frames|both"))
    var format: OutputFormat = .mp4

    @Option(name: .long, help: "Random seed; the same seed, model and settings give the same clip.")
    var seed: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp("Model bundle: a .safetensors file or a folder of them (docs/BUNDLE.md). (default: $PAR_VIDEO_MODEL, else ./models)",
                                            valueName: "PATH"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Tokens decoded per step: 1, 4 or 16 (a square). (default: the model's)", valueName: "n"))
    var parallel: Int?

    @OptionGroup(title: "Sampling") var sampling: SamplingFlags

    @Option(name: .long, help: ArgumentHelp("Compute threads. (default: all cores)", valueName: "N"))
    var threads: Int?

    @OptionGroup(title: "Encoding") var encoding: EncodingFlags

    @Flag(name: .long, help: "Print one JSON object: steps, seconds for tokens, decode and encode, and the output path.")
    var json = false

    @Flag(name: .long, help: "No progress and no summary line (errors still go to stderr).")
    var quiet = false

    @Flag(name: .long, help: "Show FFmpeg's own log on stderr (by default only par-video's one-line errors).")
    var verbose = false

    func validate() throws {
        if let model { try checkInput(model, option: "--model") }
        // Checked against the model's names later; without a model, UCF-101's.
        _ = try resolvedAction(catalog: ModelLocator.catalog(explicit: model) ?? .ucf101, classes: 101)
        if let frames, !(1...100_000).contains(frames) {
            throw ValidationError("--frames \(frames): must be at least 1 (and at most 100000)")
        }
        try size?.validate("--size")
        guard fps.isFinite, fps >= VideoWriter.minimumFPS, fps <= 240 else {
            throw ValidationError("--fps \(fps): must be in [\(VideoWriter.minimumFPS), 240]")
        }
        if let problem = VideoWriter.frameRateProblem(fps) { throw ValidationError("--fps: \(problem)") }
        if let parallel {
            let s = Int(Double(parallel).squareRoot().rounded())
            guard parallel >= 1, s * s == parallel else {
                throw ValidationError("--parallel \(parallel): must be a square (1, 4, 16, ...)")
            }
        }
        try ThreadCount.check(threads)
        try encoding.check(format: format)
        if let prefix {
            try checkInput(prefix, option: "--prefix")
            guard FileManager.default.isReadableFile(atPath: prefix) else {
                throw ValidationError("--prefix \(prefix): not readable")
            }
        }
        if let model { try checkInput(model, option: "--model") }
        let paths = try OutputPaths(output: output, format: format)
        try paths.checkWritable()
        if let prefix { try paths.refuse(input: prefix, option: "--prefix") }
    }

    /// The action id: a name or id of `catalog`, or, for a model without
    /// class names, an id below `classes`.
    func resolvedAction(catalog: ActionCatalog?, classes: Int) throws -> Int {
        if let catalog {
            do { return try catalog.resolve(action) } catch let e as ActionError {
                throw ValidationError("--action: \(e.description)")
            }
        }
        guard let id = Int(action), (0..<classes).contains(id) else {
            throw ValidationError("--action \(action): the model has no class names; give an id in 0..<\(classes)")
        }
        return id
    }

    var encodeOptions: VideoEncodeOptions {
        encoding.options(fps: fps, size: size)
    }

    func run() throws {
        FFmpegLog.verbose = verbose
        if let threads { Parallel.threads = threads }
        guard let modelPath = ModelLocator.resolve(explicit: model) else {
            throw RunError("no model available: no bundle at \(ModelLocator.describe(explicit: model)); "
                           + "give one with --model PATH (docs/BUNDLE.md). No video was written.")
        }
        let bundle: ModelBundle
        do { bundle = try ModelBundle.load(modelPath) } catch let e as WeightsError { throw RunError(e.description) }
        if let parallel, bundle.gpts[parallel] == nil {
            throw ValidationError("--parallel \(parallel): \(modelPath) has no model trained for it (available: \(bundle.parallels.map(String.init).joined(separator: ", ")))")
        }
        let pipeline: VideoPipeline
        do { pipeline = try VideoPipeline(bundle: bundle, parallel: parallel) } catch let e as WeightsError { throw RunError(e.description) }
        let actionID = try resolvedAction(catalog: pipeline.actions, classes: pipeline.config.numClasses)
        let generated = frames ?? pipeline.clipFrames
        var prefixClip: VideoFrames?
        if let prefix {
            let (w, h) = pipeline.frameSize
            do { prefixClip = try VideoReader.read(URL(fileURLWithPath: prefix), size: (w, h)) } catch let e as VideoIOError {
                throw ValidationError("--prefix \(prefix): not a readable video (\(e.description))")
            }
            guard prefixClip!.count >= pipeline.contextFrames else {
                throw ValidationError("--prefix \(prefix): clip too short: \(prefixClip!.count) frames, this model continues from the last \(pipeline.contextFrames)")
            }
        }
        let count = (prefixClip?.count ?? 0) + generated
        let options = sampling.options(pipeline.config.sampling, seed: seed)
        let paths = try OutputPaths(output: output, format: format)
        do {
            try ClipOutput.preflight(width: pipeline.frameSize.width, height: pipeline.frameSize.height, fps: fps,
                                     mp4: paths.mp4, frames: paths.frames, options: encodeOptions)
        } catch let e as VideoIOError { throw RunError("\(e.description). No video was written.") }

        let progress = StepReporter(enabled: !quiet && !json && isatty(2) != 0, label: "tokens")
        var timings = RenderTimings()
        let clip: RenderedClip
        do {
            clip = try pipeline.render(actions: [actionID], seeds: [seed], options: options, fps: fps, frames: generated,
                                       prefixes: prefixClip.map { [$0] }, timings: &timings, progress: progress.report)[0]
        } catch let e as WeightsError { throw RunError(e.description) }
        progress.finish()
        let t0 = DispatchTime.now().uptimeNanoseconds
        try ClipOutput.write(clip.frames.frames(0..<count), mp4: paths.mp4, frames: paths.frames, options: encodeOptions)
        let encodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let (w, h) = size.map { ($0.width, $0.height) } ?? pipeline.frameSize
        if json {
            let obj: [String: Any] = [
                "output": output, "action": actionID, "action_name": pipeline.actionName(actionID), "seed": seed,
                "parallel": pipeline.config.parallel, "steps": pipeline.generator.steps, "frames": count,
                "width": w, "height": h, "fps": fps,
                "cfg_scale": Double(options.cfgScale), "temperature": Double(options.temperature),
                "top_k": options.topK, "top_p": Double("\(options.topP)") ?? 0,
                "seconds_tokens": rounded(timings.tokens), "seconds_decode": rounded(timings.decode),
                "seconds_context": rounded(timings.context), "prefix_frames": prefixClip?.count ?? 0,
                "seconds_encode": rounded(encodeSeconds), "model": modelPath,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else if !quiet {
            print(String(format: "%@: %@ (%d), %d frames %dx%d; %d steps (n=%d) %.2f s, decode %.2f s, encode %.2f s",
                         output, pipeline.actionName(actionID), actionID, count, w, h, pipeline.generator.steps,
                         pipeline.config.parallel, timings.tokens, timings.decode, encodeSeconds))
        }
    }
}

private func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

/// Step progress on a terminal: one line rewritten in place.
final class StepReporter {
    let enabled: Bool
    let label: String
    init(enabled: Bool, label: String) { self.enabled = enabled; self.label = label }

    func report(_ p: StepProgress) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\(label): step \(p.step)/\(p.steps)".utf8))
    }

    func finish() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Where `generate` looks for a model bundle: --model, else $PAR_VIDEO_MODEL,
/// else the built-in model: `par-video-model/` next to the executable (a
/// copied binary), `../share/par-video/model/` beside its bin folder (`make
/// install`), or `models/builtin/` in a folder above it (a build inside the
/// repository), else ./models.
enum ModelLocator {
    static var candidates: [String] {
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

    static func describe(explicit: String?) -> String {
        explicit ?? (candidates.count == 1 ? candidates[0] : "$PAR_VIDEO_MODEL, par-video-model/ next to the executable, ../share/par-video/model, models/builtin or ./models")
    }

    /// The first bundle path that holds a .safetensors file.
    static func resolve(explicit: String?) -> String? {
        for path in explicit.map({ [$0] }) ?? candidates where !bundles(at: path).isEmpty { return path }
        return nil
    }

    /// The class names of the bundle that `resolve` finds, if its GPT loads.
    static func catalog(explicit: String?) -> ActionCatalog? {
        guard let path = resolve(explicit: explicit), let bundle = try? ModelBundle.load(path),
              let config = try? bundle.gpt().config else { return nil }
        if let names = config.actions { return ActionCatalog(names: names) }
        return config.numClasses == 101 ? .ucf101 : nil
    }

    /// The .safetensors files of the bundle: the file itself, or every
    /// *.safetensors directly inside the folder.
    static func bundles(explicit: String?) -> [URL] {
        guard let path = resolve(explicit: explicit) else { return [] }
        return bundles(at: path)
    }

    static func bundles(at path: String) -> [URL] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return [] }
        let url = URL(fileURLWithPath: path)
        guard isDir.boolValue else { return [url] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") }.sorted().map { url.appendingPathComponent($0) }
    }
}
