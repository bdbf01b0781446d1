import ArgumentParser
import Foundation
import PARVideo

/// `--size WxH` or `--size N` (square).
struct FrameSize: ExpressibleByArgument, CustomStringConvertible {
    var width: Int
    var height: Int

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!), w > 0, h > 0 else {
            return nil
        }
        width = w
        height = h
    }

    var description: String { "\(width)x\(height)" }

    /// Even sides (yuv420p halves the chroma), at most 4096.
    func validate(_ option: String) throws {
        guard width % 2 == 0, height % 2 == 0 else {
            throw ValidationError("\(option) \(self): width and height must be even (H.264 yuv420p)")
        }
        guard width <= 4096, height <= 4096 else {
            throw ValidationError("\(option) \(self): at most 4096x4096")
        }
    }
}

/// What `generate` writes.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case mp4, frames, both
}

extension VideoEncodeOptions.Codec: ExpressibleByArgument {}

/// Where a run's outputs go: the MP4 file and/or the PNG frame folder.
struct OutputPaths {
    var mp4: URL?
    var frames: URL?

    /// mp4: OUT is the file. frames: OUT is the folder. both: OUT must end
    /// in .mp4, the frames go to OUT without the extension.
    init(output: String, format: OutputFormat) throws {
        let url = URL(fileURLWithPath: output)
        switch format {
        case .mp4:
            mp4 = url
        case .frames:
            frames = url
        case .both:
            guard url.pathExtension.lowercased() == "mp4" else {
                throw ValidationError("-o \(output): with --format both, OUT must end in .mp4 (frames go to OUT without .mp4)")
            }
            mp4 = url
            frames = url.deletingPathExtension()
        }
    }

    /// Refuses an output that is the input `path` (it would be replaced by
    /// what is made from it).
    func refuse(input path: String, option: String) throws {
        let input = URL(fileURLWithPath: path)
        for out in [mp4, frames].compactMap({ $0 }) where AtomicOutput.sameTarget(out, input) {
            throw ValidationError("-o \(out.path) is the input \(option.isEmpty ? "" : option + " ")\(path); give another output path")
        }
    }

    func checkWritable() throws {
        do {
            if let mp4 { try AtomicOutput.checkWritable(mp4, directory: false) }
            if let frames { try AtomicOutput.checkWritable(frames, directory: true) }
        } catch let e as VideoIOError {
            throw ValidationError(e.description)
        }
    }
}
