import Foundation
import COpenBLAS

/// `par-video bench`: decode speed on random weights made in memory, against
/// this machine's roofline, as a Markdown table (BENCHMARKS.md).
public enum DecodeBenchmark {
    public enum Preset: String, CaseIterable, Sendable {
        case paper, small
        /// Class-to-image layouts (ImageBenchmark.swift).
        case parXL = "par-xl", parXXL = "par-xxl", par3B = "par-3b", imageTiny = "image-tiny"

        /// paper: PAR's UCF-101 model; small: a quick stand-in; the image presets' GPTs.
        public var config: GPTConfig {
            if let c = imageConfig { return c }
            return switch self {
            case .paper: GPTConfig(dim: 1280, nLayer: 36, nHead: 20, vocabSize: 64000, numClasses: 101, cube: [5, 16, 16], parallel: 16, rope: .threeD)
            default: GPTConfig(dim: 256, nLayer: 8, nHead: 8, vocabSize: 1000, numClasses: 101, cube: [5, 8, 8], parallel: 16, rope: .threeD)
            }
        }
    }

    /// Times every (n, B) of `parallel` x `batch` on `c` (its first `layers`
    /// of `fullLayers` layers); every pair is checked before any work, so a
    /// batch that cannot fit fails at once. With `vq` (an image model) each
    /// row also decodes its first image with seeded VQ weights of the same
    /// precision. One GPT's weights are held, whatever the rows.
    @discardableResult
    public static func table(_ c: GPTConfig, name: String, fullLayers: Int, dtype dt: DType, parallel: [Int], batch: [Int],
                             cfg: Float, topK: Int, repeats: Int, vq vqConfig: VQConfig? = nil,
                             emit: (String) -> Void = { print($0); fflush(nil) }) throws -> [Row] {
        var c = c
        c.parallel = parallel.max() ?? 16
        try c.validate()
        let threads = Parallel.threads
        for n in parallel {
            var cn = c
            cn.parallel = n
            try cn.validate()
            for b in batch {
                try InputLimits.checkMemory(cn.decodeBytes(batch: b, cfg: cfg != 1, threads: threads), for: "bench: n = \(n), --batch \(b)")
            }
        }

        try InputLimits.checkMemory(randomWeightBytes(c, dtype: dt), for: "bench: the random \(dt.rawValue) weights of \(name)")
        let weights = GPTWeights(randomFor: c, dtype: dt)
        let vq = try vqConfig.map { try VQImageTokenizer(config: $0, weights: SeededVQWeights(seed: 1, bf16: dt != .f32), decoderOnly: true) }
        let N = c.tokensPerClip
        emit("# par-video bench: \(name), \(c.nLayer)\(c.nLayer < fullLayers ? " of \(fullLayers)" : "") layers, dim \(c.dim), heads \(c.nHead), vocab \(c.vocabSize), cube \(c.cube.map(String.init).joined(separator: "x")), \(dt.rawValue) weights, \(threads) threads, OpenBLAS core \(OpenBLASCore.name)")
        emit("# weights streamed per step: \(String(format: "%.1f", Double(weights.streamedBytes) / 1e6)) MB; CFG \(cfg), top-k \(topK)")
        emit("# Other jobs share the cores, so each run reports wall-clock figures against ceilings measured just before and just")
        emit("# after it (the higher of the two: the machine's bandwidth and sgemm rate drift by up to 40% within minutes here),")
        emit("# and CPU-normalised ones (time = process CPU time / threads, ceilings likewise): what it reaches with the cores to itself.")
        emit("# CPU = process CPU time / (wall x threads). bound = max(weight bytes x steps / bandwidth, FLOPs / compute rate); compute rate = sgemm\((dt == .bf16 && useAVX512DecodeKernels && useBF16DotKernels) ? " or the bf16 dot-product kernel, the higher" : "")).")
        if let vq {
            let side = vq.config.upsample
            emit("# s/clip is seconds of tokens per image; decode: one \(c.cube[2] * side)x\(c.cube[1] * side) VQ decode (seeded \(dt == .f32 ? "f32" : "bf16") kernels), "
                 + "its bound = decoder FLOPs / conv sgemm rate (wall); s/image = tokens + decode.")
        }
        emit("")
        let rangeHeader = (repeats > 1 ? " share of \(repeats) runs |" : "") + (vq == nil ? "" : " decode s | decode bound s | decode share | s/image |")
        emit("| n | B | steps | ms/step | s/clip | tokens/s | peak RSS | GB/s | GFLOP/s | bound s | share | CPU | ms/step (cpu) | GB/s (cpu) | GFLOP/s (cpu) | share (cpu) |" + rangeHeader)
        emit("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" + (repeats > 1 ? "---|" : "") + (vq == nil ? "" : "---|---|---|---|"))
        var rows: [Row] = []
        for n in parallel {
            for b in batch {
                var cn = c
                cn.parallel = n
                try cn.validate()
                let gen = PARGenerator(model: GPT(config: cn, weights: weights))
                gen.cacheBytes = nil  // one pass of B clips, the work the roofline below counts
                let options = SamplingOptions(temperature: 1, cfgScale: cfg, topK: topK, topP: 1, seed: 1)
                let seqs = options.usesCFG ? 2 * b : b
                // Roofline: every step streams every weight; FLOPs are 2 per
                // weight per row plus attention (QK and PV) over the visible keys.
                // Under CFG the head runs on the guided rows only (GPT.forward),
                // so its FLOPs count those rows: the bound is for the work done.
                var flopCount = 0.0
                let params = Double(weights.streamedBytes / dt.byteSize), headParams = Double(weights.output.bytes / dt.byteSize)
                for step in 0..<gen.steps {
                    let plan = gen.plan(step: step, classToken: 0, seq: [Int32](repeating: 0, count: N))
                    let rows = Double(seqs * plan.positions.count), guided = Double(b * plan.positions.count)
                    let keys = Double(plan.limits.reduce(0, +) * seqs)
                    flopCount += 2 * (params - headParams) * rows + 2 * headParams * guided + 4 * keys * Double(c.dim * c.nLayer)
                }
                let bytes = Double(weights.streamedBytes) * Double(gen.steps)
                var runs: [(share: Double, line: String, seconds: Double)] = []
                var first: TokenCube?
                var after = (bw: Roofline.bandwidth(), flops: Roofline.computeFlops(dtype: dt))
                for _ in 0..<repeats {
                    let before = after
                    Roofline.resetPeakMemory()
                    let cpu0 = Roofline.cpuSeconds(), t0 = Date()
                    first = try gen.generate(actions: (0..<b).map { $0 % c.numClasses }, options: options).first
                    let secs = Date().timeIntervalSince(t0), cpu = Roofline.cpuSeconds() - cpu0
                    let peak = Double(Roofline.peakMemory()) / 1e9
                    after = (bw: Roofline.bandwidth(), flops: Roofline.computeFlops(dtype: dt))
                    let bw = Roofline.Rate(wall: max(before.bw.wall, after.bw.wall), cpu: max(before.bw.cpu, after.bw.cpu))
                    let flops = Roofline.Rate(wall: max(before.flops.wall, after.flops.wall), cpu: max(before.flops.cpu, after.flops.cpu))
                    let bound = max(bytes / bw.wall, flopCount / flops.wall)
                    let boundCPU = max(bytes / bw.cpu, flopCount / flops.cpu)
                    let cpuTime = cpu / Double(threads)
                    runs.append((bound / secs, String(format: "| %d | %d | %d | %.1f | %.2f | %.1f | %.2f GB | %.1f | %.0f | %.2f | %.0f%% | %.0f%% | %.1f | %.1f | %.0f | %.0f%% |",
                                 n, b, gen.steps, secs * 1000 / Double(gen.steps), secs / Double(b),
                                 Double(b * N) / secs, peak, bw.wall / 1e9, flops.wall / 1e9, bound, 100 * bound / secs,
                                 100 * cpuTime / secs, cpuTime * 1000 / Double(gen.steps), bw.cpu / 1e9, flops.cpu / 1e9,
                                 100 * boundCPU / cpuTime), secs / Double(b)))
                }
                let sorted = runs.sorted { $0.share < $1.share }
                let range = repeats > 1 ? String(format: " %.0f-%.0f%% |", 100 * sorted.first!.share, 100 * sorted.last!.share) : ""
                let median = sorted[(sorted.count - 1) / 2]
                var decode = "", decodeSeconds: Double?
                if let vq, let first {
                    let d = try timeDecode(vq, first)
                    decodeSeconds = d.seconds
                    decode = String(format: " %.2f | %.2f | %.0f%% | %.2f |", d.seconds, d.bound, 100 * d.bound / d.seconds, median.seconds + d.seconds)
                }
                emit(median.line + range + decode)
                rows.append(Row(parallel: n, batch: b, seconds: median.seconds, decodeSeconds: decodeSeconds))
            }
        }
        return rows
    }

