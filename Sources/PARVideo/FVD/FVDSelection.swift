import Foundation

/// Which clips are compared: N of each set (2048 or 10000, or --max-clips),
/// class-matched whenever both sets carry labels. The rules and the seeded
/// choice are those of tools/fvd/protocol.py `select`, so both tools pick the
/// same clips: a subset is the N clips whose SHA-256 of "seed:name" is
/// smallest, kept in name order.
public struct FVDSelection: Sendable {
    public static let protocols: [String: Int] = ["2048": 2048, "10k": 10000]

    public let real: [FVDClip], gen: [FVDClip]
    /// Labels in clip order (both nil unless both sets are labelled).
    public let realLabels: [String]?, genLabels: [String]?
    public let classMatched: Bool
    /// Generated classes that no selected real clip has (only without class
    /// matching: with it they are an error), and how many selected clips they hold.
    public let missingClasses: [String], missingClips: Int

    static func sample(_ clips: [FVDClip], _ n: Int, seed: UInt64) -> [FVDClip] {
        if n >= clips.count { return clips }
        let ranked = clips.map { (SHA256.hex("\(seed):\($0.name)"), $0) }.sorted { $0.0 < $1.0 }
        return ranked.prefix(n).map(\.1).sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    }

    /// Numeric labels in numeric order, others in text order.
    public static func classOrder(_ labels: some Collection<String>) -> [String] {
        let unique = Set(labels)
        if unique.allSatisfy({ Int($0) != nil }) { return unique.sorted { Int($0)! < Int($1)! } }
        return unique.sorted()
    }

    public static func select(real: [FVDClip], gen: [FVDClip], protocol name: String, maxClips: Int?, seed: UInt64,
                              realLabels: FVDLabels?, genLabels: FVDLabels?, classMatch: Bool = true,
                              realDir: String, genDir: String) throws -> FVDSelection {
        guard var n = protocols[name] else { throw FVDInputError("unknown protocol \(name) (2048 or 10k)") }
        if let maxClips {
            guard maxClips >= 2 else { throw FVDInputError("--max-clips must be at least 2") }
            n = min(n, maxClips)
        }
        let hint = maxClips == nil ? " (pass --max-clips for a smaller, non-standard run)" : ""
        for (what, clips, dir) in [("real", real, realDir), ("generated", gen, genDir)] where clips.count < n {
            throw FVDInputError("\(dir): \(clips.count) \(what) clips, protocol \(name) needs \(n)\(hint)")
        }
        let genSel = sample(gen, n, seed: seed)
        guard let realLabels, let genLabels else {
            return FVDSelection(real: sample(real, n, seed: seed), gen: genSel, realLabels: nil, genLabels: nil,
                                classMatched: false, missingClasses: [], missingClips: 0)
        }
        let gl = try genSel.map { try genLabels.label(of: $0) }
        var byClass: [String: [FVDClip]] = [:]
        for c in real { byClass[try realLabels.label(of: c), default: []].append(c) }
        if !classMatch {
            let realSel = sample(real, n, seed: seed)
            let rl = try realSel.map { try realLabels.label(of: $0) }
            let have = Set(rl)
            let missing = gl.filter { !have.contains($0) }
            return FVDSelection(real: realSel, gen: genSel, realLabels: rl, genLabels: gl, classMatched: false,
                                missingClasses: classOrder(missing), missingClips: missing.count)
        }
        // As many real clips of each class as the generated subset holds.
        var wanted: [String: Int] = [:]
        for l in gl { wanted[l, default: 0] += 1 }
        var absent: [String] = [], short: [String] = []
        for l in classOrder(wanted.keys) {
            let have = byClass[l]?.count ?? 0
            if have == 0 { absent.append(l) } else if have < wanted[l]! { short.append("\(l) (\(have) of \(wanted[l]!))") }
        }
        if !absent.isEmpty || !short.isEmpty {
            var parts: [String] = []
            if !absent.isEmpty {
                let clips = absent.reduce(0) { $0 + wanted[$1]! }
                parts.append("has no clips of generated class\(absent.count == 1 ? "" : "es") \(absent.joined(separator: ", ")) (\(clips) generated clips)")
            }
            if !short.isEmpty { parts.append("has too few clips of class\(short.count == 1 ? "" : "es") \(short.joined(separator: ", "))") }
            throw FVDInputError("\(realDir): cannot class-match: the real set \(parts.joined(separator: " and ")); "
                                + "use a real set covering the generated classes, or pass --no-class-match")
        }
        var realSel: [FVDClip] = []
        for l in classOrder(wanted.keys) { realSel += sample(byClass[l]!, wanted[l]!, seed: seed) }
        realSel.sort { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        let rl = try realSel.map { try realLabels.label(of: $0) }
        return FVDSelection(real: realSel, gen: genSel, realLabels: rl, genLabels: gl, classMatched: true,
                            missingClasses: [], missingClips: 0)
    }
}
