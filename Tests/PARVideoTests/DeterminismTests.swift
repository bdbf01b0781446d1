import Foundation
import XCTest
@testable import PARVideo

/// Sampled tokens depend only on (model, settings, seed, clip index).
final class DeterminismTests: XCTestCase {
    /// A model big enough that the kernels split work into several chunks.
    func model(_ dtype: DType, n: Int = 4) -> GPT {
        var c = GPTConfig(dim: 128, nLayer: 2, nHead: 4, vocabSize: 512, numClasses: 5, cube: [2, 8, 8], parallel: n, rope: .threeD)
        c.multipleOf = 64
        return GPT(config: c, weights: GPTWeights(randomFor: c, dtype: dtype, seed: 7))
    }

    let sampling = SamplingOptions(temperature: 1.0, cfgScale: 1.5, topK: 50, topP: 0.95, seed: 42)

    override func tearDown() { Parallel.threads = 2 }

    func testSameTokensWithOneAndTwoThreads() throws {
        for dtype in [DType.f32, .bf16] {
            let gen = PARGenerator(model: model(dtype))
            Parallel.threads = 1
            let one = try gen.generate(actions: [1, 3], options: sampling)
            Parallel.threads = 2
            let two = try gen.generate(actions: [1, 3], options: sampling)
            XCTAssertEqual(one, two, "\(dtype)")
            XCTAssertGreaterThan(Set(one[0].tokens).count, 20, "sampling should spread over the vocabulary")
        }
    }

    /// n = 16 with CFG: 32 rows a step alone, 96 in the batch of 3.
    func testClipAloneEqualsClipInBatch() throws {
        for (dtype, n) in [(DType.f32, 4), (.f16, 4), (.f32, 16), (.bf16, 16)] {
            let gen = PARGenerator(model: model(dtype, n: n))
            let batch = try gen.generate(actions: [2, 4, 0], options: sampling)
            for i in 0..<3 {
                var alone = sampling
                alone.seed = sampling.seed + UInt64(i)
                let single = try gen.generate(actions: [[2, 4, 0][i]], options: alone)
                XCTAssertEqual(single[0], batch[i], "\(dtype) n \(n) clip \(i)")
            }
            XCTAssertNotEqual(batch[0], batch[1])
        }
    }

    /// A batch whose KV caches overflow the last-level cache runs in passes
    /// of the clips that fit; its cubes and progress are those of one pass.
    func testBatchInPassesEqualsOnePass() throws {
        let gen = PARGenerator(model: model(.f32, n: 4))
        let c = gen.model.config
        let kvPerClip = (c.tokensPerClip + c.parallel) * c.kvHeads * c.headDim * c.nLayer * 2 * 4 * 2  // K and V, f32, CFG twin
        let weights = gen.model.weights.streamedBytes
        gen.cacheBytes = nil
        XCTAssertEqual(gen.clipsPerPass(batch: 5, cfg: true), 5)
        var steps: [StepProgress] = []
        let whole = try gen.generate(actions: [0, 1, 2, 3, 4], options: sampling, progress: { steps.append($0) })
        XCTAssertEqual(steps.count, gen.steps)

        gen.cacheBytes = weights + 2 * kvPerClip + kvPerClip / 2  // room for 2 clips: passes of 2, 2, 1 -> 2
        XCTAssertEqual(gen.clipsPerPass(batch: 5, cfg: true), 2)
        XCTAssertEqual(gen.clipsPerPass(batch: 4, cfg: true), 2)
        XCTAssertEqual(gen.clipsPerPass(batch: 2, cfg: true), 2)
        XCTAssertEqual(gen.clipsPerPass(batch: 5, cfg: false), 5)  // half the cache a clip without the twin: 5 fit
        XCTAssertEqual(gen.clipsPerPass(batch: 7, cfg: false), 4)  // passes of 4 and 3
        steps = []
        let split = try gen.generate(actions: [0, 1, 2, 3, 4], options: sampling, progress: { steps.append($0) })
        XCTAssertEqual(split, whole)
        XCTAssertEqual(steps.count, 3 * gen.steps)
        XCTAssertEqual(steps.map(\.step), Array(1...(3 * gen.steps)))
        XCTAssertTrue(steps.allSatisfy { $0.steps == 3 * gen.steps })
        // A logits hook sees the whole batch in one pass.
        var hookCalls = 0
        let hooked = try gen.generate(actions: [0, 1, 2, 3, 4], options: sampling, logitsHook: { _, _, _ in hookCalls += 1 })
        XCTAssertEqual(hookCalls, gen.steps)
        XCTAssertEqual(hooked, whole)

        gen.cacheBytes = weights + kvPerClip / 2  // not even one clip fits: one pass
        XCTAssertEqual(gen.clipsPerPass(batch: 5, cfg: true), 5)
        gen.cacheBytes = weights / 2  // the weights alone overflow (the paper's models): one pass
        XCTAssertEqual(gen.clipsPerPass(batch: 5, cfg: true), 5)
    }

