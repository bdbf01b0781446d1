import Foundation

/// Random vq2d weights from a seed, bit for bit the same as `seeded_weights`
/// in tools/reference/vq2d_reference.py (SeededTokenizerWeights.uniform per tensor, then
/// conv kernels scaled by sqrt(3 / fan_in), biases by 0.1, norm gains 1 + 0.1 u,
/// codebook rows as drawn). Lets tests and the benchmark run the full-size
/// decoder without shipping its weights.
public struct SeededVQWeights: TokenizerWeights {
    public let seed: UInt64
    /// Round conv kernels to bf16 (as a BF16 bundle would store them).
    public let bf16: Bool

    public init(seed: UInt64, bf16: Bool = false) { self.seed = seed; self.bf16 = bf16 }

    public var tensorNames: [String] { [] }

    public func storedDType(_ name: String) -> DType { bf16 && name.hasSuffix(".weight") && !name.hasPrefix("quantize.") ? .bf16 : .f32 }

    public func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        var v = SeededTokenizerWeights.uniform(name, seed: seed, count: shape.reduce(1, *))
        if shape.count == 4 {
            let s = Float((3.0 / Double(shape[1...].reduce(1, *))).squareRoot())
            for i in v.indices { v[i] *= s }
            if bf16 { for i in v.indices { v[i] = roundToBF16(v[i]) } }
        } else if name.hasSuffix(".bias") {
            for i in v.indices { v[i] *= 0.1 }
        } else if name != "quantize.embedding.weight" {
            for i in v.indices { v[i] = 1 + 0.1 * v[i] }
        }
        return v
    }
}
