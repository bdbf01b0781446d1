import CFFmpeg

/// The kinds of video file par-video writes, chosen by the output's
/// extension as ffmpeg chooses its muxer.
public enum VideoContainer: String, Sendable, CaseIterable {
    /// MP4 with H.264 (mpeg4 without libx264), moov atom first.
    case mp4
    /// QuickTime, the same streams as mp4.
    case mov
    /// Matroska, the same streams as mp4.
    case mkv
    /// WebM: VP9 through libvpx.
    case webm
    /// Animated GIF with one palette made from the clip's own colours.
    case gif
    /// MP4 in fragments with an empty moov first, for a pipe (`-o -`):
    /// readable without seeking, as `ffplay -` and `ffprobe -` need.
    case fragmentedMP4 = "fmp4"

    /// The container that a file extension (case-insensitive, without the dot) names.
    public static func forExtension(_ ext: String) -> VideoContainer? {
        switch ext.lowercased() {
        case "mp4", "m4v": return .mp4
        case "mov": return .mov
        case "mkv": return .mkv
        case "webm": return .webm
        case "gif": return .gif
        default: return nil
        }
    }

    /// FFmpeg's muxer name (the temporary file has no extension to go by).
    var muxer: String {
        switch self {
        case .mp4, .fragmentedMP4: return "mp4"
        case .mov: return "mov"
        case .mkv: return "matroska"
        case .webm: return "webm"
        case .gif: return "gif"
        }
    }

    /// True for the containers holding H.264 (or mpeg4): `--codec` applies to these.
    public var holdsH264: Bool { self != .webm && self != .gif }

    /// The muxer's options: moov first for files (a browser starts playing
    /// before the whole file arrives), fragments for a pipe.
    var muxOptions: [(String, String)] {
        switch self {
        case .mp4, .mov: return [("movflags", "+faststart")]
        case .fragmentedMP4: return [("movflags", "+frag_keyframe+empty_moov+default_base_moof")]
        case .mkv, .webm, .gif: return []
        }
    }

    /// What `-o` says about this container in messages.
    var label: String {
        switch self {
        case .mp4: return "MP4"
        case .mov: return "QuickTime"
        case .mkv: return "Matroska"
        case .webm: return "WebM"
        case .gif: return "GIF"
        case .fragmentedMP4: return "fragmented MP4"
        }
    }

    /// True when the linked FFmpeg has libvpx's VP9 encoder.
    public static var hasVP9: Bool { avcodec_find_encoder_by_name("libvpx-vp9") != nil }
}
