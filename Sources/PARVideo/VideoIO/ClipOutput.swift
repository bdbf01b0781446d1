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
