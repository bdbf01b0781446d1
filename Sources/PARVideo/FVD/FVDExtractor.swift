import Foundation

/// I3D features of one set's selected clips, through the set's feature cache:
/// only clips the cache lacks are decoded and run, and the cache is saved
/// every `saveEvery` clips and when a clip fails, so work is never lost.
public final class FVDExtractor {
    public struct Stats: Sendable {
        public var clips = 0, computed = 0, cached = 0
        public var seconds = 0.0, cpuSeconds = 0.0, convSeconds = 0.0, convCPUSeconds = 0.0
    }

    public static let saveEvery = 64
    let weightsPath: String
    /// Features per clip: the network's classes (400 for Kinetics; fewer in test networks).
    public let dim: Int
    private var network: I3D?
    /// Seconds between progress lines.
    public var progressInterval = 5.0

    /// Reads only the header: the weights are loaded when a clip needs them.
    public init(weightsPath: String) throws {
        self.weightsPath = weightsPath
        let name = "params.\(I3D.logitsName).Conv_0.kernel"
        do {
            let shape = try SafeTensorsFile(path: weightsPath).info(name, dtypes: [.f32]).shape
            guard shape.count == 5, shape[4] >= 1 else { throw WeightsError("tensor '\(name)' has shape \(shape)") }
            dim = shape[4]
        } catch {
            throw FVDInputError("\(weightsPath): not I3D weights (\(error))")
        }
    }

    /// The network, loaded on first use: a fully cached run never reads it.
    public func net() throws -> I3D {
        if let network { return network }
        let n: I3D
        do { n = try I3D(path: weightsPath) } catch {
            throw FVDInputError("\(weightsPath): cannot load the I3D weights (\(error))")
        }
        network = n
        return n
    }

    /// Settings the features depend on (the cache keeps one file per value).
    public static func settings(weightsPath: String) throws -> [String: String] {
        let sha = SHA256()
        try sha.updateFile(weightsPath, limit: 1 << 30)
        return ["features": "i3d-kinetics-400-logits", "weights_sha256": sha.hexDigest(),
                "frames": "\(FVDPreprocess.frames)", "size": "\(FVDPreprocess.size)",
                "resize": "bilinear-half-pixel", "scale": "x/127.5-1", "version": "1"]
    }

    /// Features (clips.count x 400) in clip order.
    public func features(_ clips: [FVDClip], cache: FVDFeatureCache, side: String,
                         progress: (String) -> Void) throws -> ([Float], Stats) {
        var stats = Stats()
        stats.clips = clips.count
        let keys = try clips.map { try FVDClips.contentKey($0) }
        let todo = keys.indices.filter { cache.entries[keys[$0]] == nil }
        stats.computed = todo.count
        stats.cached = clips.count - todo.count
        if !todo.isEmpty {
            let network = try net()
            let t0 = DispatchTime.now().uptimeNanoseconds, c0 = Roofline.cpuSeconds()
            var lastReport = 0.0, sinceSave = 0
            func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
            do {
                for (n, i) in todo.enumerated() {
                    let x = try FVDClips.load(clips[i])
                    let f = x.withUnsafeBufferPointer {
                        network.logits($0.baseAddress!, frames: FVDPreprocess.frames, height: FVDPreprocess.size, width: FVDPreprocess.size)
                    }
                    stats.convSeconds += network.lastConvSeconds
                    stats.convCPUSeconds += network.lastConvCPUSeconds
                    guard f.allSatisfy({ $0.isFinite }) else { throw FVDInputError("\(clips[i].path): I3D features are not finite") }
                    cache.insert(keys[i], f)
                    sinceSave += 1
                    if sinceSave >= Self.saveEvery { try cache.save(); sinceSave = 0 }
                    let t = elapsed()
                    if t - lastReport >= progressInterval || n + 1 == todo.count {
                        lastReport = t
                        let rate = Double(n + 1) / t
                        let left = Double(todo.count - n - 1) / rate
                        let cached = stats.cached > 0 ? " (\(stats.cached) cached)" : ""
                        progress("fvd: \(side) \(n + 1)/\(todo.count) clips\(cached), \(String(format: "%.2f", rate)) clips/s, "
                                 + (n + 1 == todo.count ? "done in \(Self.duration(t))" : "\(Self.duration(left)) left"))
                    }
                }
            } catch {
                try? cache.save()  // keep what was computed
                throw error
            }
            try cache.save()
            stats.seconds = elapsed()
            stats.cpuSeconds = Roofline.cpuSeconds() - c0
        }
        var out = [Float]()
        out.reserveCapacity(clips.count * dim)
        for k in keys { out += cache.entries[k]! }
        return (out, stats)
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        if s < 90 { return "\(Int(s.rounded())) s" }
        if s < 5400 { return "\(Int((s / 60).rounded())) min" }
        return String(format: "%.1f h", s / 3600)
    }
}
