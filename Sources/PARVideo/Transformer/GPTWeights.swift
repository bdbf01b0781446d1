import Foundation

/// One transformer block's weights (official state-dict names).
struct BlockWeights {
    let wqkv, wo, w1, w2, w3: WeightMatrix
    let attentionNorm, ffnNorm: [Float]
}

/// All weights of a PAR/LlamaGen GPT, viewing the mapped file (or a buffer).
public struct GPTWeights: @unchecked Sendable {
    let tokEmbeddings: WeightMatrix      // vocab x dim
    let clsEmbedding: WeightMatrix       // (classes + 1) x dim, last row = null class
    let specialEmbeddings: WeightMatrix? // (n - 1) x dim, the M tokens
    let blocks: [BlockWeights]
    let norm: [Float]
    public let output: WeightMatrix      // vocab x dim

    /// Bytes read by one forward pass over every weight (embeddings excluded).
    public var streamedBytes: Int {
        blocks.reduce(output.bytes) { $0 + $1.wqkv.bytes + $1.wo.bytes + $1.w1.bytes + $1.w2.bytes + $1.w3.bytes }
    }

    /// Checks every named tensor's shape and dtype against the config.
    public init(config c: GPTConfig, file: SafeTensorsFile) throws {
        let floats: Set<DType> = [.f32, .f16, .bf16]
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> WeightMatrix {
            let info = try file.info(name, shape: [rows, cols], dtypes: floats)
            return WeightMatrix(rows: rows, cols: cols, dtype: info.dtype, data: file.bytes(info).baseAddress ?? UnsafeRawPointer(bitPattern: 16)!, owner: file)
        }
        func vector(_ name: String) throws -> [Float] { try file.floats(name, shape: [c.dim]) }
        let qkvRows = (c.nHead + 2 * c.kvHeads) * c.headDim
        tokEmbeddings = try matrix("tok_embeddings.weight", c.vocabSize, c.dim)
        clsEmbedding = try matrix("cls_embedding.embedding_table.weight", c.numClasses + 1, c.dim)
        if c.parallel > 1 {
            specialEmbeddings = try matrix("spe_tok_embeddings.special_embeddings.weight", c.parallel - 1, c.dim)
        } else {
            specialEmbeddings = nil
        }
        blocks = try (0..<c.nLayer).map { i in
            let p = "layers.\(i)."
            return BlockWeights(
                wqkv: try matrix(p + "attention.wqkv.weight", qkvRows, c.dim),
                wo: try matrix(p + "attention.wo.weight", c.dim, c.nHead * c.headDim),
                w1: try matrix(p + "feed_forward.w1.weight", c.ffnHidden, c.dim),
                w2: try matrix(p + "feed_forward.w2.weight", c.dim, c.ffnHidden),
                w3: try matrix(p + "feed_forward.w3.weight", c.ffnHidden, c.dim),
                attentionNorm: try vector(p + "attention_norm.weight"),
                ffnNorm: try vector(p + "ffn_norm.weight"))
        }
        norm = try vector("norm.weight")
        output = try matrix("output.weight", c.vocabSize, c.dim)
    }

    /// Random weights made in memory (benchmarks): N(0, 0.02)-like values,
    /// norms at 1, in the given dtype.
    public init(randomFor c: GPTConfig, dtype: DType, seed: UInt64 = 1) {
        var counter: UInt64 = seed &* 0x9E3779B97F4A7C15
        func matrix(_ rows: Int, _ cols: Int) -> WeightMatrix {
            let buf = RawWeights(count: rows * cols, dtype: dtype, seed: counter)
            counter &+= 0x632BE59BD9B4E019
            return WeightMatrix(rows: rows, cols: cols, dtype: dtype, data: UnsafeRawPointer(buf.ptr), owner: buf)
        }
        let qkvRows = (c.nHead + 2 * c.kvHeads) * c.headDim
        tokEmbeddings = matrix(c.vocabSize, c.dim)
        clsEmbedding = matrix(c.numClasses + 1, c.dim)
        specialEmbeddings = c.parallel > 1 ? matrix(c.parallel - 1, c.dim) : nil
        blocks = (0..<c.nLayer).map { _ in
            BlockWeights(wqkv: matrix(qkvRows, c.dim), wo: matrix(c.dim, c.dim),
                         w1: matrix(c.ffnHidden, c.dim), w2: matrix(c.dim, c.ffnHidden), w3: matrix(c.ffnHidden, c.dim),
                         attentionNorm: [Float](repeating: 1, count: c.dim), ffnNorm: [Float](repeating: 1, count: c.dim))
        }
        norm = [Float](repeating: 1, count: c.dim)
        output = matrix(c.vocabSize, c.dim)
    }
}

/// A heap buffer of random weights (uniform, std 0.02), filled in 64 chunks
/// with their own seeds, so the values do not depend on the thread count.
final class RawWeights: @unchecked Sendable {
    let ptr: UnsafeMutableRawPointer
    init(count: Int, dtype: DType, seed: UInt64) {
        ptr = .allocate(byteCount: max(1, count * dtype.byteSize), alignment: 64)
        let p = ptr
        let chunks = 64
        let per = (count + chunks - 1) / chunks
        Parallel.forEach(chunks) { c in
            var state = seed ^ (UInt64(c) &* 0xD1B54A32D192ED03)
            let lo = min(count, c * per), hi = min(count, (c + 1) * per)
            for i in lo..<hi {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let u = Float(UInt32(truncatingIfNeeded: state >> 40)) / Float(1 << 24) - 0.5
                let v = u * 0.0693  // uniform on [-0.0346, 0.0346]: std 0.02
                switch dtype {
                case .f32: p.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self)
                case .f16: p.storeBytes(of: Float16(v), toByteOffset: 2 * i, as: Float16.self)
                default: p.storeBytes(of: UInt16(truncatingIfNeeded: v.bitPattern >> 16), toByteOffset: 2 * i, as: UInt16.self)
                }
            }
        }
    }
    deinit { ptr.deallocate() }
}
