import Foundation

/// A batch run as the command line settles it: which clips, how they are
/// sampled and how they are written.
public struct BatchJob: Sendable {
    public enum Clips: Sendable {
        /// K clips for each class, classes interleaved.
        case perClass(Int)
        /// N clips cycling over the classes, or clip i taking `labels[i]`.
        case count(Int, labels: [Int]?)
    }

    public var actions: [Int]
    public var clips: Clips
    public var seed: UInt64
    public var format: BatchFormat
    /// Clips sharing each forward pass (throughput only: bytes do not change).
    public var batch: Int
    /// Frames per clip; nil: the model's clip length.
    public var frames: Int?
    public var fps: Double
    public var sampling: SamplingOptions
    /// The encoder's settings and the output size (nil: the model's).
    public var encode: VideoEncodeOptions
    public var shard: Shard

    public init(actions: [Int], clips: Clips, seed: UInt64, format: BatchFormat = .mp4, batch: Int = 1, frames: Int? = nil,
                fps: Double, sampling: SamplingOptions, encode: VideoEncodeOptions, shard: Shard = .whole) {
        self.actions = actions; self.clips = clips; self.seed = seed; self.format = format; self.batch = batch
        self.frames = frames; self.fps = fps; self.sampling = sampling; self.encode = encode; self.shard = shard
    }
}

/// Renders a batch run into its folder: the plan is fixed at init (nothing
/// is written), `run` records the settings, skips finished clips, and for
/// each clip writes its files, appends its manifest line and keeps
/// labels.csv current. Progress goes to a callback; printing is the caller's.
public final class BatchRunner {
    public enum Event {
        case started(toRender: Int, skipped: Int)
        /// A step of the batch in flight.
        case step(RenderProgress)
        case finished(ClipSpec, actionName: String)
    }

    public struct Summary: Sendable {
        /// Clips of this shard, rendered now, found finished, finished at the end.
        public let clips: Int, rendered: Int, skipped: Int, finished: Int
        public let files: RunFiles
        /// An image run's sample batch, once every image of the shard is there.
        public let npz: URL?
    }

    public let pipeline: ClipRenderer
    public let job: BatchJob
    /// The whole run's clip list (all shards).
    public let plan: [ClipSpec]
    public let settings: RunSettings
    public let files: RunFiles
    /// -o as the user gave it, for messages.
    let output: String
    let clipFrames: Int

    /// labels.csv is rewritten at most this often after the first clip (it is rewritten whole).
    static let labelsInterval: UInt64 = 30_000_000_000

