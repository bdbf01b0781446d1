import Foundation

/// An MP4, a PNG frame folder, or both, at given paths: OutputTarget for
/// callers that name the files themselves (batch's per-clip files), which
/// replace what is there as their own resume rules decide.
public enum ClipOutput {
    public static func write(_ clip: VideoFrames, mp4: URL?, frames: URL?,
                             options: VideoEncodeOptions = .init()) throws {
        try target(mp4: mp4, frames: frames).write(clip, options: options)
    }

    /// Everything `write` needs, checked before any work: both outputs can
    /// be created (names, folders, kinds), and the encoders accept the clip.
    public static func preflight(width: Int, height: Int, fps: Double, mp4: URL?, frames: URL?,
                                 options: VideoEncodeOptions = .init()) throws {
        try target(mp4: mp4, frames: frames).preflight(width: width, height: height, fps: fps, options: options)
    }

    /// The MP4 encoder (opened and closed with these settings) and the PNG
    /// encoder accept a `width` x `height` clip at `fps` with `options`:
    /// a size or rate the encoder refuses is one line before rendering.
    public static func preflightEncoders(width: Int, height: Int, fps: Double, mp4: Bool, frames: Bool,
                                         options: VideoEncodeOptions, path: String) throws {
        let url = URL(fileURLWithPath: path.isEmpty ? "clip" : path)
        try target(mp4: mp4 ? url : nil, frames: frames ? url : nil)
            .preflightEncoders(width: width, height: height, fps: fps, options: options)
    }

    private static func target(mp4: URL?, frames: URL?) -> OutputTarget {
        precondition(mp4 != nil || frames != nil, "ClipOutput needs an MP4 path or a frame folder")
        return OutputTarget(video: mp4.map { .init(container: .mp4, url: $0) }, frames: frames, overwrite: true)
    }
}
