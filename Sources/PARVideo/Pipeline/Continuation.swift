import Foundation

/// Clips longer than the model's clip length, and clips that continue a real
/// one. A clip is a growing sequence of latent frames: each extension forces
/// the sequence's last K latent frames as the first latent frames of a new
/// cube (PARGenerator's `prefix`) and appends the cube's new latent frames.
/// The frames come from decoding the whole sequence with the causal decoder,
/// not cube by cube, so each join is decoded with the latents before it as
/// its causal context, as inside one clip, and frames before a join never
/// change (a causal decoder's frame t depends only on latents up to t). A
/// real clip enters through the encoder: its last frames become the first K
/// latent frames of the sequence.
///
/// Progress of a clip that may take several cubes: decode step `step` of
/// `steps` in cube `cube` of `cubes` (both 1-based), `tokens` of `cubeTokens`
/// of that cube known.
public struct RenderProgress: Sendable {
    public let cube: Int, cubes: Int, step: Int, steps: Int, tokens: Int, cubeTokens: Int
    public init(cube: Int, cubes: Int, step: Int, steps: Int, tokens: Int, cubeTokens: Int) {
        (self.cube, self.cubes, self.step, self.steps, self.tokens, self.cubeTokens) = (cube, cubes, step, steps, tokens, cubeTokens)
    }
    /// Steps over the whole clip: every cube runs the full schedule.
    public var totalSteps: Int { cubes * steps }
    public var stepsDone: Int { (cube - 1) * steps + step }
}

/// Re-encoding the decoded frames as context and decoding cube by cube makes
/// the joins much rougher than the other transitions (ContinuationTests
/// checks the joins on the built-in model).
extension VideoPipeline {
    /// Latent frames of context each extension keeps: K = ceil(T / 2) (3 of 5
    /// for UCF-101, 2 of 3 for the tiny fixture): enough frames to carry the
    /// motion, and every extension still adds T - K >= 1 latent frames.
    public var contextLatents: Int { (config.cube[0] + 1) / 2 }

    /// Frames the K context latents stand for: the causal tokenizer encodes
    /// 1 frame into the first latent frame and timeFactor into each later one.
    public var contextFrames: Int { 1 + tokenizer.config.timeFactor * (contextLatents - 1) }

    /// New frames per extension (8 for 17-frame clips with 9 context frames).
    public var framesPerExtension: Int { clipFrames - contextFrames }

    /// Cubes a clip of `frames` frames takes: one, then an extension per
    /// `framesPerExtension` frames beyond it; after a real prefix, every
    /// generated frame comes from an extension.
    public func cubes(frames: Int, prefixed: Bool = false) -> Int {
        let beyond = prefixed ? frames : max(0, frames - clipFrames)
        let per = max(1, framesPerExtension)
        return (prefixed ? 0 : 1) + (beyond + per - 1) / per
    }

    /// Extension e's stream (e >= 1) for a clip of seed `seed`: SplitMix64 of
    /// (seed, e) on its own salt, so it never equals a batch clip's seed.
    public static func extensionSeed(_ seed: UInt64, _ e: Int) -> UInt64 {
        clipSeed(base: seed ^ 0x4558_5445_4E44_5341, index: e)  // "EXTENDSA"
    }

    /// The K latent frames (K*H*W tokens, (t, y, x) order) that encode the
    /// last `contextFrames` frames of `clip`.
    public func contextTokens(_ clip: VideoFrames) throws -> [Int32] {
        let (w, h) = frameSize
        guard clip.width == w, clip.height == h else {
            throw PipelineError("context clip is \(clip.width)x\(clip.height), the model works at \(w)x\(h)")
        }
        let c = contextFrames
        guard clip.count >= c else {
            throw PipelineError("clip too short: \(clip.count) frames, continuing needs at least \(c) (the last \(c) frames are the context)")
        }
        let tail = clip.frames((clip.count - c)..<clip.count)
        let tokens = try tokenizer.encode(frames: tail.floats(), count: c, height: h, width: w)
        let expect = contextLatents * config.cube[1] * config.cube[2]
        guard tokens.count == expect else {
            throw PipelineError("context encodes to \(tokens.count) tokens, the model's latent frames hold \(expect)")
        }
        return tokens
    }

