import Foundation

/// One clip of a batch run: everything that decides its tokens, fixed before
/// any model runs, so that a resumed, sharded or re-run job renders the same
/// clip under the same name.
public struct ClipSpec: Codable, Equatable, Sendable {
    /// Position in the full (unsharded) clip list.
    public let index: Int
    public let action: Int
    public let seed: UInt64

    public init(index: Int, action: Int, seed: UInt64) {
        self.index = index
        self.action = action
        self.seed = seed
    }

    /// File stem: sortable by index, readable by class.
    public var name: String {
        "clip_" + String(format: "%06d", index) + "_a" + String(format: "%03d", action)
    }
}

/// Clip i's seed: a SplitMix64 scramble of (base, i), so neighbouring clips
/// get unrelated streams and the seed does not depend on sharding or batching.
public func clipSeed(base: UInt64, index: Int) -> UInt64 {
    var z = base &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A 64-bit seed written to JSON as a decimal string: jq, JavaScript and
/// pandas read a JSON number above 2^53 as another number. A number is read
/// too (run folders written before seeds were strings). As a property
/// wrapper it gives a Codable type's seed this spelling.
@propertyWrapper
public struct JSONSeed: Codable, Equatable, Sendable {
    public var wrappedValue: UInt64
    public init(wrappedValue: UInt64) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            // Canonical digits only: one seed has one spelling.
            guard let v = UInt64(text), String(v) == text else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "seed '\(text)' is not a decimal UInt64")
            }
            wrappedValue = v
        } else {
            wrappedValue = try c.decode(UInt64.self)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(wrappedValue))
    }
}

/// `K/N`: the K-th (0-based, as SLURM_ARRAY_TASK_ID counts) of N disjoint slices.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public static let whole = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses "K/N" with 0 <= K < N.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw BatchError.usage("--shard must be K/N (for example 0/4), got '\(text)'")
        }
        guard n >= 1, k >= 0, k < n else {
            // K >= N = 1 is what a resubmitted array task gets from $SLURM_ARRAY_TASK_COUNT.
            let hint = n == 1 && k >= 1 ? "; a resubmitted job array task has SLURM_ARRAY_TASK_COUNT 1, so write the shard count into the job script (--shard $SLURM_ARRAY_TASK_ID/N, docs/BATCH.md)" : ""
            throw BatchError.usage("--shard \(text): need 0 <= K < N (K counts from 0, as SLURM_ARRAY_TASK_ID)\(hint)")
        }
        self.init(index: k, count: n)
    }

    /// Round-robin slices: each shard gets every N-th clip, so shards have
    /// near-equal sizes and a class mix like the whole run.
    public func contains(_ clip: ClipSpec) -> Bool { clip.index % count == index }

    public var description: String { "\(index)/\(count)" }
}

public enum BatchPlan {
    /// The most clips one run may have: its plan and the clip names the run
    /// keeps take about 200 bytes a clip (peak RSS 246 MB at this limit with
    /// the tiny test model, 64 MB for a 30-clip run).
    /// FVD protocols use 2,048 to 10,000 clips; a larger set is split over
    /// several run folders.
    public static let maxClips = 1_000_000

    /// Refuses a run of `clips` clips (checked before any plan is built).
    public static func checkSize(_ clips: Int, what: String) throws {
        guard clips <= maxClips else {
            throw BatchError.usage("\(what) makes \(clips) clips, more than the \(maxClips) one run may have; split it over several run folders")
        }
    }

    /// `perClass` clips for each action, actions interleaved (a, b, c, a, b, c, ...)
    /// so that any prefix of the run covers every class.
    public static func perClass(actions: [Int], clipsPerClass: Int, baseSeed: UInt64) -> [ClipSpec] {
        var clips: [ClipSpec] = []
        clips.reserveCapacity(min(maxClips, actions.count.multipliedReportingOverflow(by: clipsPerClass).partialValue))
        for _ in 0..<clipsPerClass {
            for action in actions {
                let i = clips.count
                clips.append(ClipSpec(index: i, action: action, seed: clipSeed(base: baseSeed, index: i)))
            }
        }
        return clips
    }

    /// `count` clips cycling over `actions`, or taking clip i's action from
    /// `labels[i]` when a label list is given (class-matched evaluation).
    public static func count(_ count: Int, actions: [Int], labels: [Int]?, baseSeed: UInt64) throws -> [ClipSpec] {
        if let labels {
            guard labels.count >= count else {
                throw BatchError.usage("the label file has \(labels.count) labels, fewer than --count \(count)")
            }
            return (0..<count).map { ClipSpec(index: $0, action: labels[$0], seed: clipSeed(base: baseSeed, index: $0)) }
        }
        guard !actions.isEmpty else { throw BatchError.usage("no actions to render") }
        return (0..<count).map {
            ClipSpec(index: $0, action: actions[$0 % actions.count], seed: clipSeed(base: baseSeed, index: $0))
        }
    }

    /// Reads a label file: one action per line, or a CSV whose last column is
    /// the action (a header line is skipped), as `labels.csv` of a batch run.
    public static func readLabels(path: String, resolve: (String) throws -> Int) throws -> [Int] {
        let data: Data
        do { data = try InputFile.read(path, limit: 64 << 20) } catch let e as InputFileError {
            throw BatchError.usage("cannot read label file \(e.description)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw BatchError.usage("label file \(path) is not UTF-8 text") }
        var labels: [Int] = []
        for (lineNumber, raw) in text.split(whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let field = String(line.split(separator: ",").last ?? "").trimmingCharacters(in: .whitespaces)
            if lineNumber == 0, field.lowercased() == "label" || field.lowercased() == "action" { continue }
            do { labels.append(try resolve(field)) } catch {
                throw BatchError.usage("\(path):\(lineNumber + 1): \(error)")
            }
            if labels.count == maxClips { break }  // no run uses more
        }
        return labels
    }
}
