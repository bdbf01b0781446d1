/// A decoded clip: T x H x W codebook indices in (t, y, x) order.
public struct TokenCube: Sendable, Equatable {
    public let T: Int, H: Int, W: Int
    public var tokens: [Int32]

    public init(T: Int, H: Int, W: Int, tokens: [Int32]) {
        precondition(tokens.count == T * H * W)
        self.T = T; self.H = H; self.W = W; self.tokens = tokens
    }

    public subscript(t: Int, y: Int, x: Int) -> Int32 { tokens[(t * H + y) * W + x] }
}
