import Foundation

/// One `generate` run of an image model: `count` images of one class to one
/// file, one contact sheet, or a folder of PNG images.
public struct ImageGeneration {
    public let target: OutputTarget
    public let classID: Int, count: Int, seed: UInt64, grid: Bool
    public let options: SamplingOptions

    public init(target: OutputTarget, classID: Int, count: Int, seed: UInt64, grid: Bool, options: SamplingOptions) {
        self.target = target; self.classID = classID; self.count = count; self.seed = seed; self.grid = grid; self.options = options
    }

    /// Width and height of what is written.
    public func size(_ p: ImagePipeline) -> (width: Int, height: Int) {
        grid ? ContactSheet.size(count: count, width: p.frameSize.width, height: p.frameSize.height) : p.frameSize
    }

    /// Before any rendering: `-o` against --count and --grid, the outputs
    /// can be created (an existing one only with overwrite), the encoder
    /// takes the size.
    public func preflight(_ p: ImagePipeline) throws {
        try target.checkStills(count: count, grid: grid)
        let (w, h) = size(p)
        try target.preflight(width: w, height: h, fps: 1)
    }

    public func run(_ p: ImagePipeline, progress: ((RenderProgress) -> Void)? = nil) throws -> ImageRunSummary {
        var timings = RenderTimings()
        let images = try p.images(classID: classID, count: count, seed: seed, options: options, grid: grid,
                                  timings: &timings, progress: progress)
        let t0 = DispatchTime.now().uptimeNanoseconds
        try target.write(images)
        let encode = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let (w, h) = size(p)
        return ImageRunSummary(run: self, className: p.actionName(classID), parallel: p.config.parallel, steps: p.steps,
                               width: w, height: h, timings: timings, encodeSeconds: encode)
    }
}

/// What an image run did, as `generate` reports it.
public struct ImageRunSummary {
    public let run: ImageGeneration
    public let className: String
    public let parallel: Int, steps: Int, width: Int, height: Int
    public let timings: RenderTimings
    public let encodeSeconds: Double

    /// The `--json` fields (settings as given, seconds to milliseconds).
    public func fields(output: String, model: String) -> [String: Any] {
        func value(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
        func ms(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }
        let o = run.options
        return ["output": output, "model": model, "class": run.classID, "class_name": className, "seed": run.seed,
                "count": run.count, "grid": run.grid, "parallel": parallel, "steps": steps, "width": width, "height": height,
                "threads": Parallel.threads, "cfg_scale": value(o.cfgScale), "temperature": value(o.temperature), "top_k": o.topK,
                "top_p": value(o.topP), "tokens_seconds": ms(timings.tokens), "decode_seconds": ms(timings.decode),
                "encode_seconds": ms(encodeSeconds)]
    }

    public func line(output: String) -> String {
        String(format: "%@: %@ (%d), %d image%@ %dx%d; %d steps (n=%d) %.2f s, decode %.2f s", output, className, run.classID,
               run.count, run.count == 1 ? "" : "s", width, height, steps, parallel, timings.tokens, timings.decode)
    }
}
