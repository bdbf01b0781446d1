import ArgumentParser
import Foundation
import PARVideo

extension DecodeBenchmark.Preset: ExpressibleByArgument {}

/// `par-video bench`: decode speed on random weights made in memory, against
/// this machine's roofline (the work is DecodeBenchmark's).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the decoder on random weights for n = 1, 4, 16 and B = 1, 8 against the roofline.",
        discussion: """
            The image configs (par-xl, par-xxl, par-3b: the published PAR and LlamaGen ImageNet layouts, 24x24 tokens, \
            vocab 16384, 1000 classes) also time the VQ-16 decode to 384x384 per row; their defaults are B = 1 and the \
            paper's CFG and top-k 0. Each run builds one config's weights in memory (PAR-3B: 12.4 GB in f32, 6.2 GB in bf16).
            Examples:
              par-video bench --config par-xl --dtype bf16 --threads 2 --peer par-xl-official.json   (tools/bench/bench_par_official.py)
              par-video bench --config par-3b --dtype f32 --parallel 16
            """)

    @Option(name: .long, help: "paper: PAR's UCF-101 model (36 layers, dim 1280, 20 heads, vocab 64000, 5x16x16, 3d); small: 8 layers, dim 256, 8 heads, vocab 1000, 5x8x8; par-xl (36 layers, dim 1280), par-xxl (48, 1536), par-3b (24, 3200): ImageNet 24x24, 2d, with the VQ-16 decode; image-tiny: a quick image stand-in.")
    var config: DecodeBenchmark.Preset = .small
    @Option(name: .long, help: "Use only the first L layers (shortens paper-scale runs).") var layers: Int?
    @Option(name: .long, help: "Weight dtype: f32, f16 or bf16.") var dtype: String = "f32"
    @Option(name: .long, parsing: .upToNextOption, help: "Tokens per step to run.") var parallel: [Int] = [1, 4, 16]
    @Option(name: .long, parsing: .upToNextOption, help: "Clips (images) per batch to run. (default: 1 8; image configs 1)") var batch: [Int] = []
    @Option(name: .long, help: "CFG scale of the benchmark (1 = no unconditional batch). (default: the paper's for the config: 1.15 UCF-101, 1.5 XL, 1.435 XXL, 1.345 3B)")
    var cfg: Float?
    @Option(name: .long, help: "Top-k of the benchmark's sampler. (default: the paper's: 8000 UCF-101, 0 = all for images)") var topK: Int?
    @Option(name: .long, help: ArgumentHelp("Compute threads, 1...1024. (default: the CPUs this process may run on, \(ThreadCount.available) here)", valueName: "N"))
    var threads: Int?
    @Option(name: .long, help: "Runs of each (n, B); the row shows the run with the median share and the range of all.") var repeats: Int = 1
    @Option(name: .long, help: ArgumentHelp("Image configs: the official code's figures (tools/bench/bench_par_official.py --json-out, same size) to print beside these.", valueName: "FILE"))
    var peer: String?
    @Flag(name: .long, help: "Instead: time the matrix-product kernels alone on a 64000 x 1280 matrix.") var kernels = false

    func validate() throws {
        try ThreadCount.check(threads)
        if let b = batch.first(where: { $0 < 1 }) { throw ValidationError("--batch \(b): must be at least 1") }
        if let n = parallel.first(where: { $0 < 1 }) { throw ValidationError("--parallel \(n): must be at least 1") }
        do { try SamplingOptions(cfgScale: cfg ?? config.cfgScale, topK: topK ?? config.topK).validate() } catch let e as SamplingError { throw ValidationError(e.description) }
        guard ["f32", "f16", "bf16"].contains(dtype) else { throw ValidationError("--dtype must be f32, f16 or bf16") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be >= 1") }
        if let layers, !(1...config.config.nLayer).contains(layers) { throw ValidationError("--layers must be in 1...\(config.config.nLayer)") }
        if let peer { try checkInput(peer, option: "--peer", allow: [.file]) }
    }

    func run() throws {
        ThreadCount.use(threads)
        if kernels { return DecodeBenchmark.kernelTable() }
        var c = config.config
        let fullLayers = c.nLayer
        if let layers { c.nLayer = layers }
        let dt: DType = ["f32": .f32, "f16": .f16, "bf16": .bf16][dtype]!
        let figures: PeerFigures?
        do { figures = try peer.map { try PeerFigures.read($0, preset: config, dtype: dt) } } catch let e as WeightsError { throw ValidationError(e.description) }
        let rows = try DecodeBenchmark.table(c, name: config.rawValue, fullLayers: fullLayers, dtype: dt, parallel: parallel,
                                  batch: batch.isEmpty ? config.batches : batch, cfg: cfg ?? config.cfgScale, topK: topK ?? config.topK,
                                  repeats: repeats, vq: config.vq)
        figures?.comparison(rows, dtype: dt)
    }
}
