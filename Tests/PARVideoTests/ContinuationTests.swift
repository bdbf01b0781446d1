import Foundation
import PARVideo
import XCTest

/// Longer clips and continuation (issue 7 item 4) on the tiny bundle: a
/// 3x4x4 cube -> 9 frames of 32x32 at 4x in time, so K = 2 context latents
/// stand for 5 frames and each extension adds 4.
final class ContinuationTests: XCTestCase {
    static let tiny = PipelineTests.tiny

    func tinyPipeline() throws -> VideoPipeline {
        try VideoPipeline(bundle: try ModelBundle.load(Self.tiny), parallel: 4)
    }

    func testContextGeometry() throws {
        let p = try tinyPipeline()
        XCTAssertEqual(p.contextLatents, 2)
        XCTAssertEqual(p.contextFrames, 5)
        XCTAssertEqual(p.framesPerExtension, 4)
    }

    /// Engine: forced tokens come back unchanged, and forcing the very tokens
    /// an unforced run drew gives that run's cube exactly (later draws keep
    /// their keys).
    func testForcedPrefixTokensAppearUnchanged() throws {
        let p = try tinyPipeline()
        let options = SamplingOptions(p.config.sampling)
        let plane = p.config.cube[1] * p.config.cube[2], V = p.config.vocabSize
        let prefix = (0..<(2 * plane)).map { Int32(($0 * 37 + 11) % V) }
        let forced = try p.generator.generate(actions: [1, 2], options: options, seeds: [7, 8], prefix: [prefix, prefix])
        for cube in forced {
            XCTAssertEqual(Array(cube.tokens[0..<prefix.count]), prefix)
        }
        // Clip 0 unforced, clip 1 with an empty prefix: neither is forced.
        let free = try p.generator.generate(actions: [1, 2], options: options, seeds: [7, 8])
        XCTAssertNotEqual(Array(free[0].tokens[0..<prefix.count]), prefix)
        let own = Array(free[0].tokens[0..<plane])  // its first latent frame
        let replay = try p.generator.generate(actions: [1, 2], options: options, seeds: [7, 8], prefix: [own, []])
        XCTAssertEqual(replay[0], free[0])
        XCTAssertEqual(replay[1], free[1])
        // Partial latent frames and foreign tokens are errors.
        XCTAssertThrowsError(try p.generator.generate(actions: [1], options: options, seeds: [7], prefix: [[1, 2, 3]]))
        XCTAssertThrowsError(try p.generator.generate(actions: [1], options: options, seeds: [7],
                                                      prefix: [[Int32](repeating: Int32(V), count: plane)]))
    }

    func testTwentyFramesDeterministicAndExtendTheClip() throws {
        let p = try tinyPipeline()
        let options = SamplingOptions(p.config.sampling)
        var timings = RenderTimings()
        let long = try p.render(actions: [0, 2], seeds: [3, 4], options: options, fps: 8, frames: 20, timings: &timings)
        XCTAssertEqual(long.map(\.frames.count), [20, 20])
        XCTAssertGreaterThan(timings.context, 0)
        // The first clip's frames are the ordinary clip of the same seed.
        let short = try p.render(actions: [0, 2], seeds: [3, 4], options: options, fps: 8, timings: &timings)
        for b in 0..<2 { XCTAssertEqual(long[b].frames.frames(0..<9), short[b].frames) }
        // Same seeds: identical; clip alone equals clip in a batch.
        let again = try p.render(actions: [2], seeds: [4], options: options, fps: 8, frames: 20, timings: &timings)
        XCTAssertEqual(again[0].frames, long[1].frames)
        // Up to the clip length, frames: trims the ordinary render.
        let eight = try p.render(actions: [0], seeds: [3], options: options, fps: 8, frames: 8, timings: &timings)
        XCTAssertEqual(eight[0].frames, short[0].frames.frames(0..<8))
        // The extensions draw new streams: frames past 9 are not a repeat.
        XCTAssertNotEqual(long[0].frames.frames(9..<13), long[0].frames.frames(5..<9))
    }