    public init(pipeline: ClipRenderer, job: BatchJob, modelIdentity: String, output: String) throws {
        guard (1...256).contains(job.batch) else { throw BatchError.usage("--batch \(job.batch): must be in 1...256") }
        switch job.clips {
        case .perClass(let k):
            let (total, overflow) = job.actions.count.multipliedReportingOverflow(by: k)
            try BatchPlan.checkSize(overflow ? Int.max : total, what: "--per-class \(k) over \(job.actions.count) classes")
            plan = BatchPlan.perClass(actions: job.actions, clipsPerClass: k, baseSeed: job.seed)
        case .count(let n, let labels):
            try BatchPlan.checkSize(n, what: "--count \(n)")
            plan = try BatchPlan.count(n, actions: job.actions, labels: labels, baseSeed: job.seed)
        }
        self.pipeline = pipeline
        self.job = job
        self.output = output
        clipFrames = job.frames ?? pipeline.clipFrames
        files = RunFiles(dir: URL(fileURLWithPath: output), shard: job.shard)
        if pipeline.makesStills, let f = job.frames { throw BatchError.usage("--frames \(f): an image model makes one image per clip") }
        guard (job.format == .png) == pipeline.makesStills else {
            throw BatchError.usage(pipeline.makesStills ? "--format \(job.format.rawValue): an image model's batch writes PNG images and a .npz sample batch"
                                   : "--format png: this model makes clips; batch writes \(BatchFormat.clipFormats)")
        }
        // What the encoders refuse is refused now, before the run folder exists.
        do {
            if pipeline.makesStills {
                _ = try StillEncoder(.png, width: pipeline.frameSize.width, height: pipeline.frameSize.height)
            } else {
                try ClipOutput.preflightEncoders(width: pipeline.frameSize.width, height: pipeline.frameSize.height, fps: job.fps,
                                             mp4: job.format != .frames, frames: job.format != .mp4, options: job.encode, path: output)
            }
        } catch let e as VideoIOError { throw BatchError.usage(e.description) }

        var planHash = FNV()
        for c in plan { planHash.add(UInt64(c.index)); planHash.add(UInt64(c.action)); planHash.add(c.seed) }
        let (width, height) = pipeline.makesStills ? pipeline.frameSize : job.encode.size ?? pipeline.frameSize
        var perClass: Int?, count: Int?
        switch job.clips {
        case .perClass(let k): perClass = k
        case .count(let n, _): count = n
        }
        let s = job.sampling
        settings = RunSettings(
            version: PARVideo.version, model: modelIdentity, actions: job.actions, perClass: perClass, count: count,
            clips: plan.count, plan: planHash.hex, seed: job.seed, parallel: pipeline.config.parallel, cfg: s.cfgScale,
            temperature: s.temperature, topK: s.topK, topP: s.topP, fps: job.fps, width: width, height: height,
            frames: clipFrames, format: job.format.rawValue, codec: "\(job.encode.codec)", crf: job.encode.crf,
            preset: job.encode.preset, shard: job.shard.description, batch: job.batch)
    }

    /// This shard's clips, in index order.
    public var mine: [ClipSpec] { plan.filter(job.shard.contains) }

    public func run(progress: @escaping (Event) -> Void = { _ in }) throws -> Summary {
        let manifest = try openFolder()
        let mine = self.mine
        let done = RunFolder.finished(manifest.entries, in: files.dir, format: job.format)
        let todo = mine.filter { done[$0.name] == nil }
        progress(.started(toRender: todo.count, skipped: mine.count - todo.count))
        var rendered = 0
        do {
            try render(todo, into: manifest, rendered: &rendered, progress: progress)
            try RunFolder.writeLabels(manifest.entries, to: files.labels)
        } catch {
            try? RunFolder.writeLabels(manifest.entries, to: files.labels)
            let kept = RunFolder.finished(manifest.entries, in: files.dir, format: job.format).count
            throw BatchError.failure("\(error) (\(kept) finished clips are kept in \(output); rerun the same command to resume)")
        }
        let finishedClips = RunFolder.finished(manifest.entries, in: files.dir, format: job.format)
        let finished = finishedClips.count
        var npz: URL?
        if pipeline.makesStills, mine.allSatisfy({ finishedClips[$0.name] != nil }) {
            npz = files.npz
            do {
                try RunFolder.writeSampleBatch(mine.map { files.dir.appendingPathComponent("\($0.name).png") }, to: files.npz,
                                               width: settings.width, height: settings.height)
            } catch { throw BatchError.failure("\(error) (the images are kept in \(output); rerun the same command to write it)") }
        }
        return Summary(clips: mine.count, rendered: rendered, skipped: mine.count - todo.count, finished: finished, files: files,
                       npz: npz)
    }

