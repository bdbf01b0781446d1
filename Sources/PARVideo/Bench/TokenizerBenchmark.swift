import COpenBLAS
import CKernels
import Foundation

/// Timing of one clip decode with a tokenizer, next to the sgemm bound.
public struct TokenizerBenchmarkResult: Codable, Sendable {
    public var cube: [Int]
    public var frames: [Int]
    public var seconds: Double
    public var loadSeconds: Double
    public var flops: Double
    public var gflopsAchieved: Double
    public var sgemmGFLOPs: Double
    public var openblasGFLOPs: Double
    public var kernelGFLOPs: Double
    public var convSeconds: Double
    public var normSeconds: Double
    public var copySeconds: Double
    public var sgemmBoundSeconds: Double
    public var peakResidentMB: Double
    public var weightDType: String
    public var threads: Int
}

public enum TokenizerBenchmark {
    /// Peak resident set size of this process so far, in MB (VmHWM, read by
    /// Roofline; getrusage where /proc is missing).
    public static func peakResidentMB() -> Double {
        let bytes = Roofline.peakMemory()
        if bytes > 0 { return Double(bytes) / 1_048_576 }
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    /// sgemm rate (GFLOP/s) on a conv-shaped product (positions x cout x 27*cin).
    public static func sgemmRate(m: Int = 2048, n: Int = 256, k: Int = 6912, seconds: Double = 2) -> Double {
        let a = [Float](repeating: 0.01, count: m * k), b = [Float](repeating: 0.02, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        func run() { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n)) }
        run()
        var reps = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        var dt = 0.0
        repeat { run(); reps += 1; dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 } while dt < seconds
        return 2 * Double(m * n * k) * Double(reps) / dt / 1e9
    }

    /// The AVX-512 kernel as a plain GEMM (contiguous rows, no im2col), all threads.
    public static func kernelRate(m: Int = 2048, n: Int = 256, k: Int = 6912, seconds: Double = 2) -> Double {
        guard CausalConv3D.hasAVX512 else { return 0 }
        let a = [Float](repeating: 0.01, count: m * k), w = [Float](repeating: 0.02, count: k * n)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: tk_packed_size_f32(Int32(k), Int32(n)))
        defer { packed.deallocate() }
        tk_pack_f32(Int32(k), Int32(n), w, packed)
        var c = [Float](repeating: 0, count: m * n)
        let rows = 192, blocks = m / rows, workers = Parallel.threads
        func run() {
            a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
                let (ap, cp) = (ap, cp)
                DispatchQueue.concurrentPerform(iterations: workers) { wk in
                    var b = wk
                    var table = [UnsafePointer<Float>?](repeating: nil, count: rows)
                    while b < blocks {
                        for i in 0..<rows { table[i] = ap.baseAddress! + (b * rows + i) * k }
                        tk_conv_f32(Int32(rows), Int32(n), Int32(k), 1, table, packed, cp.baseAddress! + b * rows * n, n)
                        b += workers
                    }
                }
            }}
        }
        run()
        var reps = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        var dt = 0.0
        repeat { run(); reps += 1; dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 } while dt < seconds
        return 2 * Double(blocks * rows * n * k) * Double(reps) / dt / 1e9
    }

    /// The decoder of the bundle at `model`, else NBP's UCF-101 decoder with
    /// seeded weights of `dtype` (f32 or bf16); the seconds it took to load and
    /// the weights' dtype as the result names it.
    public static func decoder(model: String?, dtype: String, chunk: Int) throws -> (tokenizer: VideoTokenizer, seconds: Double, dtype: String) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let tok: VideoTokenizer
        if let model {
            tok = try VideoTokenizer(path: model, decoderOnly: true)
        } else {
            let cfg = TokenizerConfig.nbpUCF
            tok = try VideoTokenizer(config: cfg, weights: SeededTokenizerWeights(config: cfg, seed: 1, bf16: dtype == "bf16"), decoderOnly: true)
        }
        tok.chunkFrames = chunk
        return (tok, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9, model == nil ? dtype : "bundle")
    }

    /// Decodes one random cube of the config's clip size.
    public static func run(tokenizer: VideoTokenizer, loadSeconds: Double, weightDType: String, seed: UInt64 = 1) throws -> TokenizerBenchmarkResult {
        let cfg = tokenizer.config
        let (t, h, w) = cfg.latentShape(frames: cfg.frames, height: cfg.size, width: cfg.size)
        var rng = seed
        let cube = (0..<(t * h * w)).map { _ -> Int32 in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Int32((rng >> 33) % UInt64(tokenizer.fsq.vocabularySize))
        }
        LayerTimer.reset()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let frames = try tokenizer.decode(cube: cube, t: t, h: h, w: w)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let (F, oh, ow) = cfg.outputShape(t: t, h: h, w: w)
        precondition(frames.count == F * oh * ow * cfg.inChannels)
        let flops = cfg.decoderFLOPs(t: t, h: h, w: w)
        let blas = sgemmRate(), mine = kernelRate()
        let rate = max(blas, mine)
        return TokenizerBenchmarkResult(
            cube: [t, h, w], frames: [F, oh, ow], seconds: seconds, loadSeconds: loadSeconds, flops: flops,
            gflopsAchieved: flops / seconds / 1e9, sgemmGFLOPs: rate, openblasGFLOPs: blas, kernelGFLOPs: mine,
            convSeconds: LayerTimer.total(.conv), normSeconds: LayerTimer.total(.norm), copySeconds: LayerTimer.total(.copy),
            sgemmBoundSeconds: flops / rate / 1e9,
            peakResidentMB: peakResidentMB(), weightDType: weightDType, threads: Parallel.threads)
    }
}