    /// Renders `frames` frames per action. Without `prefixes` the first cube
    /// is an ordinary clip (seed `seeds[b]`, so up to `clipFrames` frames this
    /// equals `render` trimmed) and extension e >= 1 draws from
    /// `extensionSeed(seeds[b], e)`. With `prefixes[b]` (a real clip at the
    /// model's frame size, at least `contextFrames` long) the result is that
    /// clip followed by `frames` generated frames, extensions counting from 1.
    /// `cube` of each result is its last generated cube.
    public func render(actions: [Int], seeds: [UInt64], options: SamplingOptions, fps: Double, frames: Int,
                       prefixes: [VideoFrames]? = nil, timings: inout RenderTimings,
                       progress: ((RenderProgress) -> Void)? = nil) throws -> [RenderedClip] {
        guard frames >= 1 else { throw PipelineError("frames \(frames): must be at least 1") }
        // Clips of a batch share every forward pass, so the longest one sets the cube count.
        let cubeCount = (prefixes?.map { _ in cubes(frames: frames, prefixed: true) }.max()) ?? cubes(frames: frames)
        let cubeTokens = config.tokensPerClip
        func report(_ cube: Int) -> ((StepProgress) -> Void)? {
            progress.map { p in { s in
                p(RenderProgress(cube: cube, cubes: cubeCount, step: s.step, steps: s.steps, tokens: s.tokensDone, cubeTokens: cubeTokens))
            } }
        }
        guard seeds.count == actions.count else { throw PipelineError("render: \(seeds.count) seeds for \(actions.count) clips") }
        var clips: [RenderedClip]
        var targets: [Int]
        // Per clip: every latent frame so far ((t, y, x) order), and the real frames it continues.
        var latents: [[Int32]]
        var lead: [VideoFrames?]
        if let prefixes {
            guard prefixes.count == actions.count else { throw PipelineError("render: \(prefixes.count) prefixes for \(actions.count) clips") }
            let t0 = DispatchTime.now().uptimeNanoseconds
            latents = try prefixes.map { try contextTokens($0) }  // also validates size and length before any work
            timings.context += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            clips = prefixes.indices.map { b in
                var p = prefixes[b]
                p.fps = fps
                return RenderedClip(action: actions[b], seed: seeds[b], cube: TokenCube(T: 0, H: 0, W: 0, tokens: []), frames: p)
            }
            lead = clips.map { $0.frames }
            targets = prefixes.map { $0.count + frames }
        } else {
            clips = try render(actions: actions, seeds: seeds, options: options, fps: fps, timings: &timings, progress: report(1))
            latents = clips.map { $0.cube.tokens }
            lead = Array(repeating: nil, count: clips.count)
            targets = Array(repeating: frames, count: actions.count)
        }
        let plane = config.cube[1] * config.cube[2]
        // Frames clip b will have once its latent sequence is decoded: the real frames
        // and those after the context, or all of them.
        func frameCount(_ b: Int) -> Int {
            let decoded = tokenizer.config.outputShape(t: latents[b].count / plane, h: config.cube[1], w: config.cube[2]).frames
            return lead[b].map { $0.count + decoded - contextFrames } ?? decoded
        }
        if clips.indices.contains(where: { frameCount($0) < targets[$0] }) && framesPerExtension < 1 {
            throw PipelineError("this model's clips have \(config.cube[0]) latent frame(s): too few to continue a clip")
        }
        var e = 1
        while clips.indices.contains(where: { frameCount($0) < targets[$0] }) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let context = latents.map { Array($0.suffix(contextLatents * plane)) }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let cubes = try generator.generate(actions: actions, options: options,
                                               seeds: seeds.map { Self.extensionSeed($0, e) },
                                               prefix: context, progress: report(prefixes == nil ? e + 1 : e))
            let t2 = DispatchTime.now().uptimeNanoseconds
            for (b, cube) in cubes.enumerated() {
                latents[b] += cube.tokens[(contextLatents * plane)...]
                clips[b] = RenderedClip(action: actions[b], seed: seeds[b], cube: cube, frames: clips[b].frames)
            }
            timings.context += Double(t1 - t0) * 1e-9
            timings.tokens += Double(t2 - t1) * 1e-9
            e += 1
        }
        // Each extended sequence is decoded once, after its last extension.
        if e > 1 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let (w, h) = frameSize
            for b in clips.indices {
                let pixels = try tokenizer.decode(cube: latents[b], t: latents[b].count / plane, h: config.cube[1], w: config.cube[2])
                let decoded = VideoFrames(floats: pixels, count: pixels.count / (w * h * 3), height: h, width: w, fps: fps)
                var joined = decoded
                if let real = lead[b] {
                    // The sequence starts with the real clip's context latents: keep the real frames.
                    let new = decoded.frames(contextFrames..<decoded.count)
                    joined = VideoFrames(width: w, height: h, count: real.count + new.count, fps: fps, pixels: real.pixels + new.pixels)
                }
                clips[b] = RenderedClip(action: clips[b].action, seed: clips[b].seed, cube: clips[b].cube, frames: joined)
            }
            timings.decode += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        }
        return clips.indices.map { b in
            let c = clips[b]
            return RenderedClip(action: c.action, seed: c.seed, cube: c.cube, frames: c.frames.frames(0..<targets[b]))
        }
    }
}
