import Foundation
import XCTest
@testable import PARVideo

/// The matrix product on every path (few-row kernel, sgemm, widened tiles)
/// against a float64 loop, for every weight dtype.
final class KernelTests: XCTestCase {
    func testMatmulAllPathsAndDtypes() {
        // The C AVX-512 few-row kernel where the CPU has it, and the portable Swift one.
        let saved = useAVX512FewRows
        defer { useAVX512FewRows = saved }
        for avx in saved ? [true, false] : [false] {
            useAVX512FewRows = avx
            checkMatmulAllPathsAndDtypes(label: avx ? "avx512" : "portable")
        }
    }

    /// A row's result does not depend on how many rows share the call (B clips and
    /// the CFG batch must not change a clip's tokens), on either few-row kernel.
    func testRowResultIndependentOfRowCount() {
        let out = 301, k = 1280
        let saved = useAVX512FewRows
        defer { useAVX512FewRows = saved }
        for dt in [DType.f32, .f16, .bf16] {
            var cfg = GPTConfig(dim: k, nLayer: 1, nHead: 2, vocabSize: out, numClasses: 1, cube: [1, 1, 1], parallel: 1, rope: .threeD)
            cfg.multipleOf = 8
            let w = GPTWeights(randomFor: cfg, dtype: dt, seed: 5).output
            let x = (0..<(7 * k)).map { Float(($0 * 29) % 31) / 31 - 0.5 }
            for avx in saved ? [true, false] : [false] {
                useAVX512FewRows = avx
                var one = [Float](repeating: 0, count: out)
                matmul(Array(x[(3 * k)..<(4 * k)]), rows: 1, w, &one)
                var seven = [Float](repeating: 0, count: 7 * out)
                matmul(x, rows: 7, w, &seven)
                XCTAssertEqual(Array(seven[(3 * out)..<(4 * out)]), one, "\(dt) avx512 \(avx)")
            }
        }
    }

    func checkMatmulAllPathsAndDtypes(label: String) {
        let out = 300, k = 72  // k not a multiple of 16: exercises the tails
        for dt in [DType.f32, .f16, .bf16] {
            var cfg = GPTConfig(dim: k, nLayer: 1, nHead: 2, vocabSize: out, numClasses: 1, cube: [1, 1, 1], parallel: 1, rope: .threeD)
            cfg.multipleOf = 8
            let w = GPTWeights(randomFor: cfg, dtype: dt, seed: 3).output
            var wf = [Float](repeating: 0, count: out * k)
            wf.withUnsafeMutableBufferPointer { p in for j in 0..<out { w.copyRow(j, into: p.baseAddress! + j * k) } }
            for rows in [1, 3, 5, fewRowsMax - 1, fewRowsMax, fewRowsMax + 17] {
                let x = (0..<(rows * k)).map { Float(($0 * 37) % 23) / 23 - 0.5 }
                var y = [Float](repeating: .nan, count: rows * out)
                matmul(x, rows: rows, w, &y)
                var worst = 0.0
                for r in 0..<rows {
                    for j in 0..<out {
                        var ref = 0.0
                        for i in 0..<k { ref += Double(x[r * k + i]) * Double(wf[j * k + i]) }
                        worst = max(worst, abs(Double(y[r * out + j]) - ref))
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "\(label) \(dt) rows \(rows)")
            }
        }
    }
}
