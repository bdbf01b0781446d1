import Foundation

/// What `--format` asks for: a video file, a PNG frame folder, or both.
/// `mp4` is the historical name of "a video file" with H.264 in it.
public enum OutputFormat: String, Sendable, CaseIterable {
    case mp4, frames, both
}

/// Where a command's output goes, parsed once from `-o` (and `--format`)
/// and shared by every command that writes a clip:
///
///     OUT.mp4 .mov .mkv   H.264 (mpeg4 without libx264)
///     OUT.webm            VP9 (libvpx)
///     OUT.gif             animated GIF, one palette for the clip
///     -                   fragmented MP4 on standard output
///     OUT/ or OUT         a folder of PNG frames (no extension)
///     OUT.png .jpg .webp  one still image (image models: `stills`)
///
/// `--format frames` makes OUT a frame folder whatever its name; `--format
/// both` writes the video file OUT and the frames to OUT without its
/// extension; `--format mp4` insists on an H.264 file (.mp4, .mov, .mkv, -).
/// Anything at OUT is replaced only with `overwrite` (ffmpeg's -y).
public struct OutputTarget: Sendable {
    public struct Video: Sendable, Equatable {
        public var container: VideoContainer
        /// nil: standard output.
        public var url: URL?
        public init(container: VideoContainer, url: URL?) { self.container = container; self.url = url }
        var path: String { url?.path ?? "standard output" }
    }

    public struct Image: Sendable, Equatable {
        public var format: ImageFormat
        public var url: URL
    }

    public var video: Video?
    public var frames: URL?
    /// One still image (an image model's output).
    public var image: Image?
    public var overwrite: Bool

    public init(video: Video?, frames: URL?, overwrite: Bool = false) {
        precondition(video != nil || frames != nil, "an output target needs a video or a frame folder")
        self.video = video
        self.frames = frames
        self.overwrite = overwrite
    }

    /// The outputs `-o` accepts, for help texts and errors.
    public static let supported = ".mp4, .mov, .mkv (H.264), .webm (VP9), .gif, - (MP4 on standard output), "
        + "or a folder for PNG frames (a path ending in / or without an extension)"

    /// What an image model writes, for help texts and errors.
    public static let supportedStills = ".png, .jpg, .webp, or a folder for PNG images (a path ending in / or without an extension)"

    /// `-o output` with `--format format` (nil: by the extension alone).
    /// `stills`: true for an image model (a still image or a PNG folder),
    /// false for a clip, nil while the model is not known yet (either).
    public init(parsing output: String, format: OutputFormat? = nil, overwrite: Bool = false, stills: Bool? = false) throws {
        self.overwrite = overwrite
        let suffix = output.hasSuffix("/") ? "" : URL(fileURLWithPath: output).pathExtension
        if let still = ImageFormat.forExtension(suffix), format == nil, stills != false {
            image = Image(format: still, url: URL(fileURLWithPath: output))
            return
        }
        if stills == true {
            guard !output.isEmpty else { throw VideoIOError("-o: the output path is empty") }
            guard output != "-", format == nil || format == .frames, format == .frames || suffix.isEmpty else {
                throw VideoIOError("-o \(output)\(format.map { " --format " + $0.rawValue } ?? ""): an image model writes \(Self.supportedStills)")
            }
            frames = URL(fileURLWithPath: output)
            return
        }
        if output == "-" {
            guard format == nil || format == .mp4 else {
                throw VideoIOError("-o -: --format \(format!.rawValue) writes a frame folder, which cannot go to standard output")
            }
            video = Video(container: .fragmentedMP4, url: nil)
            return
        }
        guard !output.isEmpty else { throw VideoIOError("-o: the output path is empty") }
        let url = URL(fileURLWithPath: output)
        let folderName = output.hasSuffix("/")
        let ext = folderName ? "" : url.pathExtension
        let container = VideoContainer.forExtension(ext)
        switch format {
        case .frames:
            frames = url
        case nil:
            if ext.isEmpty {
                frames = url
            } else {
                guard let container else { throw Self.unsupported(output, ext: ext) }
                video = Video(container: container, url: url)
            }
        case .mp4:
            guard let container, container.holdsH264 else {
                throw VideoIOError("-o \(output): --format mp4 writes .mp4, .mov, .mkv or -"
                                   + (container == nil ? "" : "; leave out --format to write .\(ext)"))
            }
            video = Video(container: container, url: url)
        case .both:
            guard let container, !folderName else {
                throw VideoIOError("-o \(output): with --format both, OUT must be a video file (.mp4, .mov, .mkv, .webm or .gif); "
                                   + "the frames go to OUT without its extension")
            }
            video = Video(container: container, url: url)
            frames = url.deletingPathExtension()
        }
    }

