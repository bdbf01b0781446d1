import Foundation

/// PyTorch's `F.interpolate(x, size, mode="bicubic", align_corners=False)`
/// (no antialias) on an H x W x C float image: what LlamaGen's and PAR's
/// `sample_c2i_ddp.py` apply to the decoder output before quantising when
/// the evaluation size differs (384 -> 256). The cubic kernel has A = -0.75,
/// source positions (d + 0.5) * in / out - 0.5 unclamped, taps clamped to the
/// border, and each output mixes four rows of four columns as PyTorch does.
public enum Bicubic {
    static let a: Float = -0.75

    /// The four weights of fractional offset `t`.
    static func weights(_ t: Float) -> (Float, Float, Float, Float) {
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return (far(t + 1), near(t), near(1 - t), far(2 - t))
    }

    /// First tap (before clamping) and weights of each output index of one axis.
    static func taps(_ nIn: Int, _ nOut: Int) -> [(first: Int, w: (Float, Float, Float, Float))] {
        let scale = Float(nIn) / Float(nOut)
        return (0..<nOut).map { d in
            let src = scale * (Float(d) + 0.5) - 0.5
            let i = src.rounded(.down)
            return (Int(i) - 1, weights(src - i))
        }
    }

    public static func resize(_ x: [Float], height: Int, width: Int, channels: Int, toHeight oh: Int, toWidth ow: Int) -> [Float] {
        precondition(x.count == height * width * channels && oh > 0 && ow > 0, "bicubic: bad sizes")
        if oh == height, ow == width { return x }
        let ty = taps(height, oh), tx = taps(width, ow)
        var out = [Float](repeating: 0, count: oh * ow * channels)
        @inline(__always) func clampY(_ i: Int) -> Int { min(max(i, 0), height - 1) }
        @inline(__always) func clampX(_ i: Int) -> Int { min(max(i, 0), width - 1) }
        x.withUnsafeBufferPointer { src in
            for (oy, (y0, wy)) in ty.enumerated() {
                let rows = (0..<4).map { clampY(y0 + $0) * width }
                for (ox, (x0, wx)) in tx.enumerated() {
                    let cols = (0..<4).map { clampX(x0 + $0) }
                    for c in 0..<channels {
                        func row(_ r: Int) -> Float {
                            let p = rows[r]
                            return src[(p + cols[0]) * channels + c] * wx.0 + src[(p + cols[1]) * channels + c] * wx.1
                                + src[(p + cols[2]) * channels + c] * wx.2 + src[(p + cols[3]) * channels + c] * wx.3
                        }
                        out[(oy * ow + ox) * channels + c] = row(0) * wy.0 + row(1) * wy.1 + row(2) * wy.2 + row(3) * wy.3
                    }
                }
            }
        }
        return out
    }
}
