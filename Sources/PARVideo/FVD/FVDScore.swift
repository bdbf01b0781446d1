import Foundation

/// `par-video fvd REAL GEN`: the clips of each set (FVDSelection), their I3D
/// features through each set's cache (FVDExtractor), the Frechet distance, and
/// the nearest-centroid accuracy when both sets are labelled.
public enum FVDScore {
    public struct Options: Sendable {
        public var real: String, gen: String
        public var protocolName = "2048"
        public var maxClips: Int?
        public var seed: UInt64 = 0
        public var classMatch = true
        public var cacheDir: String? = FVDFeatureCache.defaultDir()  // nil: no cache
        public var weights: String
        public init(real: String, gen: String, weights: String, protocolName: String = "2048", maxClips: Int? = nil,
                    seed: UInt64 = 0, classMatch: Bool = true, cacheDir: String? = FVDFeatureCache.defaultDir()) {
            (self.real, self.gen, self.weights, self.protocolName) = (real, gen, weights, protocolName)
            (self.maxClips, self.seed, self.classMatch, self.cacheDir) = (maxClips, seed, classMatch, cacheDir)
        }
    }

    public struct SetStats: Encodable, Sendable {
        public let clips: Int, available: Int, computed: Int, cached: Int
        public let extractSeconds: Double
        public let clipsPerSecond: Double?
    }

    public struct ClassAccuracy: Encodable, Sendable {
        public let label: String, clips: Int, accuracy: Double
    }

    /// What `--json` prints (snake_case keys; the CLI adds `schema`).
    public struct Report: Encodable, Sendable {
        public let fvd: Double
        public let meanTerm: Double, covarianceTerm: Double
        public let `protocol`: String
        public let seed: UInt64
        public let classMatched: Bool
        public let realClips: Int, genClips: Int
        public let frames: Int, size: Int
        public let features: String
        public let accuracy: Double?, accuracyReal: Double?
        public let accuracyPerClass: [ClassAccuracy]?
        public let accuracyNote: String?
        public let genClassesMissing: [String]
        public let genClipsMissing: Int
        public let real: SetStats, gen: SetStats
        /// Clips run through I3D per wall second and per CPU second x threads.
        public let clipsPerSecond: Double?, clipsPerCpuSecond: Double?
        public let convGflopPerClip: Double?
        /// The convolutions' rate per wall second, and per CPU second x threads
        /// (what they reach with the cores to themselves).
        public let convGflopsPerSecond: Double?, convGflopsPerCpuSecond: Double?
        /// This machine's OpenBLAS sgemm rate (1024^3, best of 3, measured at
        /// the end of the run) on the same two bases, and the convolutions' share
        /// of it on each: the roofline share of the I3D convolutions.
        public let sgemmGflopsPerSecond: Double?, sgemmGflopsPerCpuSecond: Double?
        public let convRooflineShare: Double?, convRooflineShareCpu: Double?
        public let threads: Int
        public let totalSeconds: Double
    }

