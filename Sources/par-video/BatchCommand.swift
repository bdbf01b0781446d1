import ArgumentParser
import Foundation
import PARVideo

/// `par-video batch`: many clips into one folder, resumable and shardable.
struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Render many clips (for FVD evaluation) into a folder: resumable, shardable over a cluster.",
        discussion: """
            Writes DIR/<clip>.mp4 and/or DIR/<clip>/ frames, DIR/manifest.jsonl (one line per finished clip), \
            DIR/labels.csv (clip,label) and DIR/run.json (the settings). Rerunning the same command resumes; \
            a different command into the same DIR is refused. With --shard K/N the bookkeeping files are \
            named *.shard-K-of-N.* so that all shards may share DIR; `par-video merge` joins them.
            Examples:
              par-video batch --actions all --per-class 100 --seed 0 -o fvd/
              par-video batch --count 2048 --labels real_labels.csv --format frames --batch 8 -o fvd/
              par-video batch --per-class 20 --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT -o fvd/
            """
    )

    @Option(name: .long, help: ArgumentHelp("Model bundle: a .safetensors file or a folder of them (docs/BUNDLE.md). (default: the first found of \(ModelLocator.searchOrder))",
                                            valueName: "PATH"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Classes: all, or a comma list of ids, names and ranges, e.g. 0-4,10,PlayingGuitar.", valueName: "all|LIST"))
    var actions: String = "all"

    @Option(name: .customLong("per-class"), help: ArgumentHelp("Clips per class, classes interleaved.", valueName: "K"))
    var perClass: Int?

    @Option(name: .long, help: ArgumentHelp("Clips in all, cycling over the classes (or taken from --labels).", valueName: "N"))
    var count: Int?

    @Option(name: .long, help: ArgumentHelp("With --count: clip i gets the class on line i (one id or name per line, or a CSV whose last column is the label, e.g. labels.csv of another run).",
                                            valueName: "FILE"))
    var labels: String?

    @Option(name: .long, help: "Base seed; clip i draws from a seed derived from it and i (independent of --batch and --shard).")
    var seed: UInt64 = 0

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Run folder (created if missing; its parent must exist).", valueName: "DIR"))
    var output: String

    @Option(name: .long, help: ArgumentHelp("mp4: DIR/<clip>.mp4; frames: DIR/<clip>/000000.png ...; both.", valueName: "mp4|frames|both"))
    var format: OutputFormat = .mp4

    @Option(name: .long, help: ArgumentHelp("Clips sharing each forward pass, 1...256.", valueName: "B"))
    var batch: Int = 1

    @Option(name: .long, help: ArgumentHelp("Tokens decoded per step: 1, 4 or 16. (default: the model's)", valueName: "n"))
    var parallel: Int?

    @Option(name: .long, help: ArgumentHelp("Frames per clip; beyond the model's clip length each clip is extended from its last frames, as the main command's --frames does. (default: the model's clip length, see `par-video inspect`)", valueName: "N"))
    var frames: Int?

    @Option(name: .long, help: "Frames per second of the output.")
    var fps: Double = VideoFrames.defaultFPS

    @Option(name: .long, help: ArgumentHelp("Output size WxH or N, even, bicubic scaling. (default: the model's)", valueName: "WxH|N"))
    var size: FrameSize?

    @Option(name: .long, help: ArgumentHelp("Render only the K-th (0-based) of N disjoint slices of the clip list.", valueName: "K/N"))
    var shard: String?

    @OptionGroup(title: "Sampling") var sampling: SamplingFlags

    @Option(name: .long, help: ArgumentHelp("Compute threads, 1...1024. (default: the CPUs this process may run on)", valueName: "N"))
    var threads: Int?

    @OptionGroup(title: "Encoding") var encoding: EncodingFlags

    @Flag(name: .long, help: "Print one JSON summary line at the end.")
    var json = false

    @Flag(name: .long, help: "No progress and no summary (errors still go to stderr).")
    var quiet = false

    @Flag(name: .long, help: "Show FFmpeg's own log on stderr (by default only par-video's one-line errors).")
    var verbose = false

    func validate() throws {
        switch (perClass, count) {
        case (nil, nil): throw ValidationError("give --per-class K or --count N")
        case (.some, .some): throw ValidationError("--per-class and --count exclude each other")
        default: break
        }
        if let perClass, perClass < 1 { throw ValidationError("--per-class \(perClass): must be at least 1") }
        if let count, count < 1 { throw ValidationError("--count \(count): must be at least 1") }
        do {
            if let count { try BatchPlan.checkSize(count, what: "--count \(count)") }
            if let perClass { try BatchPlan.checkSize(perClass, what: "--per-class \(perClass)") }
        } catch let e as BatchPlanError { throw ValidationError(e.description) }
        if labels != nil, count == nil { throw ValidationError("--labels needs --count N") }
        if let labels {
            try checkInput(labels, option: "--labels", allow: [.file])
            guard FileManager.default.isReadableFile(atPath: labels) else { throw ValidationError("--labels \(labels): not readable") }
        }
        if let frames, !(1...100_000).contains(frames) { throw ValidationError("--frames \(frames): must be in 1...100000") }
        guard (1...256).contains(batch) else { throw ValidationError("--batch \(batch): must be in 1...256") }
        if let shard { do { _ = try Shard(parsing: shard) } catch let e as BatchPlanError { throw ValidationError(e.description) } }
        if actions.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--actions: empty list") }
        try size?.validate("--size")
        guard fps.isFinite, fps >= VideoWriter.minimumFPS, fps <= 240 else {
            throw ValidationError("--fps \(fps): must be in [\(VideoWriter.minimumFPS), 240]")
        }
        if let problem = VideoWriter.frameRateProblem(fps) { throw ValidationError("--fps: \(problem)") }
        if let parallel {
            let s = Int(Double(parallel).squareRoot().rounded())
            guard parallel >= 1, s * s == parallel else { throw ValidationError("--parallel \(parallel): must be a square (1, 4, 16, ...)") }
        }
        try ThreadCount.check(threads)
        try encoding.check(format: format)
        if let model { try checkInput(model, option: "--model") }
        try checkOutputFolder()
    }

    /// DIR must be a writable folder, or creatable in a writable folder.
    func checkOutputFolder() throws {
        let dir = URL(fileURLWithPath: output)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ValidationError("-o \(output): exists and is not a folder") }
            guard access(dir.path, W_OK) == 0 else { throw ValidationError("-o \(output): folder is not writable") }
        } else {
            do { try AtomicOutput.checkWritable(dir, directory: true) } catch let e as VideoIOError {
                throw ValidationError(e.description)
            }
        }
    }

    /// Action ids from --actions: all of the model's, or the listed ids, names and ranges in order.
    func resolvedActions(catalog: ActionCatalog?, classes: Int) throws -> [Int] {
        try ActionSelection(catalog: catalog, classes: classes).parse(actions, option: "--actions")
    }

    func resolve(_ text: String, catalog: ActionCatalog?, classes: Int, option: String) throws -> Int {
        try ActionSelection(catalog: catalog, classes: classes).resolve(text, option: option)
    }

    func run() throws {
        FFmpegLog.verbose = verbose
        if let threads { Parallel.threads = threads }
        // A file-size limit (ulimit -f) must fail a write, not kill the run.
        signal(SIGXFSZ, SIG_IGN)
        guard let modelPath = ModelLocator.resolve(explicit: model) else {
            throw RunError("no model available: no bundle at \(ModelLocator.describe(explicit: model)); give one with --model PATH (docs/BUNDLE.md)")
        }
        let bundle: ModelBundle
        do { bundle = try ModelBundle.load(modelPath) } catch let e as WeightsError { throw RunError(e.description) }
        if let parallel, bundle.gpts[parallel] == nil {
            throw ValidationError("--parallel \(parallel): \(modelPath) has no model trained for it (available: \(bundle.parallels.map(String.init).joined(separator: ", ")))")
        }
        let pipeline: VideoPipeline
        do { pipeline = try VideoPipeline(bundle: bundle, parallel: parallel) } catch let e as WeightsError { throw RunError(e.description) }
        let classes = pipeline.config.numClasses
        let actionIDs = try resolvedActions(catalog: pipeline.actions, classes: classes)

        // The whole run's clip list, then this shard's slice of it.
        let plan: [ClipSpec]
        do {
            if let perClass {
                let (total, overflow) = actionIDs.count.multipliedReportingOverflow(by: perClass)
                try BatchPlan.checkSize(overflow ? Int.max : total, what: "--per-class \(perClass) over \(actionIDs.count) classes")
                plan = BatchPlan.perClass(actions: actionIDs, clipsPerClass: perClass, baseSeed: seed)
            } else {
                let labelIDs = try labels.map { path in
                    try BatchPlan.readLabels(path: path) { try resolve($0, catalog: pipeline.actions, classes: classes, option: "label") }
                }
                plan = try BatchPlan.count(count!, actions: actionIDs, labels: labelIDs, baseSeed: seed)
            }
        } catch let e as BatchPlanError { throw ValidationError(e.description) }
        let shardValue = try shard.map { try Shard(parsing: $0) } ?? .whole
        let mine = plan.filter(shardValue.contains)

        let options = sampling.options(pipeline.config.sampling)
        let (width, height) = size.map { ($0.width, $0.height) } ?? pipeline.frameSize
        let encode = encoding.options(fps: fps, size: size)
        let clipFrames = frames ?? pipeline.clipFrames
        // What the encoders refuse is refused now, before the run folder exists.
        do {
            try ClipOutput.preflightEncoders(width: pipeline.frameSize.width, height: pipeline.frameSize.height, fps: fps,
                                             mp4: format != .frames, frames: format != .mp4, options: encode, path: output)
        } catch let e as VideoIOError { throw ValidationError(e.description) }

        var planHash = FNV()
        for c in plan { planHash.add(UInt64(c.index)); planHash.add(UInt64(c.action)); planHash.add(c.seed) }
        let settings = RunSettings(
            version: PARVideo.version, model: RunFolder.modelIdentity(ModelLocator.bundles(at: modelPath)),
            actions: actionIDs, perClass: perClass, count: count, clips: plan.count, plan: planHash.hex, seed: seed,
            parallel: pipeline.config.parallel, cfg: options.cfgScale, temperature: options.temperature,
            topK: options.topK, topP: options.topP, fps: fps, width: width, height: height, frames: clipFrames,
            format: format.rawValue, codec: "\(encoding.codec)", crf: encoding.crf, preset: encoding.preset, shard: shardValue.description, batch: batch)

        // The run folder: settings first (refuse a different run), then the manifest.
        let dir = URL(fileURLWithPath: output)
        let created = !FileManager.default.fileExists(atPath: dir.path)
        if created {
            guard mkdir(dir.path, 0o755) == 0 else {
                throw RunError("cannot create folder \(output): \(String(cString: strerror(errno)))")
            }
        }
        let files = RunFiles(dir: dir, shard: shardValue)
        if FileManager.default.fileExists(atPath: files.run.path) {
            let old = try RunSettings.read(files.run)
            let diff = settings.differences(from: old)
            guard diff.isEmpty else {
                throw ValidationError("\(output) holds a different run (\(diff.joined(separator: "; "))); "
                                      + "rerun with its settings to resume, or use another -o")
            }
        } else {
            do { try settings.write(files.run) } catch {
                if created { rmdir(dir.path) }
                throw RunError("\(error)")
            }
        }
        let owned = Set(mine.map(\.name) + [files.run, files.manifest, files.labels].map(\.lastPathComponent))
        _ = RunFolder.sweep(dir, owned: owned)
        let manifest: Manifest
        do { manifest = try Manifest(path: files.manifest.path) } catch let e as ManifestError { throw RunError(e.description) }

        let done = RunFolder.finished(manifest.entries, in: dir, format: format)
        let todo = mine.filter { done[$0.name] == nil }
        let progress = BatchProgress(total: todo.count, skipped: mine.count - todo.count, enabled: !quiet && !json)
        progress.started()
        let modelID = settings.model
        var lastLabels = DispatchTime.now().uptimeNanoseconds
        var rendered = 0
        var timings = RenderTimings()
        do {
            for start in stride(from: 0, to: todo.count, by: batch) {
                let group = Array(todo[start..<min(start + batch, todo.count)])
                let t0 = DispatchTime.now().uptimeNanoseconds
                // At the clip length this is the ordinary render; beyond it, extensions follow.
                let clips = try pipeline.render(actions: group.map(\.action), seeds: group.map(\.seed), options: options,
                                                fps: fps, frames: clipFrames, timings: &timings, progress: progress.step)
                let perClip = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 / Double(group.count)
                for (spec, clip) in zip(group, clips) {
                    let paths = RunFolder.paths(of: spec.name, format: format)
                    let mp4 = format == .frames ? nil : dir.appendingPathComponent("\(spec.name).mp4")
                    let frames = format == .mp4 ? nil : dir.appendingPathComponent(spec.name)
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    try ClipOutput.write(clip.frames, mp4: mp4, frames: frames, options: encode)
                    let seconds = perClip + Double(DispatchTime.now().uptimeNanoseconds - t1) * 1e-9
                    let name = pipeline.actionName(spec.action)
                    let entry = ManifestEntry(
                        clip: spec.name, index: spec.index, paths: paths, action: spec.action, actionName: name,
                        seed: spec.seed, parallel: pipeline.config.parallel, steps: pipeline.generator.steps,
                        seconds: (seconds * 1000).rounded() / 1000, frames: clip.frames.count, width: width, height: height,
                        fps: Int(fps.rounded()), cfg: options.cfgScale, temperature: options.temperature, topK: options.topK,
                        topP: options.topP, model: modelID, version: PARVideo.version)
                    do { try manifest.append(entry) } catch {
                        // Not in the manifest, so not finished: leave no clip that looks it.
                        for p in paths { try? FileManager.default.removeItem(at: dir.appendingPathComponent(p)) }
                        throw error
                    }
                    rendered += 1
                    progress.finished(clip: spec.name, label: name)
                }
                // labels.csv follows the manifest every half minute, so a long run has a usable one.
                if DispatchTime.now().uptimeNanoseconds - lastLabels > 30_000_000_000 {
                    try RunFolder.writeLabels(manifest.entries, to: files.labels)
                    lastLabels = DispatchTime.now().uptimeNanoseconds
                }
            }
            try RunFolder.writeLabels(manifest.entries, to: files.labels)
        } catch {
            progress.end()
            try? RunFolder.writeLabels(manifest.entries, to: files.labels)
            let kept = RunFolder.finished(manifest.entries, in: dir, format: format).count
            throw RunError("\(error) (\(kept) finished clips are kept in \(output); rerun the same command to resume)")
        }
        progress.end()

        let finished = RunFolder.finished(manifest.entries, in: dir, format: format).count
        if json {
            let obj: [String: Any] = [
                "output": output, "clips": mine.count, "rendered": rendered, "skipped": mine.count - todo.count,
                "finished": finished, "shard": shardValue.description, "batch": batch,
                "seconds": (progress.elapsed * 1000).rounded() / 1000,
                "clips_per_hour": progress.elapsed > 0 ? (Double(rendered) / progress.elapsed * 3600).rounded() : 0,
                "manifest": files.manifest.path, "labels": files.labels.path,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else if !quiet {
            print(String(format: "%@: %d clips rendered, %d already there, %d/%d finished; %.1f s (%.2f clips/s)",
                         output, rendered, mine.count - todo.count, finished, mine.count, progress.elapsed,
                         progress.clipsPerSecond))
        }
    }
}
