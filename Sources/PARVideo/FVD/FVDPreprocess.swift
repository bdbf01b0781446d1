import Foundation

/// FVD's input convention (tools/fvd/clip_io.py `preprocess`, TATS and
/// StyleGAN-V): the first 16 frames, bilinear resize of the 0..255 values to
/// 224 x 224 with half-pixel centres (PyTorch align_corners=False, no
/// antialias), then x / 127.5 - 1. Rows are resized first, then columns, in
/// float32 with the reference's operation order.
public enum FVDPreprocess {
    public static let frames = 16
    public static let size = 224

    /// Source taps and weights of one output axis, as `_bilinear_taps`.
    static func taps(_ nIn: Int, _ nOut: Int) -> [(Int, Int, Float)] {
        let scale = Double(nIn) / Double(nOut)
        return (0..<nOut).map { d in
            let src = max((Double(d) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(src.rounded(.down)), nIn - 1)
            return (i0, min(i0 + 1, nIn - 1), Float(src - Double(i0)))
        }
    }

    /// `count` RGB frames of `width` x `height` (uint8, frame-major) to
    /// count x size x size x 3 floats in [-1, 1].
    public static func resize(_ pixels: UnsafePointer<UInt8>, count: Int, width: Int, height: Int,
                              size: Int = size) -> [Float] {
        let ty = taps(height, size), tx = taps(width, size)
        let frameOut = size * size * 3
        let scale = Float(1 / 127.5)
        return [Float](unsafeUninitializedCapacity: count * frameOut) { out, n in
            var row = [Float](repeating: 0, count: width * 3)
            for f in 0..<count {
                let src = pixels + f * height * width * 3
                for (oy, (y0, y1, fy)) in ty.enumerated() {
                    let a = src + y0 * width * 3, b = src + y1 * width * 3
                    for i in 0..<(width * 3) {
                        let va = Float(a[i]), vb = Float(b[i])
                        row[i] = va + (vb - va) * fy
                    }
                    let dst = out.baseAddress! + f * frameOut + oy * size * 3
                    for (ox, (x0, x1, fx)) in tx.enumerated() {
                        for c in 0..<3 {
                            let va = row[x0 * 3 + c], vb = row[x1 * 3 + c]
                            dst[ox * 3 + c] = (va + (vb - va) * fx) * scale - 1
                        }
                    }
                }
            }
            n = count * frameOut
        }
    }
}
