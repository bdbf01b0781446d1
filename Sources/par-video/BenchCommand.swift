import ArgumentParser
import Foundation
import PARVideo

/// `par-video bench`: decode speed on random weights made in memory, against
/// this machine's roofline.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the decoder on random weights for n = 1, 4, 16 and B = 1, 8 against the roofline.")

    enum Preset: String, ExpressibleByArgument, CaseIterable {
        case paper, small
    }

    @Option(name: .long, help: "paper: 36 layers, dim 1280, 20 heads, vocab 64000, 101 classes, 5x16x16, 3d; small: 8 layers, dim 256, 8 heads, vocab 1000, 5x8x8.")
    var config: Preset = .small
    @Option(name: .long, help: "Use only the first L layers (shortens paper-scale runs).") var layers: Int?
    @Option(name: .long, help: "Weight dtype: f32, f16 or bf16.") var dtype: String = "f32"
    @Option(name: .long, parsing: .upToNextOption, help: "Tokens per step to run.") var parallel: [Int] = [1, 4, 16]
    @Option(name: .long, parsing: .upToNextOption, help: "Clips per batch to run.") var batch: [Int] = [1, 8]
    @Option(name: .long, help: "CFG scale (1 = no unconditional batch).") var cfg: Float = 1.15
    @Option(name: .long, help: "Top-k of the sampler.") var topK: Int = 8000
    @Option(name: .long, help: "Threads.") var threads: Int = 2

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    func run() throws {
        Parallel.threads = threads
        guard let dt = ["f32": DType.f32, "f16": .f16, "bf16": .bf16][dtype] else {
            throw ValidationError("--dtype must be f32, f16 or bf16")
        }
        var c: GPTConfig
        switch config {
        case .paper: c = GPTConfig(dim: 1280, nLayer: 36, nHead: 20, vocabSize: 64000, numClasses: 101, cube: [5, 16, 16], parallel: 16, rope: .threeD)
        case .small: c = GPTConfig(dim: 256, nLayer: 8, nHead: 8, vocabSize: 1000, numClasses: 101, cube: [5, 8, 8], parallel: 16, rope: .threeD)
        }
        let fullLayers = c.nLayer
        if let layers { guard layers >= 1 && layers <= fullLayers else { throw ValidationError("--layers must be in 1...\(fullLayers)") }; c.nLayer = layers }
        c.parallel = parallel.max() ?? 16
        try c.validate()

        let weights = GPTWeights(randomFor: c, dtype: dt)
        let N = c.tokensPerClip
        print("# par-video bench: \(config.rawValue), \(c.nLayer)\(c.nLayer < fullLayers ? " of \(fullLayers)" : "") layers, dim \(c.dim), heads \(c.nHead), vocab \(c.vocabSize), cube \(c.cube.map(String.init).joined(separator: "x")), \(dtype) weights, \(threads) threads")
        print("# weights streamed per step: \(String(format: "%.1f", Double(weights.streamedBytes) / 1e6)) MB; CFG \(cfg), top-k \(topK)")
        print("# ceilings are measured right before each run (other jobs share the cores); CPU = process CPU time / (wall x threads)")
        print("")
        print("| n | B | steps | ms/step | s/clip | tokens/s | peak RSS | GB/s | GFLOP/s | bound s | share of bound | CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n in parallel {
            for b in batch {
                var cn = c
                cn.parallel = n
                try cn.validate()
                let gen = PARGenerator(model: GPT(config: cn, weights: weights))
                let options = SamplingOptions(temperature: 1, cfgScale: cfg, topK: topK, topP: 1, seed: 1)
                let seqs = options.usesCFG ? 2 * b : b
                // Roofline: every step streams every weight; FLOPs are 2 per
                // weight per row plus attention (QK and PV) over the visible keys.
                var flopCount = 0.0
                for step in 0..<gen.steps {
                    let plan = gen.plan(step: step, classToken: 0, seq: [Int32](repeating: 0, count: N))
                    let rows = Double(seqs * plan.positions.count)
                    let params = Double(weights.streamedBytes / dt.byteSize)
                    let keys = Double(plan.limits.reduce(0, +) * seqs)
                    flopCount += 2 * params * rows + 4 * keys * Double(c.dim * c.nLayer)
                }
                let bw = Roofline.bandwidth(), flops = Roofline.sgemmFlops()
                let bound = max(Double(weights.streamedBytes) * Double(gen.steps) / bw, flopCount / flops)
                Roofline.resetPeakMemory()
                let cpu0 = Self.cpuSeconds(), t0 = Date()
                _ = try gen.generate(actions: (0..<b).map { $0 % c.numClasses }, options: options)
                let secs = Date().timeIntervalSince(t0), cpu = Self.cpuSeconds() - cpu0
                let peak = Double(Roofline.peakMemory()) / 1e9
                print(String(format: "| %d | %d | %d | %.1f | %.2f | %.1f | %.2f GB | %.1f | %.0f | %.2f | %.0f%% | %.0f%% |",
                             n, b, gen.steps, secs * 1000 / Double(gen.steps), secs / Double(b),
                             Double(b * N) / secs, peak, bw / 1e9, flops / 1e9, bound, 100 * bound / secs,
                             100 * cpu / (secs * Double(threads))))
                fflush(nil)
            }
        }
    }
}
