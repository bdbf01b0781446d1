import Foundation
import XCTest
@testable import PARVideo

/// Tests/Fixtures, found from this file's path (no SwiftPM resources).
let fixturesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// The engine against the numpy reference (tools/reference/par_reference.py) on small
/// random models, and against cubes made by the official PAR code.
final class EngineFixtureTests: XCTestCase {
    let engineCases = ["2d-n1-b1-cfg", "2d-n4-b3-cfg", "2d-n16-b1-nocfg", "3d-n1-b3-nocfg", "3d-n4-b1-cfg",
                       "3d-n16-b3-cfg", "3d-n4-b1-nocfg-f16", "3d-n16-b1-cfg-bf16", "2d-n4-b1-cfg-gqa"]

    func testEveryReferenceCaseMatchesLogitsAndGreedyCube() throws {
        for name in engineCases {
            let dir = fixturesDir.appendingPathComponent("engine/\(name)")
            let bundle = try ModelBundle.load(dir.appendingPathComponent("model.safetensors").path)
            let expected = try SafeTensorsFile(path: dir.appendingPathComponent("expected.safetensors").path)
            let meta = expected.metadata
            let cfg = Float(meta["cfg_scale"]!)!
            let steps = Int(meta["steps"]!)!
            let actions = try expected.int32s("actions").map(Int.init)
            let gen = PARGenerator(model: try GPT(bundle.gpt()))
            XCTAssertEqual(gen.steps, steps, name)
            let V = gen.model.config.vocabSize
            var worst: Float = 0
            var seen = 0
            let cubes = try gen.generate(actions: actions, options: SamplingOptions(temperature: 1, cfgScale: cfg, topK: 1), logitsHook: { step, rows, logits in
                let ref = try! expected.floats("logits_\(step + 1)", shape: [actions.count, rows, V])
                var diff: Float = 0, scale: Float = 0
                for i in 0..<ref.count { diff = max(diff, abs(logits[i] - ref[i])); scale = max(scale, abs(ref[i])) }
                worst = max(worst, diff / scale)
                seen += 1
            })
            XCTAssertEqual(seen, steps, name)
            XCTAssertLessThan(worst, 1e-4, "\(name): worst per-step relative logit error \(worst)")
            let cube = try expected.int32s("cube")
            XCTAssertEqual(cubes.flatMap(\.tokens), cube, "\(name): greedy cube differs")
            print("\(name): \(steps) steps, worst relative logit error \(worst)")
        }
    }

    func testOfficialGreedyCubesReproduced() throws {
        for name in ["par-1x16x16-n4-2d", "par-4x8x8-n1-3d", "par-4x8x8-n4-3d"] {
            let dir = fixturesDir.appendingPathComponent("official-par/\(name)")
            let gen = PARGenerator(model: try GPT(ModelBundle.load(dir.appendingPathComponent("model.safetensors").path).gpt()))
            let actions = [0, 5, 9]
            // All three actions in one batch: the batch must not change any clip.
            let cubes = try gen.generate(actions: actions, options: SamplingOptions(temperature: 1, cfgScale: 1.5, topK: 1))
            for (a, cube) in zip(actions, cubes) {
                let (want, shape) = try NPY.read(dir.appendingPathComponent("cube_a\(a).npy").path)
                XCTAssertEqual(shape, [cube.T, cube.H, cube.W], name)
                XCTAssertEqual(cube.tokens, want, "\(name) action \(a)")
            }
        }
    }
}