    static func unsupported(_ output: String, ext: String) -> VideoIOError {
        if ImageFormat.forExtension(ext) != nil {
            return VideoIOError("-o \(output): a still image, which image models write; this model's clips go to \(supported)")
        }
        return VideoIOError("-o \(output): par-video does not write .\(ext) files; it writes \(supported)")
    }

    /// True when the video goes to standard output: the command's own
    /// lines (progress, summary, JSON) must then go to stderr.
    public var toStdout: Bool { video != nil && video!.url == nil }

    /// Every output can be created (names, folders, kinds; anything already
    /// there only with `overwrite`), and standard output is not a terminal.
    public func checkWritable() throws {
        if let video {
            if let url = video.url {
                try AtomicOutput.checkWritable(url, directory: false, overwrite: overwrite)
            } else if isatty(1) != 0 {
                throw VideoIOError("-o -: standard output is a terminal; pipe it, e.g. par-video ... -o - | ffplay -")
            }
        }
        if let frames { try AtomicOutput.checkWritable(frames, directory: true, overwrite: overwrite) }
        if let image { try AtomicOutput.checkWritable(image.url, directory: false, overwrite: overwrite) }
    }

    /// Refuses an output that is the input `path`: it would be replaced by
    /// what is made from it. `option` names the input in the message (`--prefix`).
    public func refuse(input path: String, option: String = "") throws {
        let input = URL(fileURLWithPath: path)
        for out in [video?.url, frames, image?.url].compactMap({ $0 }) where AtomicOutput.sameTarget(out, input) {
            throw VideoIOError("-o \(out.path) is the input \(option.isEmpty ? "" : option + " ")\(path); give another output path")
        }
    }

    /// Everything `write` needs, checked before any work: the outputs can be
    /// created and the encoders accept a `width` x `height` clip at `fps`.
    public func preflight(width: Int, height: Int, fps: Double, options: VideoEncodeOptions = .init()) throws {
        try checkWritable()
        try preflightEncoders(width: width, height: height, fps: fps, options: options)
    }

    /// The encoders alone (opened and closed with these settings): a size or
    /// rate an encoder refuses is one line before rendering.
    public func preflightEncoders(width: Int, height: Int, fps: Double, options: VideoEncodeOptions) throws {
        if let video {
            if video.container == .gif {
                try GIFWriter.preflight(width: width, height: height, fps: fps, options: options, path: video.path)
            } else {
                try VideoWriter.preflight(width: width, height: height, fps: fps, options: options, path: video.path,
                                          container: video.container)
            }
        }
        if frames != nil {
            let w = options.size?.width ?? width, h = options.size?.height ?? height
            guard w > 0, h > 0 else { throw VideoIOError("cannot write \(frames!.path): frame size \(w)x\(h)") }
            _ = try StillEncoder(.png, width: w, height: h)
        }
        if let image {
            _ = try StillEncoder(image.format, width: options.size?.width ?? width, height: options.size?.height ?? height)
        }
    }

    /// Writes `clip`. Each file output is atomic; with both, the video is
    /// renamed into place only after the frame folder is complete, so a
    /// failure of either leaves no video. Standard output cannot be taken
    /// back: a failure there ends with an error after what was written.
    public func write(_ clip: VideoFrames, options: VideoEncodeOptions = .init()) throws {
        // Frames carry the output size too, so both outputs show the same pixels.
        func framesClip() throws -> VideoFrames {
            guard let size = options.size else { return clip }
            return try clip.resized(width: size.width, height: size.height)
        }
        if let image {
            guard clip.count == 1 else { throw VideoIOError("cannot write \(image.url.path): one image, not \(clip.count)") }
            return try StillImage.write(framesClip(), to: image.url, format: image.format, overwrite: overwrite)
        }
        guard let video else { return try FrameFolder.write(framesClip(), to: frames!, overwrite: overwrite) }
        guard clip.count >= 1 else { throw VideoIOError("cannot write \(video.path): the clip has no frames") }
        if video.container == .gif {
            try GIFWriter.validate(width: clip.width, height: clip.height, fps: clip.fps, options: options, path: video.path)
        } else {
            try VideoWriter.validate(clip, options: options, path: video.path)
        }
        guard let url = video.url else {
            return try VideoWriter.encode(clip, to: nil, container: video.container, options: options)
        }
        if let frames { try AtomicOutput.checkWritable(frames, directory: true, overwrite: overwrite) }
        try AtomicOutput.write(to: url, overwrite: overwrite) { tmp in
            if video.container == .gif {
                try GIFWriter.encode(clip, to: tmp.path, options: options)
            } else {
                try VideoWriter.encode(clip, to: tmp.path, container: video.container, options: options)
            }
            if let frames { try FrameFolder.write(framesClip(), to: frames, overwrite: overwrite) }
        }
    }
}
