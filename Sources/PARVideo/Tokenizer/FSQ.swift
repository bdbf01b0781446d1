/// Finite scalar quantization as NBP's `quantizers/fsq.py` defines it: digit i
/// of an index is (index / basis_i) mod L_i with basis = exclusive cumulative
/// product of the levels (the first level varies fastest), and the code value
/// is (digit - L/2) / (L/2) with integer halves.
public struct FSQ: Sendable {
    public let levels: [Int]
    public let basis: [Int]
    public let vocabularySize: Int

    public init(levels: [Int]) throws {
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 2 }) else {
            throw TokenizerError("FSQ levels must be at least 2 each, got \(levels)")
        }
        // Token ids are Int32 and index the GPT's embedding: the same limit as its vocabulary.
        guard let vocab = Checked.product(levels), vocab <= GPTConfig.Limits.vocab else {
            throw TokenizerError("FSQ levels \(levels) give more than \(GPTConfig.Limits.vocab) tokens")
        }
        self.levels = levels
        var b = [1]
        for l in levels.dropLast() { b.append(b.last! * l) }
        basis = b
        vocabularySize = vocab
    }

    public var dimension: Int { levels.count }

    public func digits(_ index: Int) -> [Int] {
        zip(basis, levels).map { (index / $0) % $1 }
    }

    /// The code vector of one index (length `dimension`, values in [-1, 1]).
    public func codes(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<levels.count {
            let half = levels[i] / 2
            out[i] = Float((index / basis[i]) % levels[i] - half) / Float(half)
        }
    }

    public func codes(_ index: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: levels.count) { buf, n in
            codes(index, into: buf.baseAddress!); n = levels.count
        }
    }

    /// Inverse of `codes` for values on the grid (rounds to the nearest level).
    public func index(codes: UnsafePointer<Float>) -> Int {
        var idx = 0
        for i in 0..<levels.count {
            let half = Float(levels[i] / 2)
            let d = Int((codes[i] * half + half).rounded(.toNearestOrEven))
            idx += min(max(d, 0), levels[i] - 1) * basis[i]
        }
        return idx
    }

    /// NBP's quantizer on one latent vector: bound with tanh so that even levels
    /// sit symmetric, round half to even, return the index.
    public func quantize(_ z: UnsafePointer<Float>) -> Int {
        var idx = 0
        for i in 0..<levels.count {
            let l = Double(levels[i])
            let halfL = (l - 1) * (1 - 1e-3) / 2
            let offset = levels[i] % 2 == 0 ? 0.5 : 0.0
            let shift = Foundation.tan(offset / halfL)
            let bounded = Foundation.tanh(Double(z[i]) + shift) * halfL - offset
            let q = Int(bounded.rounded(.toNearestOrEven))  // in [-L/2, (L-1)/2]
            idx += (q + levels[i] / 2) * basis[i]
        }
        return idx
    }
}

import Foundation

public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
