import Foundation

/// What one written clip took: its frames (a real prefix included), the
/// cubes and steps per cube it was generated in, and the seconds by stage.
public struct ClipReport: Sendable {
    public let frames: Int
    public let prefixFrames: Int
    public let cubes: Int
    public let cubeSteps: Int
    public let timings: RenderTimings
    public let encodeSeconds: Double

    /// Steps over all cubes: every cube runs the full schedule.
    public var steps: Int { cubes * cubeSteps }
}

extension VideoPipeline {
    /// A real clip to continue, read at the model's frame size; it must hold
    /// the frames the context latents encode.
    public func readPrefix(_ path: String) throws -> VideoFrames {
        let clip: VideoFrames
        do { clip = try VideoReader.read(URL(fileURLWithPath: path), size: frameSize) } catch let e as VideoIOError {
            throw PipelineError("\(path): not a readable video (\(e.description))")
        }
        guard clip.count >= contextFrames else {
            throw PipelineError("\(path): clip too short: \(clip.count) frames, this model continues from the last \(contextFrames)")
        }
        return clip
    }

    /// One clip of `action` (after the real clip `prefix`, when given) written
    /// to `target`. The encoders are opened first, so a setting they refuse
    /// costs no generation and leaves nothing behind.
    public func writeClip(action: Int, seed: UInt64, frames: Int? = nil, prefix: VideoFrames? = nil,
                          options: SamplingOptions, fps: Double, to target: OutputTarget, encode: VideoEncodeOptions,
                          progress: ((RenderProgress) -> Void)? = nil) throws -> ClipReport {
        let generated = frames ?? clipFrames
        do {
            try target.preflight(width: frameSize.width, height: frameSize.height, fps: fps, options: encode)
        } catch let e as VideoIOError { throw VideoIOError("\(e.description). No video was written.") }
        var timings = RenderTimings()
        let clip = try render(actions: [action], seeds: [seed], options: options, fps: fps, frames: generated,
                              prefixes: prefix.map { [$0] }, timings: &timings, progress: progress)[0]
        let count = (prefix?.count ?? 0) + generated
        let t0 = DispatchTime.now().uptimeNanoseconds
        try target.write(clip.frames.frames(0..<count), options: encode)
        return ClipReport(frames: count, prefixFrames: prefix?.count ?? 0, cubes: cubes(frames: generated, prefixed: prefix != nil),
                          cubeSteps: generator.steps, timings: timings,
                          encodeSeconds: Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }
}
