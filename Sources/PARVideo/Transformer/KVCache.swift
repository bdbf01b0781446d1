/// Keys and values of every layer for `seqs` sequences of up to `maxLen`
/// positions, laid out [seq][kv head][position][head dim] so that one head's
/// keys are contiguous for the attention loop.
public final class KVCache: @unchecked Sendable {
    public let seqs: Int, maxLen: Int, kvHeads: Int, headDim: Int
    let keys: [FloatBuffer], values: [FloatBuffer]

    public init(layers: Int, seqs: Int, maxLen: Int, kvHeads: Int, headDim: Int) {
        self.seqs = seqs; self.maxLen = maxLen; self.kvHeads = kvHeads; self.headDim = headDim
        let count = seqs * kvHeads * maxLen * headDim
        keys = (0..<layers).map { _ in FloatBuffer(count) }
        values = (0..<layers).map { _ in FloatBuffer(count) }
    }

    public var bytes: Int { 2 * keys.count * seqs * kvHeads * maxLen * headDim * 4 }

    /// Stores one head's key and value for sequence `seq` at `pos`.
    @inline(__always)
    func store(layer: Int, seq: Int, head: Int, pos: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let off = ((seq * kvHeads + head) * maxLen + pos) * headDim
        (keys[layer].ptr + off).update(from: key, count: headDim)
        (values[layer].ptr + off).update(from: value, count: headDim)
    }
}
