import ArgumentParser
import Foundation
import PARVideo

/// `par-video fvd REAL GEN`: parsing and printing; the work is FVDScore's.
struct FVDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fvd",
        abstract: "Frechet Video Distance between a real and a generated set of clips (I3D Kinetics-400 features).",
        discussion: """
            A set is a folder of video files or of frame folders (one folder of images per clip, \
            as StyleGAN-V writes them), with an optional labels.csv (columns clip,label). When both \
            sets are labelled the real clips are chosen to match the generated clips' classes, and \
            the nearest-centroid action accuracy is reported. Features are cached per set, keyed \
            by each clip's content, so the real set is extracted once. See docs/FVD.md.
            """)

    @Argument(help: "Folder of real (reference) clips.") var real: String
    @Argument(help: "Folder of generated clips.") var gen: String

    @Option(name: .customLong("protocol"), help: ArgumentHelp("Clips per set: 2048, or 10k (10000).", valueName: "2048|10k"))
    var protocolName = "2048"

    @Option(name: .customLong("max-clips"), help: ArgumentHelp("Compare at most N vs N clips (a smaller, non-standard run), N >= 2.", valueName: "N"))
    var maxClips: Int?

    @Option(name: .long, help: "Seed of the choice of clips when a set holds more than needed.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-class-match"), help: "Choose the real clips without regard to the generated clips' classes.")
    var noClassMatch = false

    @Option(name: .long, help: ArgumentHelp("I3D weights (default: $PAR_VIDEO_I3D, else models/i3d.safetensors; `make fvd-weights` writes it).", valueName: "path"))
    var i3d: String?

    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Feature cache folder. (default: $PAR_VIDEO_FVD_CACHE, else ~/.cache/par-video/fvd)", valueName: "dir"))
    var cacheDir: String?

    @Flag(name: .customLong("no-cache"), help: "Neither read nor write cached features.")
    var noCache = false

    @Option(name: .long, help: ArgumentHelp("Compute threads, 1...1024. (default: the CPUs this process may run on, \(ThreadCount.available) here)", valueName: "N"))
    var threads: Int?

    @Flag(name: .long, help: "Print the result as one JSON object on stdout.")
    var json = false

    @Flag(name: .long, help: "No progress lines on stderr.")
    var quiet = false

    func validate() throws {
        guard FVDSelection.protocols[protocolName] != nil else { throw ValidationError("--protocol \(protocolName): must be 2048 or 10k") }
        if let maxClips, maxClips < 2 { throw ValidationError("--max-clips \(maxClips): must be at least 2") }
        if noCache && cacheDir != nil { throw ValidationError("--no-cache and --cache-dir exclude each other") }
        try ThreadCount.check(threads)
    }

    func run() throws {
        ThreadCount.use(threads)
        let r: FVDScore.Report
        do {
            let o = FVDScore.Options(real: real, gen: gen, weights: try I3DLocator.locate(explicit: i3d), protocolName: protocolName,
                                     maxClips: maxClips, seed: seed, classMatch: !noClassMatch,
                                     cacheDir: noCache ? nil : (cacheDir ?? FVDFeatureCache.defaultDir()))
            r = try FVDScore.run(o) { line in
                if !quiet || line.hasPrefix("warning:") { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
        } catch let e as FVDInputError { throw RunError(e.description) }
        if json {
            try JSONReport.print(try Self.object(r))
            return
        }
        print(String(format: "FVD %.4f (protocol %@, %d real vs %d generated clips%@)", r.fvd, r.protocol,
                     r.realClips, r.genClips, r.classMatched ? ", class-matched" : ""))
        if let a = r.accuracy, let ar = r.accuracyReal {
            print(String(format: "action accuracy %.4f (nearest real class centroid; real clips themselves: %.4f)", a, ar))
        }
        if let c = r.clipsPerSecond {
            print(String(format: "I3D: %.2f clips/s; %.2f clips per CPU second x %d threads (with the cores to itself)",
                         c, r.clipsPerCpuSecond ?? 0, r.threads))
            if let w = r.convGflopsPerSecond, let cw = r.convGflopsPerCpuSecond, let sw = r.sgemmGflopsPerSecond,
               let sc = r.sgemmGflopsPerCpuSecond {
                print(String(format: "convolutions: %.0f GFLOP/s = %.0f%% of sgemm's %.0f (per CPU second: %.0f = %.0f%% of %.0f)",
                             w, 100 * w / sw, sw, cw, 100 * cw / sc, sc))
            }
        } else {
            print("I3D: every feature came from the cache")
        }
    }

    /// The report as JSON's keys (snake_case), its figures rounded as every command's are.
    static func object(_ r: FVDScore.Report) throws -> [String: Any] {
        JSONReport.rounded(try JSONSerialization.jsonObject(with: Data(try FVDScore.json(r).utf8))) as! [String: Any]
    }
}
