import Foundation

/// A chunk of video features, channels last: frames x height x width x channels,
/// 64-byte aligned so SIMD and BLAS see aligned rows.
final class Activation {
    let frames, height, width, channels: Int
    let data: UnsafeMutablePointer<Float>

    init(frames: Int, height: Int, width: Int, channels: Int) {
        self.frames = frames; self.height = height; self.width = width; self.channels = channels
        var raw: UnsafeMutableRawPointer?
        let bytes = max(1, frames * height * width * channels) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory (\(bytes) bytes)") }
        data = raw.bindMemory(to: Float.self, capacity: bytes / 4)
    }

    deinit { free(data) }

    var count: Int { frames * height * width * channels }
    var frameSize: Int { height * width * channels }
    func frame(_ t: Int) -> UnsafeMutablePointer<Float> { data + t * frameSize }

    /// A copy of frames [from, from + n).
    func frames(from: Int, count n: Int) -> Activation {
        let a = Activation(frames: n, height: height, width: width, channels: channels)
        memcpy(a.data, frame(from), n * frameSize * 4)
        return a
    }
}
