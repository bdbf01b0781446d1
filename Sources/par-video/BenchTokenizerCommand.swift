import ArgumentParser
import Foundation
import PARVideo

/// `par-video bench-tokenizer`: seconds and peak memory to decode one clip with
/// the full-size NBP decoder (seeded random weights unless --model is given),
/// next to its FLOPs divided by the measured sgemm rate.
struct BenchTokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-tokenizer",
        abstract: "Time decoding one clip (17x128x128 for NBP's UCF tokenizer) with the tokenizer decoder.")

    @Option(help: "Tokenizer bundle; default: NBP's UCF-101 decoder with seeded random weights.")
    var model: String?

    @Option(help: "Kernel precision for seeded weights: f32 or bf16.")
    var dtype: String = "f32"

    @Option(help: "Latent frames per decoder chunk (memory vs. speed).")
    var chunk: Int = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard ["f32", "bf16"].contains(dtype) else { throw ValidationError("--dtype must be f32 or bf16") }
        let (tok, load, weightDType) = try TokenizerBenchmark.decoder(model: model, dtype: dtype, chunk: chunk)
        let r = try TokenizerBenchmark.run(tokenizer: tok, loadSeconds: load, weightDType: weightDType)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            print(String(format: "decode %@ -> %@ (%@ kernels, %d threads, chunk %d): %.2f s, %.0f GFLOP/s; peak RSS %.0f MB; load %.1f s",
                         r.cube.map(String.init).joined(separator: "x"), r.frames.map(String.init).joined(separator: "x"),
                         r.weightDType, r.threads, chunk, r.seconds, r.gflopsAchieved, r.peakResidentMB, r.loadSeconds))
            print(String(format: "  %.2f TFLOP / sgemm %.0f GFLOP/s = %.2f s bound (%.0f%% of it reached); sgemm: OpenBLAS %.0f, AVX-512 kernel %.0f GFLOP/s",
                         r.flops / 1e12, r.sgemmGFLOPs, r.sgemmBoundSeconds, 100 * r.sgemmBoundSeconds / r.seconds,
                         r.openblasGFLOPs, r.kernelGFLOPs))
            print(String(format: "  time in convolutions %.2f s, group norm + swish %.2f s, depth-to-space %.2f s",
                         r.convSeconds, r.normSeconds, r.copySeconds))
        }
    }
}