    /// Creates the folder (or checks the one there: the same run, split the
    /// same way), records the settings, removes this shard's temporaries of
    /// a killed run, and opens the manifest.
    func openFolder() throws -> Manifest {
        let dir = files.dir
        var created = false
        if mkdir(dir.path, 0o755) == 0 {
            created = true
        } else if errno != EEXIST {  // EEXIST: there already, or made by another shard starting at the same time
            throw BatchError.failure("cannot create folder \(output): \(String(cString: strerror(errno)))")
        }
        try RunFolder.checkSplit(dir, shard: job.shard, name: output)
        // Every run description in the folder (this shard's, the others', a merge's) must be this run.
        for other in RunFiles.all(in: dir) {
            let diff = settings.differences(from: try RunSettings.read(other.run))
            guard diff.isEmpty else {
                throw BatchError.usage("\(output) holds a different run (\(diff.joined(separator: "; "))); "
                                       + "rerun with its settings to resume, or use another -o")
            }
        }
        if !FileManager.default.fileExists(atPath: files.run.path) {
            do { try settings.write(files.run) } catch {
                if created { rmdir(dir.path) }
                throw BatchError.failure("\(error)")
            }
        }
        let owned = Set(mine.map(\.name) + [files.run, files.manifest, files.labels, files.npz].map(\.lastPathComponent))
        _ = RunFolder.sweep(dir, owned: owned)
        return try Manifest(path: files.manifest.path)
    }

    private func render(_ todo: [ClipSpec], into manifest: Manifest, rendered: inout Int,
                        progress: @escaping (Event) -> Void) throws {
        let dir = files.dir
        var timings = RenderTimings()
        var lastLabels: UInt64?
        for start in stride(from: 0, to: todo.count, by: job.batch) {
            let group = Array(todo[start..<min(start + job.batch, todo.count)])
            let t0 = DispatchTime.now().uptimeNanoseconds
            // At the clip length this is the ordinary render; beyond it, extensions follow.
            let clips = try pipeline.renderFrames(actions: group.map(\.action), seeds: group.map(\.seed), options: job.sampling,
                                                  fps: job.fps, frames: clipFrames, timings: &timings,
                                                  progress: { progress(.step($0)) })
            let perClip = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 / Double(group.count)
            for (spec, clip) in zip(group, clips) {
                let paths = RunFolder.paths(of: spec.name, format: job.format)
                let mp4 = job.format == .frames ? nil : dir.appendingPathComponent("\(spec.name).mp4")
                let frames = job.format == .mp4 ? nil : dir.appendingPathComponent(spec.name)
                let t1 = DispatchTime.now().uptimeNanoseconds
                if job.format == .png {
                    try StillImage.write(clip, to: dir.appendingPathComponent("\(spec.name).png"), format: .png, overwrite: true)
                } else {
                    try ClipOutput.write(clip, mp4: mp4, frames: frames, options: job.encode)
                }
                let seconds = perClip + Double(DispatchTime.now().uptimeNanoseconds - t1) * 1e-9
                let name = pipeline.actionName(spec.action)
                let (width, height) = (settings.width, settings.height)
                let s = job.sampling
                let entry = ManifestEntry(
                    clip: spec.name, index: spec.index, paths: paths, action: spec.action, actionName: name,
                    seed: spec.seed, parallel: pipeline.config.parallel, steps: pipeline.steps,
                    seconds: (seconds * 1000).rounded() / 1000, frames: clip.count, width: width, height: height,
                    fps: Int(job.fps.rounded()), cfg: s.cfgScale, temperature: s.temperature, topK: s.topK,
                    topP: s.topP, model: settings.model, version: PARVideo.version)
                do { try manifest.append(entry) } catch {
                    // Not in the manifest, so not finished: leave no clip that looks it.
                    for p in paths { try? FileManager.default.removeItem(at: dir.appendingPathComponent(p)) }
                    throw error
                }
                rendered += 1
                // labels.csv from the first finished clip on (a run killed early has one), then every half minute.
                let now = DispatchTime.now().uptimeNanoseconds
                if lastLabels.map({ now - $0 > Self.labelsInterval }) ?? true {
                    try RunFolder.writeLabels(manifest.entries, to: files.labels)
                    lastLabels = now
                }
                progress(.finished(spec, actionName: name))
            }
        }
    }
}