    public static func run(_ o: Options, progress: (String) -> Void) throws -> Report {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let realAll = try FVDClips.list(o.real), genAll = try FVDClips.list(o.gen)
        let realLabels = try FVDLabels.read(set: o.real), genLabels = try FVDLabels.read(set: o.gen)
        let sel = try FVDSelection.select(real: realAll, gen: genAll, protocol: o.protocolName, maxClips: o.maxClips,
                                          seed: o.seed, realLabels: realLabels, genLabels: genLabels,
                                          classMatch: o.classMatch, realDir: o.real, genDir: o.gen)
        progress("fvd: protocol \(o.protocolName): \(sel.real.count) real of \(realAll.count), "
                 + "\(sel.gen.count) generated of \(genAll.count)\(sel.classMatched ? ", class-matched" : "")")
        if !sel.missingClasses.isEmpty {
            progress("warning: the real clips have no class \(sel.missingClasses.joined(separator: ", ")) "
                     + "(\(sel.missingClips) generated clips); those clips are left out of the accuracy")
        }
        let extractor = try FVDExtractor(weightsPath: o.weights)
        let settings = try FVDExtractor.settings(weightsPath: o.weights)
        var feats: [[Float]] = [], stats: [FVDExtractor.Stats] = []
        for (side, clips, dir) in [("real", sel.real, o.real), ("generated", sel.gen, o.gen)] {
            let cache = FVDFeatureCache(dir: o.cacheDir, set: dir, settings: settings, dim: extractor.dim, warn: progress)
            let (f, s) = try extractor.features(clips, cache: cache, side: side, progress: progress)
            feats.append(f); stats.append(s)
        }
        let d = extractor.dim
        let result = try Frechet.distance(try Frechet.stats(feats[0], count: sel.real.count, dim: d),
                                          try Frechet.stats(feats[1], count: sel.gen.count, dim: d))
        var accuracy: Double?, accuracyReal: Double?, perClass: [ClassAccuracy]?, note: String?
        if let rl = sel.realLabels, let gl = sel.genLabels {
            let a = Frechet.nearestCentroidAccuracy(reference: feats[0], labels: rl, features: feats[1], labels: gl, dim: d)
            let r = Frechet.nearestCentroidAccuracy(reference: feats[0], labels: rl, features: feats[0], labels: rl, dim: d)
            accuracy = a.accuracy; accuracyReal = r.accuracy
            perClass = a.perClass.map { ClassAccuracy(label: $0.label, clips: $0.count, accuracy: $0.accuracy) }
        } else {
            note = "needs labels.csv in both sets"
        }
        func setStats(_ s: FVDExtractor.Stats, _ all: Int) -> SetStats {
            SetStats(clips: s.clips, available: all, computed: s.computed, cached: s.cached, extractSeconds: s.seconds,
                     clipsPerSecond: s.computed > 0 && s.seconds > 0 ? Double(s.computed) / s.seconds : nil)
        }
        let computed = stats.reduce(0) { $0 + $1.computed }
        let seconds = stats.reduce(0) { $0 + $1.seconds }, cpu = stats.reduce(0) { $0 + $1.cpuSeconds }
        let conv = stats.reduce(0) { $0 + $1.convSeconds }
        let sgemm = computed > 0 ? Roofline.sgemmFlops() : nil
        let convCPU = stats.reduce(0) { $0 + $1.convCPUSeconds }
        let flops = computed > 0 ? try extractor.net().flops(frames: FVDPreprocess.frames, height: FVDPreprocess.size,
                                                            width: FVDPreprocess.size) : 0
        let convRate = computed > 0 && conv > 0 ? flops * Double(computed) / conv / 1e9 : nil
        let convRateCPU = computed > 0 && convCPU > 0 ? flops * Double(computed) / convCPU * Double(Parallel.threads) / 1e9 : nil
        let sgemmWall = sgemm.map { $0.wall / 1e9 }, sgemmCPU = sgemm.map { $0.cpu / 1e9 }
        return Report(
            fvd: result.distance, meanTerm: result.meanTerm, covarianceTerm: result.covarianceTerm,
            protocol: o.protocolName, seed: o.seed, classMatched: sel.classMatched,
            realClips: sel.real.count, genClips: sel.gen.count, frames: FVDPreprocess.frames, size: FVDPreprocess.size,
            features: "i3d-kinetics-400-logits", accuracy: accuracy, accuracyReal: accuracyReal,
            accuracyPerClass: perClass, accuracyNote: note,
            genClassesMissing: sel.missingClasses, genClipsMissing: sel.missingClips,
            real: setStats(stats[0], realAll.count), gen: setStats(stats[1], genAll.count),
            clipsPerSecond: computed > 0 ? Double(computed) / seconds : nil,
            clipsPerCpuSecond: computed > 0 && cpu > 0 ? Double(computed) / cpu * Double(Parallel.threads) : nil,
            convGflopPerClip: computed > 0 ? flops / 1e9 : nil,
            convGflopsPerSecond: convRate, convGflopsPerCpuSecond: convRateCPU,
            sgemmGflopsPerSecond: sgemmWall, sgemmGflopsPerCpuSecond: sgemmCPU,
            convRooflineShare: convRate.flatMap { c in sgemmWall.map { c / $0 } },
            convRooflineShareCpu: convRateCPU.flatMap { c in sgemmCPU.map { c / $0 } },
            threads: Parallel.threads,
            totalSeconds: Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }

    /// The report's JSON: snake_case keys, sorted; a value that does not apply is left out.
    public static func json(_ r: Report) throws -> String {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(r), as: UTF8.self)
    }
}
