import Foundation

extension ImagePipeline {
    /// Images at most this many to a forward pass (`images`).
    public static let imagesPerPass = 8

    /// `count` images of one class, image k drawing from stream `seed + k`,
    /// as frames of one clip; with `grid`, one contact sheet of them.
    public func images(classID: Int, count: Int, seed: UInt64, options: SamplingOptions, grid: Bool,
                       timings: inout RenderTimings, progress: ((RenderProgress) -> Void)? = nil) throws -> VideoFrames {
        let (w, h) = frameSize
        var out = VideoFrames(width: w, height: h, count: 0, fps: 1, pixels: [])
        for start in stride(from: 0, to: count, by: Self.imagesPerPass) {
            let n = min(Self.imagesPerPass, count - start)
            let seeds = (start..<(start + n)).map { seed &+ UInt64($0) }
            for image in try renderFrames(actions: Array(repeating: classID, count: n), seeds: seeds, options: options, fps: 1,
                                          frames: 1, timings: &timings, progress: progress) {
                out.pixels += image.pixels
                out.count += 1
            }
        }
        return grid ? ContactSheet.make(out) : out
    }
}

/// Images side by side in a near-square grid, 2 black pixels between and
/// around them (torchvision's `make_grid` layout, `save_image`'s default).
public enum ContactSheet {
    public static let padding = 2

    public static func columns(_ count: Int) -> Int { Int(Double(count).squareRoot().rounded(.up)) }

    /// One frame holding every frame of `images`, row by row.
    public static func make(_ images: VideoFrames) -> VideoFrames {
        let n = images.count, cols = columns(n), rows = (n + cols - 1) / cols, p = padding
        let w = cols * (images.width + p) + p, h = rows * (images.height + p) + p
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let row = images.width * 3
        for i in 0..<n {
            let x0 = p + (i % cols) * (images.width + p), y0 = p + (i / cols) * (images.height + p)
            for y in 0..<images.height {
                let src = i * images.frameBytes + y * row
                pixels.replaceSubrange(((y0 + y) * w + x0) * 3..<((y0 + y) * w + x0) * 3 + row, with: images.pixels[src..<(src + row)])
            }
        }
        return VideoFrames(width: w, height: h, count: 1, fps: 1, pixels: pixels)
    }

    /// Width and height of the sheet of `count` images of `width` x `height`.
    public static func size(count: Int, width: Int, height: Int) -> (width: Int, height: Int) {
        let cols = columns(count), rows = (count + cols - 1) / cols
        return (cols * (width + padding) + padding, rows * (height + padding) + padding)
    }
}

extension OutputTarget {
    /// An image model's `-o` against `--count` and `--grid`: one image file
    /// holds one image or a grid; more go to a folder of PNG images.
    public func checkStills(count: Int, grid: Bool) throws {
        if let image, count > 1, !grid {
            throw VideoIOError("-o \(image.url.path): --count \(count) makes \(count) images; give a folder (-o DIR/) or --grid for one contact sheet")
        }
    }
}
