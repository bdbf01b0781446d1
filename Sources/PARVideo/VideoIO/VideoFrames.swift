import Foundation

/// A clip as the rest of the library passes it around: `count` frames of
/// `width` x `height` RGB8, interleaved (R, G, B per pixel, rows top to
/// bottom, frames one after another), shown at `fps` frames per second.
public struct VideoFrames: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var count: Int
    public var fps: Double
    /// count * height * width * 3 bytes.
    public var pixels: [UInt8]

    public static let defaultFPS = 8.0  // UCF-101 clips as PAR samples them

    public init(width: Int, height: Int, count: Int, fps: Double = VideoFrames.defaultFPS, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && count >= 0, "bad clip geometry \(width)x\(height)x\(count)")
        precondition(pixels.count == count * height * width * 3,
                     "pixel buffer holds \(pixels.count) bytes, \(count)x\(height)x\(width)x3 expected")
        self.width = width
        self.height = height
        self.count = count
        self.fps = fps
        self.pixels = pixels
    }

    public var frameBytes: Int { width * height * 3 }

    /// The bytes of frame `index`.
    public func frame(_ index: Int) -> ArraySlice<UInt8> {
        precondition(index >= 0 && index < count, "frame \(index) out of 0..<\(count)")
        return pixels[index * frameBytes ..< (index + 1) * frameBytes]
    }

    /// Frames `range` as a clip of their own.
    public func frames(_ range: Range<Int>) -> VideoFrames {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return VideoFrames(width: width, height: height, count: range.count, fps: fps,
                           pixels: Array(pixels[range.lowerBound * frameBytes ..< range.upperBound * frameBytes]))
    }
}

/// Memory layouts of float clips coming out of the tokenizer.
public enum FloatClipLayout: Sendable {
    /// T x H x W x 3 (channels last).
    case thwc
    /// T x 3 x H x W (channel planes per frame, PyTorch's video layout per frame).
    case tchw
    /// 3 x T x H x W (channel first over the whole clip, the tokenizer's C,T,H,W).
    case cthw
}

extension VideoFrames {
    /// Converts pixels in [0, 1] to RGB8: clamp, scale by 255, round to nearest
    /// (NaN becomes 0), so 0.5 -> 128 as PIL and torchvision do.
    public init(floats: [Float], count: Int, height: Int, width: Int,
                layout: FloatClipLayout = .thwc, fps: Double = VideoFrames.defaultFPS) {
        let plane = height * width
        precondition(floats.count == count * plane * 3,
                     "float clip holds \(floats.count) values, \(count)x\(height)x\(width)x3 expected")
        var out = [UInt8](repeating: 0, count: floats.count)
        @inline(__always) func quantize(_ v: Float) -> UInt8 {
            guard v > 0 else { return 0 }  // also NaN
            return v >= 1 ? 255 : UInt8((v * 255).rounded(.toNearestOrAwayFromZero))
        }
        floats.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                switch layout {
                case .thwc:
                    for i in 0..<src.count { dst[i] = quantize(src[i]) }
                case .tchw:
                    for t in 0..<count {
                        for c in 0..<3 {
                            let s = (t * 3 + c) * plane
                            for p in 0..<plane { dst[(t * plane + p) * 3 + c] = quantize(src[s + p]) }
                        }
                    }
                case .cthw:
                    for c in 0..<3 {
                        for t in 0..<count {
                            let s = (c * count + t) * plane
                            for p in 0..<plane { dst[(t * plane + p) * 3 + c] = quantize(src[s + p]) }
                        }
                    }
                }
            }
        }
        self.init(width: width, height: height, count: count, fps: fps, pixels: out)
    }

    /// RGB8 back to floats in [0, 1] (value / 255) in the given layout.
    public func floats(layout: FloatClipLayout = .thwc) -> [Float] {
        let plane = height * width
        var out = [Float](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for t in 0..<count {
                    for p in 0..<plane {
                        for c in 0..<3 {
                            let v = Float(src[(t * plane + p) * 3 + c]) / 255
                            switch layout {
                            case .thwc: dst[(t * plane + p) * 3 + c] = v
                            case .tchw: dst[(t * 3 + c) * plane + p] = v
                            case .cthw: dst[(c * count + t) * plane + p] = v
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Peak signal-to-noise ratio in dB over all bytes (infinity when equal).
    public func psnr(against other: VideoFrames) -> Double {
        precondition(width == other.width && height == other.height && count == other.count,
                     "PSNR needs clips of the same geometry")
        var sum = 0.0
        for i in 0..<pixels.count {
            let d = Double(Int(pixels[i]) - Int(other.pixels[i]))
            sum += d * d
        }
        guard sum > 0 else { return .infinity }
        let mse = sum / Double(pixels.count)
        return 10 * log10(255 * 255 / mse)
    }
}