    func testCacheSizeText() {
        XCTAssertEqual(CacheSize.parse("32768K\n"), 32 << 20)
        XCTAssertEqual(CacheSize.parse("2M"), 2 << 20)
        XCTAssertEqual(CacheSize.parse("512"), 512)
        XCTAssertNil(CacheSize.parse("junk"))
        XCTAssertNil(CacheSize.parse("-1K"))
        XCTAssertNil(CacheSize.parse("99999999999999999999K"))
        if let l = CacheSize.lastLevel { XCTAssertGreaterThan(l, 0) }
    }

    func testSeedChangesTokensAndGreedyIgnoresIt() throws {
        let gen = PARGenerator(model: model(.f32, n: 16))
        var other = sampling; other.seed = 43
        XCTAssertNotEqual(try gen.generate(actions: [1], options: sampling), try gen.generate(actions: [1], options: other))
        let g1 = SamplingOptions(cfgScale: 1.5, topK: 1, seed: 1), g2 = SamplingOptions(cfgScale: 1.5, topK: 1, seed: 2)
        XCTAssertEqual(try gen.generate(actions: [1], options: g1), try gen.generate(actions: [1], options: g2))
    }

    /// Top-k keeps exactly the k largest logits; top-p the smallest head of
    /// the distribution reaching p; the draw follows the kept probabilities.
    func testSamplerFilters() {
        let scratch = SamplerScratch()
        let logits: [Float] = [0, 3, 1, 2, -1]
        var seen = Set<Int32>()
        for i in 0..<400 {
            var l = logits
            let t = sampleToken(&l, vocab: 5, options: SamplingOptions(temperature: 1, topK: 2, seed: 0),
                                draw: uniform(stream: 9, index: UInt64(i)), scratch: scratch)
            seen.insert(t)
        }
        XCTAssertEqual(seen, [1, 3])
        seen = []
        // p(1) = 0.64, p(3) = 0.24: top_p 0.7 keeps both, 0.5 keeps only token 1.
        for (p, want) in [(Float(0.7), Set<Int32>([1, 3])), (0.5, [1])] {
            seen = []
            for i in 0..<400 {
                var l = logits
                seen.insert(sampleToken(&l, vocab: 5, options: SamplingOptions(temperature: 1, topK: 0, topP: p),
                                        draw: uniform(stream: 3, index: UInt64(i)), scratch: scratch))
            }
            XCTAssertEqual(seen, want, "top_p \(p)")
        }
        let a: [Float] = (0..<1000).map { Float(($0 * 7919) % 1000) }
        XCTAssertEqual(kthLargest(a, 10), 990)
        // Radix select against a sort: negative values, ties, zeros of both signs, every k of a small row.
        let b: [Float] = (0..<300).map { (i: Int) -> Float in
            if i % 7 == 0 { return 0.25 }
            if i % 11 == 0 { return -0.0 }
            if i % 13 == 0 { return 0 }
            return Float(uniform(stream: 5, index: UInt64(i))) * 20 - 10
        }
        let sorted = b.sorted(by: >)
        for k in 1...b.count { XCTAssertEqual(kthLargest(b, k), sorted[k - 1], "k \(k)") }
    }
}