    /// Mechanics of a join: the new cube's context latents decode to frames
    /// close to the context they encode (PSNR reported; the random tiny
    /// tokenizer reconstructs poorly, so the figure means something only for
    /// a trained one), and a prefix clip comes back verbatim at the start.
    func testPrefixContinuationAndContextReconstruction() throws {
        let p = try tinyPipeline()
        let options = SamplingOptions(p.config.sampling)
        let real = movingGradient(frames: 7, width: 32, height: 32)
        var timings = RenderTimings()
        let out = try p.render(actions: [1], seeds: [9], options: options, fps: 8, frames: 6, prefixes: [real], timings: &timings)[0]
        XCTAssertEqual(out.frames.count, 13)
        XCTAssertEqual(out.frames.frames(0..<7), real)
        // Two extensions (6 frames > 4 per extension): same seed, same frames.
        let again = try p.render(actions: [1], seeds: [9], options: options, fps: 8, frames: 6, prefixes: [real], timings: &timings)[0]
        XCTAssertEqual(again.frames, out.frames)

        let context = try p.contextTokens(real)
        XCTAssertEqual(context.count, 2 * 16)
        let cube = try p.generator.generate(actions: [1], options: options, seeds: [VideoPipeline.extensionSeed(9, 1)],
                                            prefix: [context])[0]
        let decoded = VideoFrames(floats: try p.tokenizer.decode(cube: cube.tokens, t: 3, h: 4, w: 4),
                                  count: 9, height: 32, width: 32)
        // The output's first generated frames are this cube's frames after the context.
        XCTAssertEqual(out.frames.frames(7..<11), decoded.frames(5..<9))
        // Causal decoder: the context frames depend on the context latents only.
        let alone = VideoFrames(floats: try p.tokenizer.decode(cube: context, t: 2, h: 4, w: 4), count: 5, height: 32, width: 32)
        XCTAssertEqual(decoded.frames(0..<5), alone)
        let psnr = alone.psnr(against: real.frames(2..<7))
        print("continuation: context re-decode PSNR \(String(format: "%.2f", psnr)) dB (tiny random tokenizer)")
        XCTAssertTrue(psnr.isFinite && psnr > 0)
        // Too short: fewer frames than the context.
        XCTAssertThrowsError(try p.render(actions: [1], seeds: [9], options: options, fps: 8, frames: 4,
                                          prefixes: [real.frames(0..<4)], timings: &timings)) {
            XCTAssertTrue("\($0)".contains("clip too short"), "\($0)")
        }
    }

    func testCommandFramesBeyondClipAndPrefix() throws {
        let dir = try scratchFolder()
        let a = try runParVideo(["--model", Self.tiny, "--action", "1", "--frames", "20", "--seed", "5", "--json", "-o", "a.mp4"], in: dir)
        XCTAssertEqual(a.code, 0, a.err)
        XCTAssertEqual(try VideoProbe.info(dir.appendingPathComponent("a.mp4")).frames, 20)
        XCTAssertEqual(try runParVideo(["--model", Self.tiny, "--action", "1", "--frames", "20", "--seed", "5", "--quiet", "-o", "b.mp4"],
                                       in: dir).code, 0)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.mp4")), try Data(contentsOf: dir.appendingPathComponent("b.mp4")))

        // A real clip at another size: resized, continued, kept at the front.
        try ClipOutput.write(movingGradient(frames: 6, width: 48, height: 40), mp4: dir.appendingPathComponent("real.mp4"),
                             frames: nil, options: VideoEncodeOptions(codec: .mpeg4))
        let c = try runParVideo(["--model", Self.tiny, "--action", "0", "--prefix", "real.mp4", "--frames", "8", "--json", "-o", "c.mp4"], in: dir)
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertEqual(try VideoProbe.info(dir.appendingPathComponent("c.mp4")).frames, 14)
        let json = try JSONSerialization.jsonObject(with: Data(c.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["prefix_frames"] as? Int, 6)
        XCTAssertEqual(json["frames"] as? Int, 14)

        // Too short, missing, not a video: one-line errors, exit 2, no output.
        try ClipOutput.write(movingGradient(frames: 3, width: 32, height: 32), mp4: dir.appendingPathComponent("short.mp4"),
                             frames: nil, options: VideoEncodeOptions(codec: .mpeg4))
        try Data("not a video".utf8).write(to: dir.appendingPathComponent("junk.mp4"))
        for (path, needle) in [("short.mp4", "clip too short"), ("none.mp4", "no such file"), ("junk.mp4", "not a readable video")] {
            let e = try runParVideo(["--model", Self.tiny, "--action", "0", "--prefix", path, "-o", "d.mp4"], in: dir)
            XCTAssertEqual(e.code, 2, "\(path): \(e.err)")
            XCTAssertTrue(e.err.contains(needle), "\(path): \(e.err)")
            XCTAssertEqual(e.err.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, e.err)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("d.mp4").path))
    }

