/// An output size as `--size` gives it: `WxH`, or `N` for N x N.
public struct FrameSize: CustomStringConvertible, Equatable, Sendable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) { (self.width, self.height) = (width, height) }

    /// Nil for anything but two positive integers around one x (or one alone).
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!), w > 0, h > 0 else {
            return nil
        }
        (width, height) = (w, h)
    }

    public var description: String { "\(width)x\(height)" }

    /// Why the encoder cannot write this size, or nil: both sides even
    /// (yuv420p halves the chroma), at most 4096.
    public var problem: String? {
        guard width % 2 == 0, height % 2 == 0 else { return "width and height must be even (H.264 yuv420p)" }
        guard width <= 4096, height <= 4096 else { return "at most 4096x4096" }
        return nil
    }

    public var pair: (width: Int, height: Int) { (width, height) }
}
