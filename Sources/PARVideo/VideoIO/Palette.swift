/// One palette for a whole clip, as ffmpeg's palettegen makes it (median
/// cut over the colours of every frame), and the mapping of pixels to it
/// (paletteuse without dithering: the nearest colour). One palette for all
/// frames keeps a colour the same colour from frame to frame; no dithering
/// keeps still areas still, which keeps the GIF small.
struct Palette {
    /// RGB triples, at most `maxColors`.
    private(set) var colors: [(r: UInt8, g: UInt8, b: UInt8)] = []

    /// 255 colours: the 256th GIF index stays free for the encoder's
    /// "unchanged since the last frame" transparency.
    static let maxColors = 255

    /// Median cut of `pixels` (packed RGB8) on a 5-bit-per-channel histogram;
    /// each colour is the mean of the pixels of its box.
    init(rgb pixels: [UInt8], maxColors: Int = Palette.maxColors) {
        precondition(maxColors >= 1 && pixels.count % 3 == 0)
        var count = [Int](repeating: 0, count: 1 << 15)
        var sum = [Int](repeating: 0, count: 3 << 15)
        pixels.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                let key = Palette.key(p[i], p[i + 1], p[i + 2])
                count[key] += 1
                sum[3 * key] += Int(p[i]); sum[3 * key + 1] += Int(p[i + 1]); sum[3 * key + 2] += Int(p[i + 2])
                i += 3
            }
        }
        var bins = (0..<(1 << 15)).filter { count[$0] > 0 }
        // Boxes are ranges of `bins`; split the one with the largest spread.
        var boxes: [Range<Int>] = bins.isEmpty ? [] : [0..<bins.count]
        func channel(_ key: Int, _ c: Int) -> Int { (key >> (10 - 5 * c)) & 31 }
        func spread(_ box: Range<Int>) -> (score: Int, channel: Int) {
            var best = (score: 0, channel: 0)
            for c in 0..<3 {
                var n = 0, s = 0, s2 = 0
                for k in bins[box] { let v = channel(k, c), w = count[k]; n += w; s += w * v; s2 += w * v * v }
                let score = s2 - s * s / max(n, 1)  // n times the variance
                if score > best.score { best = (score, c) }
            }
            return best
        }
        var scores = boxes.map(spread)
        while boxes.count < maxColors {
            guard let pick = scores.indices.max(by: { scores[$0].score < scores[$1].score }),
                  scores[pick].score > 0 else { break }
            let box = boxes[pick], c = scores[pick].channel
            bins[box].sort { (channel($0, c), $0) < (channel($1, c), $1) }
            // Split at the weighted median, leaving at least one bin on each side.
            let total = bins[box].reduce(0) { $0 + count[$1] }
            var acc = 0, cut = box.lowerBound + 1
            for i in box.dropLast() {
                acc += count[bins[i]]
                cut = i + 1
                if 2 * acc >= total { break }
            }
            boxes[pick] = box.lowerBound..<cut
            scores[pick] = spread(boxes[pick])
            boxes.append(cut..<box.upperBound)
            scores.append(spread(boxes.last!))
        }
        for box in boxes {
            var n = 0, r = 0, g = 0, b = 0
            for k in bins[box] { n += count[k]; r += sum[3 * k]; g += sum[3 * k + 1]; b += sum[3 * k + 2] }
            colors.append((UInt8((r + n / 2) / n), UInt8((g + n / 2) / n), UInt8((b + n / 2) / n)))
        }
    }

    @inline(__always) private static func key(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int {
        Int(r >> 3) << 10 | Int(g >> 3) << 5 | Int(b >> 3)
    }

    /// The palette index nearest (squared RGB distance, lowest index on a tie)
    /// to each pixel of `pixels` (packed RGB8), one byte a pixel.
    func indices(rgb pixels: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pixels.count / 3)
        var cache: [UInt32: UInt8] = [:]
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<out.count {
                let r = p[3 * i], g = p[3 * i + 1], b = p[3 * i + 2]
                let rgb = UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)
                if let hit = cache[rgb] { out[i] = hit; continue }
                var best = 0, bestD = Int.max
                for (j, c) in colors.enumerated() {
                    let dr = Int(c.r) - Int(r), dg = Int(c.g) - Int(g), db = Int(c.b) - Int(b)
                    let d = dr * dr + dg * dg + db * db
                    if d < bestD { bestD = d; best = j }
                }
                cache[rgb] = UInt8(best)
                out[i] = UInt8(best)
            }
        }
        return out
    }
}
