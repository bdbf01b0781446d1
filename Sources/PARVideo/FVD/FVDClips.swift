import CFFmpeg
import Foundation

/// One clip of an FVD set: a video file, or a folder of image frames (the
/// StyleGAN-V layout, one folder per clip). The listing rules are those of
/// tools/fvd/clip_io.py, so both tools score the same clips.
public struct FVDClip: Sendable {
    public let name: String     // file name of a video, folder name of a frame folder
    public let path: String
    public let frames: [String] // frame folder: its image files in name order; video: []
    public var isVideo: Bool { frames.isEmpty }
}

public struct FVDInputError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum FVDClips {
    public static let videoExtensions: Set<String> = ["mp4", "avi", "mkv", "webm", "mov", "m4v", "gif", "mpg", "mpeg", "ogv"]
    /// Frame formats and the FFmpeg image decoder of each.
    static let imageCodecs: [String: AVCodecID] = [
        "png": AV_CODEC_ID_PNG, "jpg": AV_CODEC_ID_MJPEG, "jpeg": AV_CODEC_ID_MJPEG, "bmp": AV_CODEC_ID_BMP,
        "webp": AV_CODEC_ID_WEBP, "ppm": AV_CODEC_ID_PPM, "tif": AV_CODEC_ID_TIFF, "tiff": AV_CODEC_ID_TIFF,
    ]
    /// One frame file, or one video file, larger than this is refused.
    public static let maxFrameFileBytes = 256 << 20
    public static let maxVideoFileBytes = 4 << 30
    /// Clips per set: far above the 10k protocol, far below what a listing can hold.
    public static let maxClips = 1 << 20

    static func fileExtension(_ name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }

    static func visible(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        } catch {
            throw FVDInputError("\(path): cannot list (\(error.localizedDescription))")
        }
    }

    /// Every clip in `root`, in name order. Files that are neither videos nor
    /// folders (labels.csv, notes) are skipped; a folder without frames is an error.
    public static func list(_ root: String) throws -> [FVDClip] {
        let kind: InputFile.Kind
        do { kind = try InputFile.kind(of: root) } catch let e as InputFileError { throw FVDInputError(e.description) }
        guard kind == .folder else { throw FVDInputError("\(root): not a folder (a set is a folder of clips)") }
        var clips: [FVDClip] = []
        for name in try visible(root) {
            let path = (root as NSString).appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                let frames = try visible(path).filter { imageCodecs[fileExtension($0)] != nil }
                guard !frames.isEmpty else {
                    throw FVDInputError("\(path): clip folder holds no image frames (\(imageCodecs.keys.sorted().joined(separator: ", ")))")
                }
                clips.append(FVDClip(name: name, path: path, frames: frames))
            } else if videoExtensions.contains(fileExtension(name)) {
                clips.append(FVDClip(name: name, path: path, frames: []))
            }
            guard clips.count <= maxClips else { throw FVDInputError("\(root): more than \(maxClips) clips") }
        }
        guard !clips.isEmpty else {
            throw FVDInputError("\(root): no clips (expected video files \(videoExtensions.sorted().joined(separator: ", ")) or one folder of image frames per clip)")
        }
        return clips
    }

    /// SHA-256 of what the features depend on: the video file's bytes, or the
    /// names and bytes of the first `frames` frame files. Hex, 64 characters.
    public static func contentKey(_ clip: FVDClip, frames: Int = FVDPreprocess.frames) throws -> String {
        let sha = SHA256()
        if clip.isVideo {
            try sha.updateFile(clip.path, limit: maxVideoFileBytes)
        } else {
            for f in clip.frames.prefix(frames) {
                sha.update(Array("\(f.utf8.count):\(f)".utf8))
                try sha.updateFile((clip.path as NSString).appendingPathComponent(f), limit: maxFrameFileBytes)
            }
        }
        return sha.hexDigest()
    }

    /// The first `frames` frames of a clip as RGB8, all of one size.
    public static func read(_ clip: FVDClip, frames: Int = FVDPreprocess.frames) throws -> VideoFrames {
        if clip.isVideo {
            let v: VideoFrames
            do { v = try VideoReader.read(URL(fileURLWithPath: clip.path), maxFrames: frames) } catch let e as VideoIOError {
                throw FVDInputError("\(clip.path): cannot decode (\(e.description))")
            }
            guard v.count >= frames else { throw FVDInputError("\(clip.path): \(v.count) frames, FVD needs \(frames)") }
            return v
        }
        guard clip.frames.count >= frames else {
            throw FVDInputError("\(clip.path): \(clip.frames.count) frames, FVD needs \(frames)")
        }
        var out: VideoFrames?
        for f in clip.frames.prefix(frames) {
            let path = (clip.path as NSString).appendingPathComponent(f)
            let image: VideoFrames
            do {
                let data = try InputFile.read(path, limit: maxFrameFileBytes)
                image = try decodeImage(data, codec: imageCodecs[fileExtension(f)]!, name: path)
            } catch let e as InputFileError {
                throw FVDInputError(e.description)
            } catch let e as VideoIOError {
                throw FVDInputError("\(path): cannot decode (\(e.description))")
            }
            if out == nil {
                out = VideoFrames(width: image.width, height: image.height, count: 0, pixels: [])
                out!.pixels.reserveCapacity(image.pixels.count * frames)
            }
            guard image.width == out!.width, image.height == out!.height else {
                throw FVDInputError("\(clip.path): frames differ in size (\(path) is \(image.width)x\(image.height), earlier ones \(out!.width)x\(out!.height))")
            }
            out!.pixels += image.pixels
            out!.count += 1
        }
        return out!
    }

    /// A clip ready for I3D: 16 x 224 x 224 x 3 floats in [-1, 1].
    public static func load(_ clip: FVDClip) throws -> [Float] {
        let v = try read(clip)
        return v.pixels.withUnsafeBufferPointer {
            FVDPreprocess.resize($0.baseAddress!, count: FVDPreprocess.frames, width: v.width, height: v.height)
        }
    }
}