    /// One row's figures: seconds of tokens per clip (image) at the median share, and an image's decode.
    public struct Row: Sendable {
        public let parallel: Int, batch: Int, seconds: Double, decodeSeconds: Double?
    }

    /// GB/s of weights streamed by `matmul` for a few rows, per dtype, and
    /// OpenBLAS sgemv on the same F32 matrix (wall and CPU-normalised).
    public static func kernelTable(emit: (String) -> Void = { print($0) }) {
        let rows = 64000, cols = 1280
        emit("| kernel | rows | GB/s (wall) | GB/s (cpu) | GFLOP/s (cpu) |")
        emit("|---|---|---|---|---|")
        let x = FloatBuffer(64 * cols)
        for i in 0..<(64 * cols) { x.ptr[i] = Float(i % 17) * 0.01 }
        let y = FloatBuffer(64 * rows)
        for dt in [DType.f32, .bf16, .f16] {
            var cfg = GPTConfig(dim: cols, nLayer: 1, nHead: 20, vocabSize: rows, numClasses: 1, cube: [1, 1, 1], parallel: 1, rope: .threeD)
            cfg.multipleOf = 256
            let w = GPTWeights(randomFor: cfg, dtype: dt).output
            for r in [1, 2, 4, 8, 16, 32] {
                let rate = Roofline.best(3, work: Double(w.bytes)) { matmul(x.ptr, rows: r, w, y.ptr) }
                let gflops: Double = rate.cpu / Double(w.bytes) * 2 * Double(rows * cols * r) / 1e9
                emit("| matmul \(dt.rawValue) | \(r) | " + String(format: "%.1f | %.1f | %.0f |", rate.wall / 1e9, rate.cpu / 1e9, gflops))
            }
            if dt == .f32 {
                let wp = w.data.assumingMemoryBound(to: Float.self)
                let rate = Roofline.best(3, work: Double(w.bytes)) {
                    Parallel.forEach(8) { c in
                        let j0 = c * rows / 8, n = rows / 8
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(cols), 1, wp + j0 * cols, Int32(cols), x.ptr, 1, 0, y.ptr + j0, 1)
                    }
                }
                let gflops: Double = rate.cpu / Double(w.bytes) * 2 * Double(rows * cols) / 1e9
                emit("| OpenBLAS sgemv F32 | 1 | " + String(format: "%.1f | %.1f | %.0f |", rate.wall / 1e9, rate.cpu / 1e9, gflops))
                // sgemm with few rows: what the few-row kernel replaces.
                for r in [8, 16, 32] {
                    let rate = Roofline.best(3, work: Double(w.bytes)) {
                        Parallel.forEach(8) { c in
                            let j0 = c * rows / 8, n = rows / 8
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(r), Int32(n), Int32(cols),
                                        1, x.ptr, Int32(cols), wp + j0 * cols, Int32(cols), 0, y.ptr + j0, Int32(rows))
                        }
                    }
                    let gflops: Double = rate.cpu / Double(w.bytes) * 2 * Double(rows * cols * r) / 1e9
                    emit("| OpenBLAS sgemm F32 | \(r) | " + String(format: "%.1f | %.1f | %.0f |", rate.wall / 1e9, rate.cpu / 1e9, gflops))
                }
            }
        }
        let bw = Roofline.bandwidth(), fl = Roofline.sgemmFlops()
        emit(String(format: "\nread bandwidth %.1f GB/s wall, %.1f cpu; sgemm %.0f GFLOP/s wall, %.0f cpu", bw.wall / 1e9, bw.cpu / 1e9, fl.wall / 1e9, fl.cpu / 1e9))
    }
}
