/// The PAR order (docs/METHOD.md, "Token order"): the H x W plane split into s x s regions;
/// sequence index k = (((t*(H/s) + i)*(W/s) + j)*s + a)*s + b for the cell
/// y = a*(H/s) + i, x = b*(W/s) + j. Consecutive groups of n = s*s tokens
/// hold the same offset in every region.
public struct PAROrder: Sendable {
    public let T: Int, H: Int, W: Int, s: Int
    /// cells[k]: the cell at sequence index k.
    public let cells: [Cell]
    /// rasterOf[k]: the (t, y, x) raster index of sequence index k.
    public let rasterOf: [Int]

    public init(T: Int, H: Int, W: Int, parallel n: Int) {
        let s = Int(Double(n).squareRoot().rounded())
        precondition(s * s == n && H % s == 0 && W % s == 0, "parallel \(n) does not tile \(H)x\(W)")
        self.T = T; self.H = H; self.W = W; self.s = s
        let hs = H / s, wsz = W / s
        var cells: [Cell] = [], raster: [Int] = []
        cells.reserveCapacity(T * H * W)
        for t in 0..<T { for i in 0..<hs { for j in 0..<wsz { for a in 0..<s { for b in 0..<s {
            let y = a * hs + i, x = b * wsz + j
            cells.append(Cell(t: t, y: y, x: x))
            raster.append((t * H + y) * W + x)
        } } } } }
        self.cells = cells
        rasterOf = raster
    }

    public var count: Int { cells.count }

    /// Tokens in sequence order -> (t, y, x) order.
    public func toRaster(_ seq: [Int32]) -> [Int32] {
        var out = [Int32](repeating: 0, count: seq.count)
        for k in 0..<seq.count { out[rasterOf[k]] = seq[k] }
        return out
    }

    /// Tokens in (t, y, x) order -> sequence order.
    public func toSequence(_ raster: [Int32]) -> [Int32] {
        rasterOf.map { raster[$0] }
    }
}
