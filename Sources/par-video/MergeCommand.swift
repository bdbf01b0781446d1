import ArgumentParser
import Foundation
import PARVideo

/// `par-video merge`: joins the shards of one batch run into one run folder
/// (manifest.jsonl, labels.csv, run.json, an image run's samples.npz) and checks that every clip of the
/// run is there exactly once (RunMerge).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the shards of a batch run; check that no clip is missing or doubled.",
        discussion: """
            Examples:
              par-video merge fvd/                      (shards that shared one folder, merged in place)
              par-video merge shard0/ shard1/ shard2/ -o fvd/   (clips linked or copied into fvd/)
            """
    )

    @Argument(help: ArgumentHelp("Run folders holding the shards (run.shard-K-of-N.json and their manifests).", valueName: "DIR"))
    var dirs: [String]

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Merged run folder (default: the single DIR, in place).", valueName: "OUT"))
    var output: String?

    @Flag(name: .long, help: "Print one JSON summary line.")
    var json = false

    @Flag(name: .long, help: "No summary line.")
    var quiet = false

    func validate() throws {
        guard !dirs.isEmpty else { throw ValidationError("give the shard folders to merge") }
        for d in dirs { try checkInput(d, option: "", allow: [.folder]) }
        if output == nil, dirs.count > 1 { throw ValidationError("merging several folders needs -o OUT") }
    }

    func run() throws {
        let s = try reportingBatchErrors {
            try RunMerge.merge(dirs.map { URL(fileURLWithPath: $0) }, into: output.map { URL(fileURLWithPath: $0) })
        }
        if json {
            try JSONReport.print(["output": s.output.path, "clips": s.clips, "shards": s.shards, "copied": s.copied,
                                  "manifest": s.files.manifest.path, "labels": s.files.labels.path]
                                 .merging(s.npz.map { ["npz": $0.path] } ?? [:]) { a, _ in a })
        } else if !quiet {
            print("\(s.output.path): \(s.clips) clips from \(s.shards) shard\(s.shards > 1 ? "s" : ""), none missing or doubled; manifest.jsonl, labels.csv\(s.npz == nil ? "" : " and samples.npz") written")
        }
    }
}
