import Foundation

/// Writes one clip as an MP4, a PNG frame folder, or both (`--format both`).
/// Each output is atomic; with both, the MP4 is renamed into place only after
/// the frame folder is complete, and a failure of either leaves no MP4.
public enum ClipOutput {
    public static func write(_ clip: VideoFrames, mp4: URL?, frames: URL?,
                             options: VideoEncodeOptions = .init()) throws {
        precondition(mp4 != nil || frames != nil, "ClipOutput.write needs an MP4 path or a frame folder")
        // Frames carry the output size too, so both outputs show the same pixels.
        func framesClip() throws -> VideoFrames {
            guard let size = options.size else { return clip }
            return try clip.resized(width: size.width, height: size.height)
        }
        guard let mp4 else { return try FrameFolder.write(framesClip(), to: frames!) }
        if let frames { try AtomicOutput.checkWritable(frames, directory: true) }
        try VideoWriter.validate(clip, options: options, path: mp4.path)
        try AtomicOutput.write(to: mp4) { tmp in
            try VideoWriter.encode(clip, to: tmp.path, options: options)
            if let frames { try FrameFolder.write(framesClip(), to: frames) }
        }
    }
}

extension ClipOutput {
    /// Everything `write` needs, checked before any work: both outputs can
    /// be created (names, folders, kinds), and the encoders accept the clip.
    public static func preflight(width: Int, height: Int, fps: Double, mp4: URL?, frames: URL?,
                                 options: VideoEncodeOptions = .init()) throws {
        if let mp4 { try AtomicOutput.checkWritable(mp4, directory: false) }
        if let frames { try AtomicOutput.checkWritable(frames, directory: true) }
        try preflightEncoders(width: width, height: height, fps: fps, mp4: mp4 != nil, frames: frames != nil,
                              options: options, path: (mp4 ?? frames)?.path ?? "")
    }

    /// The MP4 encoder (opened and closed with these settings) and the PNG
    /// encoder accept a `width` x `height` clip at `fps` with `options`:
    /// a size or rate the encoder refuses is one line before rendering.
    public static func preflightEncoders(width: Int, height: Int, fps: Double, mp4: Bool, frames: Bool,
                                         options: VideoEncodeOptions, path: String) throws {
        if mp4 { try VideoWriter.preflight(width: width, height: height, fps: fps, options: options, path: path) }
        if frames {
            let w = options.size?.width ?? width, h = options.size?.height ?? height
            guard w > 0, h > 0 else { throw VideoIOError("cannot write \(path): frame size \(w)x\(h)") }
            _ = try PNGEncoder(width: w, height: h)
        }
    }
}
