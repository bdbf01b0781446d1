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
              par-video batch --per-class 20 --shard $SLURM_ARRAY_TASK_ID/32 -o fvd/   (a fixed N: docs/BATCH.md)
            """
    )

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

    @Option(name: .long, help: ArgumentHelp("Clips rendered together, sharing each forward pass, 1...256 (in passes of as many as fit when their KV caches would overflow the last-level cache).", valueName: "B"))
    var batch: Int = 1

    @Option(name: .long, help: ArgumentHelp("Frames per clip; beyond the model's clip length each clip is extended from its last frames, as the main command's --frames does. (default: the model's clip length, see `par-video inspect`)", valueName: "N"))
    var frames: Int?

    @Option(name: .long, help: ArgumentHelp("Render only the K-th (0-based) of N disjoint slices of the clip list; N fixed for the whole run (docs/BATCH.md).", valueName: "K/N"))
    var shard: String?

    @OptionGroup var render: RenderOptions

    @Flag(name: .long, help: "Print one JSON summary line at the end.")
    var json = false

    @Flag(name: .long, help: "No progress and no summary (errors still go to stderr).")
    var quiet = false

    func validate() throws {
        let out = render.out
        try reportingBatchErrors { try BatchChecks.clips(perClass: perClass, count: count, labels: labels != nil) }
        if let labels {
            try checkInput(labels, option: "--labels", allow: [.file])
            guard FileManager.default.isReadableFile(atPath: labels) else { throw ValidationError("--labels \(labels): not readable") }
        }
        if let frames, !(1...100_000).contains(frames) { throw ValidationError("--frames \(frames): must be in 1...100000") }
        guard (1...256).contains(batch) else { throw ValidationError("--batch \(batch): must be in 1...256") }
        if let shard { try reportingBatchErrors { _ = try Shard(parsing: shard) } }
        if actions.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--actions: empty list") }
        if out.overwrite {
            throw ValidationError("-y/--overwrite: batch never replaces a clip; the same command resumes the run, a new run needs another -o")
        }
        if out.output == "-" { throw ValidationError("-o -: batch writes a run folder, not a stream") }
        try reportingBatchErrors { try BatchChecks.outputFolder(out.output) }
    }

    func run() throws {
        // A file-size limit (ulimit -f) must fail a write, not kill the run.
        signal(SIGXFSZ, SIG_IGN)
        let (pipeline, modelPath) = try render.renderer()
        let out = render.out
        let selection = pipeline.config.selection
        let actionIDs = try selection.parse(actions, option: "--actions")
        let fps = out.frameRate()
        let output = out.output

        let progress = BatchProgress(enabled: !quiet && !json)
        let summary = try reportingBatchErrors {
            let clips = try BatchJob.Clips.from(perClass: perClass, count: count, labels: labels) { try selection.resolve($0, option: "label") }
            // --format as a run folder holds it: mp4 unless given (-o is a folder, not a file with an extension).
            let format: BatchFormat = pipeline.makesStills && out.format == nil ? .png : BatchFormat(rawValue: (out.format ?? .mp4).rawValue) ?? .mp4
            let job = BatchJob(actions: actionIDs, clips: clips, seed: seed, format: format, batch: batch, frames: frames,
                               fps: fps, sampling: render.sampling.options(pipeline.config.sampling), encode: out.encodeOptions(fps: fps),
                               shard: try shard.map { try Shard(parsing: $0) } ?? .whole)
            let runner = try BatchRunner(pipeline: pipeline, job: job,
                                         modelIdentity: RunFolder.modelIdentity(ModelLocator.bundles(at: modelPath)), output: output)
            defer { progress.end() }
            return try runner.run(progress: progress.handle)
        }
        let files = summary.files
        if json {
            try JSONReport.print([
                "output": output, "clips": summary.clips, "rendered": summary.rendered, "skipped": summary.skipped,
                "finished": summary.finished, "shard": files.shard.description, "batch": batch, "threads": Parallel.threads,
                "elapsed_seconds": JSONReport.seconds(progress.elapsed),
                "clips_per_hour": progress.elapsed > 0 ? (Double(summary.rendered) / progress.elapsed * 3600).rounded() : 0,
                "manifest": files.manifest.path, "labels": files.labels.path,
            ].merging(summary.npz.map { ["npz": $0.path] } ?? [:]) { a, _ in a })
        } else if !quiet {
            print(String(format: "%@: %d clips rendered, %d already there, %d/%d finished; %.1f s (%.2f clips/s)",
                         output, summary.rendered, summary.skipped, summary.finished, summary.clips, progress.elapsed,
                         progress.clipsPerSecond))
        }
    }
}

/// The library's batch errors as the CLI reports them: a command to change
/// exits 2 (as a usage error), a failure while working exits 1.
func reportingBatchErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as BatchError {
        switch e.kind {
        case .usage: throw ValidationError(e.description)
        case .failure: throw RunError(e.description)
        }
    }
}
