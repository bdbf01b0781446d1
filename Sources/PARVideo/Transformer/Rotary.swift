import Foundation

/// A token's place in the cube; rotary angles come from it (docs/METHOD.md, "Rotary positions").
public struct Cell: Sendable, Equatable {
    public var t: Int, y: Int, x: Int
    public init(t: Int, y: Int, x: Int) { self.t = t; self.y = y; self.x = x }
}

/// Rotary frequencies per pair of a head, and which axis each pair follows.
/// Angles are formed in fp32 as the official tables are (freq * position).
public struct Rotary: Sendable {
    public let pairs: Int
    /// 0 = t, 1 = y, 2 = x for each pair.
    let axis: [Int]
    let freq: [Float]

    public init(headDim: Int, mode: RopeMode, base: Float) {
        pairs = headDim / 2
        var axis: [Int] = [], freq: [Float] = []
        func band(_ a: Int, _ count: Int) {
            for i in 0..<count {
                axis.append(a)
                freq.append(1 / powf(base, Float(i) / Float(count)))
            }
        }
        switch mode {
        case .twoD:
            // LlamaGen: first half of the pairs by y, second by x, f[i] = base^(-i/(P/2)).
            band(1, pairs / 2); band(2, pairs - pairs / 2)
        case .threeD:
            let ph = 3 * pairs / 8
            band(0, pairs - 2 * ph); band(1, ph); band(2, ph)
        }
        self.axis = axis; self.freq = freq
    }

    /// cos/sin for one token; nil (class and M tokens) gives cos = sin = 0.
    public func fill(_ cell: Cell?, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        guard let cell else {
            for i in 0..<pairs { cos[i] = 0; sin[i] = 0 }
            return
        }
        let pos = [cell.t, cell.y, cell.x]
        for i in 0..<pairs {
            let angle = Float(pos[axis[i]]) * freq[i]
            cos[i] = Float(Foundation.cos(Double(angle)))
            sin[i] = Float(Foundation.sin(Double(angle)))
        }
    }
}
