import ArgumentParser
import Foundation
import PARVideo

extension GenerateCommand {
    /// An image model's run: --count images of one class to one file, a grid or a folder.
    func stills(_ pipeline: ImagePipeline, _ classID: Int, _ modelPath: String) throws {
        if frames != nil || prefix != nil { throw ValidationError("--frames and --prefix are for video models; this model makes images") }
        let target = try out.target(stills: true), count = count ?? 1
        let options = sampling.options(pipeline.config.sampling, seed: seed)
        let (w, h) = grid ? ContactSheet.size(count: count, width: pipeline.frameSize.width, height: pipeline.frameSize.height) : pipeline.frameSize
        do {
            try target.checkStills(count: count, grid: grid)
            try target.preflight(width: w, height: h, fps: 1)
        } catch let e as VideoIOError { throw ValidationError(e.description) }
        let progress = ProgressLine("generate", enabled: !quiet && !json)
        var timings = RenderTimings()
        let images: VideoFrames
        do {
            images = try pipeline.images(classID: classID, count: count, seed: seed, options: options, grid: grid,
                                         timings: &timings, progress: progress.report)
        } catch let e as PipelineError { throw RunError(e.description) } catch let e as SamplingError { throw RunError(e.description) }
        progress.finish()
        let t0 = now()
        try target.write(images)
        let name = pipeline.actionName(classID), steps = pipeline.generator.steps
        if json {
            try JSONReport.print([
                "output": out.output, "model": modelPath, "class": classID, "class_name": name, "seed": seed, "count": count,
                "grid": grid, "parallel": pipeline.config.parallel, "steps": steps, "width": w, "height": h, "threads": Parallel.threads,
                "cfg_scale": JSONReport.value(options.cfgScale), "temperature": JSONReport.value(options.temperature),
                "top_k": options.topK, "top_p": JSONReport.value(options.topP),
                "tokens_seconds": JSONReport.seconds(timings.tokens), "decode_seconds": JSONReport.seconds(timings.decode),
                "encode_seconds": JSONReport.seconds(seconds(since: t0)),
            ])
        } else if !quiet {
            print(String(format: "%@: %@ (%d), %d image%@ %dx%d; %d steps (n=%d) %.2f s, decode %.2f s",
                         out.output, name, classID, count, count == 1 ? "" : "s", w, h, steps, pipeline.config.parallel,
                         timings.tokens, timings.decode))
        }
    }
}
