import ArgumentParser
import Foundation
import PARVideo

/// `--model` and `--threads`: every command that opens a bundle. The bundle
/// is found one way for all of them (ModelLocator) and opened once.
struct BundleOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model bundle: a .safetensors file or a folder of them (docs/BUNDLE.md). (default: the first found of \(ModelLocator.searchOrder))",
                                            valueName: "PATH"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Compute threads, 1...1024. (default: the CPUs this process may run on, \(ThreadCount.available) here)", valueName: "N"))
    var threads: Int?

    func validate() throws {
        if let model { try checkInput(model, option: "--model") }
        try ThreadCount.check(threads)
    }

    /// The bundle's path, or a one-line run error naming where it looked.
    func path() throws -> String {
        guard let path = ModelLocator.resolve(explicit: model) else {
            throw RunError("no model available: no bundle at \(ModelLocator.describe(explicit: model)); "
                           + "give one with --model PATH (docs/BUNDLE.md). Nothing was written.")
        }
        return path
    }

    /// Sets the thread count and opens the bundle.
    func open() throws -> (bundle: ModelBundle, path: String) {
        ThreadCount.use(threads)
        let path = try path()
        do { return (try ModelBundle.load(path), path) } catch let e as WeightsError { throw e.cli }
    }

    /// The bundle's tokenizer (decode, reconstruct).
    func tokenizer() throws -> VideoTokenizer { try open().bundle.videoTokenizer() }
}

/// The bundle options and `--parallel`: the commands that run a GPT.
struct ModelOptions: ParsableArguments {
    @OptionGroup var bundle: BundleOptions

    @Option(name: .long, help: ArgumentHelp("Tokens decoded per step, a square (1, 4, 16) the model has a GPT for. (default: the model's: 4 when it has it, else its smallest)",
                                            valueName: "n"))
    var parallel: Int?

    var model: String? { bundle.model }

    func validate() throws {
        if let parallel, let problem = GPTConfig.parallelProblem(parallel) { throw ValidationError("--parallel \(parallel): \(problem)") }
    }

    /// The bundle and its GPT for --parallel (a bad --parallel exits 2).
    func open() throws -> (bundle: ModelBundle, entry: GPTEntry, path: String) {
        let (bundle, path) = try bundle.open()
        do { return (bundle, try bundle.gpt(parallel: parallel), path) } catch let e as WeightsError {
            if let parallel, bundle.gpts[parallel] == nil { throw ValidationError(e.description) }
            throw e.cli
        }
    }

    /// The pipeline (GPT and tokenizer) of the bundle, opened once.
    func pipeline() throws -> (pipeline: VideoPipeline, path: String) {
        let (bundle, _, path) = try open()
        do { return (try VideoPipeline(bundle: bundle, parallel: parallel), path) }
        catch let e as WeightsError { throw e.cli } catch let e as PipelineError { throw RunError(e.description) }
    }

    /// The bundle's image pipeline (images resized to `imageSize`) or video pipeline.
    func renderer(imageSize: FrameSize? = nil) throws -> (pipeline: ClipRenderer, path: String) {
        let (bundle, _, path) = try open()
        do { return (try Pipelines.open(bundle, parallel: parallel, imageSize: imageSize.map { ($0.width, $0.height) }), path) }
        catch let e as WeightsError { throw e.cli } catch let e as PipelineError { throw RunError(e.description) }
    }
}

extension ActionSelection {
    /// `resolve`/`parse` for an option: an unknown value exits 2 with the option's name.
    func resolve(_ text: String, option: String) throws -> Int {
        do { return try resolve(text) } catch let e as ActionError { throw ValidationError("\(option): \(e.description)") }
    }

    func parse(_ list: String, option: String) throws -> [Int] {
        do { return try parse(list) } catch let e as ActionError { throw ValidationError("\(option): \(e.description)") }
    }
}

/// The option groups of the commands that render clips (generate, batch), in their help order.
struct RenderOptions: ParsableArguments {
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Output") var out: OutputOptions
    @OptionGroup(title: "Sampling") var sampling: SamplingFlags

    /// FFmpeg's log as --verbose says, then the bundle's image or video pipeline, opened once.
    func renderer() throws -> (pipeline: ClipRenderer, path: String) {
        out.applyLog()
        return try model.renderer(imageSize: out.size)
    }
}

/// The option groups of the commands that run the bundle's tokenizer on one input (decode, reconstruct).
struct TokenizerOptions: ParsableArguments {
    @OptionGroup(title: "Model") var model: BundleOptions
    @OptionGroup(title: "Output") var out: OutputOptions
    @Option(name: .customLong("float-frames"), help: ArgumentHelp(
        "Also write the decoder's frames before 8-bit rounding as .npy (float32, F x H x W x 3, values in [0, 1], at the tokenizer's size, before --size).",
        valueName: "PATH"))
    var floatFrames: String?

    /// `input` is there and of an allowed kind, no output is it or another output,
    /// and every output can be created (an existing one only with -y).
    func check(input: String, allow: Set<InputFile.Kind> = [.file, .folder]) throws {
        try checkInput(input, option: "", allow: allow)
        try out.check(input: input)
        guard let floatFrames else { return }
        let url = URL(fileURLWithPath: floatFrames)
        guard url.pathExtension.lowercased() == "npy" else {
            throw ValidationError("--float-frames \(floatFrames): the frames are written as .npy; give a path ending in .npy")
        }
        if AtomicOutput.sameTarget(url, URL(fileURLWithPath: input)) {
            throw ValidationError("--float-frames \(floatFrames) is the input \(input); give another path")
        }
        let target = try out.target
        for other in [target.video?.url, target.frames].compactMap({ $0 }) where AtomicOutput.sameTarget(url, other) {
            throw ValidationError("--float-frames \(floatFrames) and -o \(out.output) name the same path; give two different ones")
        }
        do { try AtomicOutput.checkWritable(url, overwrite: out.overwrite) } catch { throw ValidationError("\(error)") }
    }

    /// Writes `pixels` (F x H x W x 3) to --float-frames, when it is given.
    func writeFloatFrames(_ pixels: [Float], count: Int, height: Int, width: Int) throws {
        guard let floatFrames else { return }
        try FloatFrames.write(pixels, count: count, height: height, width: width, to: URL(fileURLWithPath: floatFrames),
                              overwrite: out.overwrite)
    }

    /// The output's encoders, opened before the work; a refusal names `input`.
    func preflight(_ target: OutputTarget, width: Int, height: Int, fps: Double, options: VideoEncodeOptions, input: String) throws {
        do { try target.preflight(width: width, height: height, fps: fps, options: options) } catch let e as VideoIOError {
            throw RunError("\(input): \(e.description)")
        }
    }
}
