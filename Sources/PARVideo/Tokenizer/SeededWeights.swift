import Foundation

/// Random tokenizer weights generated from a seed, bit for bit the same as
/// `seeded_weights` in tools/reference/magvit2_reference.py: element k of tensor `name`
/// is splitmix64(fnv1a64(name) ^ seed, k+1) mapped to a 24-bit uniform in
/// [-1, 1), then scaled per tensor kind. Lets tests and the benchmark run the
/// full-size NBP decoder without shipping 225M parameters.
public struct SeededTokenizerWeights: TokenizerWeights {
    public let seed: UInt64
    /// Round convolution kernels to bf16 (as a BF16 bundle would store them).
    public let bf16: Bool
    private let lastDecoderConv: String

    public init(config: TokenizerConfig, seed: UInt64, bf16: Bool = false) {
        self.seed = seed
        self.bf16 = bf16
        let d = config.decoder
        let count = 1 + d.resUnits[0] + (1..<d.channels.count).reduce(0) { $0 + 2 + d.resUnits[$1] } + 3
        lastDecoderConv = "decoder_layers.\(count - 1).conv."
    }

    public var tensorNames: [String] { [] }

    public func storedDType(_ name: String) -> DType { bf16 && !name.hasSuffix("bias") && !name.hasSuffix("beta") ? .bf16 : .f32 }

    static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    public static func uniform(_ name: String, seed: UInt64, count: Int) -> [Float] {
        let key = fnv1a64(name) ^ seed
        return [Float](unsafeUninitializedCapacity: count) { buf, n in
            for k in 0..<count {
                var z = key &+ UInt64(k + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                buf[k] = Float(z >> 40) * 0x1p-23 - 1
            }
            n = count
        }
    }

    public func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        var v = Self.uniform(name, seed: seed, count: shape.reduce(1, *))
        if name.hasSuffix(".beta") {
            for i in v.indices { v[i] = 1 + 0.25 * v[i] }
        } else if shape.count == 5 {
            let s = Float((3.0 / Double(shape[1...].reduce(1, *))).squareRoot())
            for i in v.indices { v[i] *= s }
        } else if name.hasSuffix(".bias") {
            for i in v.indices { v[i] *= 0.1 }
        } else {
            for i in v.indices { v[i] = 1 + 0.1 * v[i] }
        }
        if name.hasPrefix(lastDecoderConv) {
            let isBias = name.hasSuffix("bias")
            for i in v.indices { v[i] = isBias ? 0.1 * v[i] + 0.5 : 0.1 * v[i] }
        }
        if bf16 && shape.count == 5 {
            for i in v.indices { v[i] = roundToBF16(v[i]) }
        }
        return v
    }
}

/// fp32 -> nearest bf16 value (round to nearest even), kept as fp32.
@inline(__always)
func roundToBF16(_ x: Float) -> Float {
    let u = x.bitPattern
    return Float(bitPattern: ((u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16) << 16)
}
