import ArgumentParser
import Foundation
import PARVideo

extension GenerateCommand {
    /// An image model's run (ImageGeneration): --count images of one class.
    func stills(_ pipeline: ImagePipeline, _ classID: Int, _ modelPath: String) throws {
        if frames != nil || prefix != nil { throw ValidationError("--frames and --prefix are for video models; this model makes images") }
        let run = ImageGeneration(target: try render.out.target(stills: true), classID: classID, count: count ?? 1, seed: seed, grid: grid,
                                  options: render.sampling.options(pipeline.config.sampling, seed: seed))
        do { try run.preflight(pipeline) } catch let e as VideoIOError { throw ValidationError(e.description) }
        let progress = ClipProgress("generate", enabled: !quiet && !json)
        let summary: ImageRunSummary
        do { summary = try run.run(pipeline, progress: progress.report) }
        catch let e as PipelineError { throw RunError(e.description) } catch let e as SamplingError { throw RunError(e.description) }
        progress.finish()
        if json { try JSONReport.print(summary.fields(output: render.out.output, model: modelPath)) } else if !quiet { print(summary.line(output: render.out.output)) }
    }
}