    /// Motion continuity across joins, on the built-in model (or PAR_VIDEO_MODEL),
    /// for every GPT it has: 40 frames for several actions; the mean
    /// frame-to-frame difference at the joins must stay within 1.5x the mean
    /// at the same-phase transitions one latent frame before and after each
    /// join. Same phase, because a 4x-in-time tokenizer puts most of the change
    /// at latent-frame boundaries (every join is one), and local, because a
    /// long clip's motion may grow from cube to cube without any seam. Decoding
    /// cube by cube instead of the whole latent sequence fails this: 2.1-3.5x
    /// at n = 1 and up to 4.6x at n = 4 on the 5 x 16 x 16 model, against
    /// 0.95-1.23x here.
    func testMotionContinuesAcrossJoinsWithTrainedModel() throws {
        let builtin = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../models/builtin").standardized.path
        let env = ProcessInfo.processInfo.environment["PAR_VIDEO_MODEL"] ?? ""
        let path = env.isEmpty ? builtin : env
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no models/builtin in this checkout") }
        let bundle = try ModelBundle.load(path)
        for n in bundle.parallels {
            let p = try VideoPipeline(bundle: bundle, parallel: n)
            let phase = p.tokenizer.config.timeFactor
            for (action, seed) in [(0, 1), (12, 2), (57, 3), (88, 4)] as [(Int, UInt64)] {
                var timings = RenderTimings()
                let clip = try p.render(actions: [action], seeds: [seed], options: SamplingOptions(p.config.sampling), fps: 8,
                                        frames: 40, timings: &timings)[0].frames
                XCTAssertEqual(clip.count, 40)
                // change[t]: mean |difference| of the transition from frame t - 1 to frame t.
                var change = [Double](repeating: 0, count: clip.count)
                for t in 1..<clip.count {
                    let a = clip.frame(t - 1), b = clip.frame(t)
                    change[t] = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.count)
                }
                // Transition t-1 -> t crosses a join when t = clipFrames + k * framesPerExtension.
                let joins = Array(stride(from: p.clipFrames, to: clip.count, by: p.framesPerExtension))
                XCTAssertEqual(joins.count, 3)
                let atJoins = joins.map { change[$0] }.reduce(0, +) / Double(joins.count)
                let around = joins.map { j in
                    let near = [j - phase, j + phase].filter { $0 >= 1 && $0 < clip.count }.map { change[$0] }
                    return near.reduce(0, +) / Double(near.count)
                }.reduce(0, +) / Double(joins.count)
                print(String(format: "continuation: n = %d, action %d: mean |diff| at %d joins %.2f, one latent frame either side %.2f (%.2fx)",
                             n, action, joins.count, atJoins, around, atJoins / around))
                XCTAssertLessThanOrEqual(atJoins, 1.5 * around, "n = \(n), action \(action)")
            }
        }
    }
}
