import Foundation

/// What a batch run renders with: a video pipeline (clips of frames) or an
/// image pipeline (one frame each, written as PNG with a .npz sample batch).
public protocol ClipRenderer: AnyObject {
    var config: GPTConfig { get }
    /// Width and height of what `renderFrames` returns.
    var frameSize: (width: Int, height: Int) { get }
    var clipFrames: Int { get }
    var steps: Int { get }
    /// True for an image model.
    var makesStills: Bool { get }
    func actionName(_ id: Int) -> String
    /// One clip (or image) per action; item b draws from `seeds[b]` alone.
    func renderFrames(actions: [Int], seeds: [UInt64], options: SamplingOptions, fps: Double, frames: Int,
                      timings: inout RenderTimings, progress: ((RenderProgress) -> Void)?) throws -> [VideoFrames]
}

extension VideoPipeline: ClipRenderer {
    public var steps: Int { generator.steps }
    public var makesStills: Bool { false }

    public func renderFrames(actions: [Int], seeds: [UInt64], options: SamplingOptions, fps: Double, frames: Int,
                             timings: inout RenderTimings, progress: ((RenderProgress) -> Void)?) throws -> [VideoFrames] {
        try render(actions: actions, seeds: seeds, options: options, fps: fps, frames: frames, timings: &timings,
                   progress: progress).map(\.frames)
    }
}

extension ImagePipeline: ClipRenderer {
    public var frameSize: (width: Int, height: Int) { outputSize ?? imageSize }
    public var clipFrames: Int { 1 }
    public var steps: Int { generator.steps }
    public var makesStills: Bool { true }

    public func actionName(_ id: Int) -> String { config.selection.catalog?.names[id] ?? "class\(id)" }

    public func renderFrames(actions: [Int], seeds: [UInt64], options: SamplingOptions, fps: Double, frames: Int,
                             timings: inout RenderTimings, progress: ((RenderProgress) -> Void)?) throws -> [VideoFrames] {
        let steps = generator.steps, tokens = config.tokensPerClip
        let report = progress.map { p in { (s: StepProgress) in
            p(RenderProgress(cube: 1, cubes: 1, step: s.step, steps: steps, tokens: s.tokensDone, cubeTokens: tokens)) } }
        return try render(classes: actions, seeds: seeds, options: options, timings: &timings, progress: report).map(\.image)
    }
}

/// The pipeline a bundle makes: images when it holds a vq2d tokenizer, clips otherwise.
public enum Pipelines {
    public static func open(_ bundle: ModelBundle, parallel: Int? = nil, imageSize: (width: Int, height: Int)? = nil) throws -> ClipRenderer {
        if bundle.vq != nil { return try ImagePipeline(bundle: bundle, parallel: parallel, outputSize: imageSize) }
        return try VideoPipeline(bundle: bundle, parallel: parallel)
    }
}
