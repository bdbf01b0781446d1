/// How tokens are drawn from the logits.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 1.0
    /// Classifier-free guidance scale; 1 runs no unconditional batch.
    public var cfgScale: Float = 1.15
    /// Keep the k largest logits (0 = all); 1 is greedy.
    public var topK: Int = 8000
    public var topP: Float = 1.0
    /// Clip i of a batch draws from stream `seed + i`, so its tokens do not
    /// depend on the batch size or the thread count.
    public var seed: UInt64 = 0

    public init(temperature: Float = 1.0, cfgScale: Float = 1.15, topK: Int = 8000, topP: Float = 1.0, seed: UInt64 = 0) {
        self.temperature = temperature; self.cfgScale = cfgScale; self.topK = topK; self.topP = topP; self.seed = seed
    }

    public init(_ d: SamplingDefaults, seed: UInt64 = 0) {
        self.init(temperature: d.temperature, cfgScale: d.cfgScale, topK: d.topK, topP: d.topP, seed: seed)
    }

    public var greedy: Bool { topK == 1 || temperature <= 0 }
    public var usesCFG: Bool { cfgScale != 1 }

    /// The one rule for sampling values, from a bundle or a command line:
    /// temperature > 0 (top-k 1 is the greedy draw), guidance >= 0.
    public func validate() throws {
        guard temperature > 0, temperature.isFinite else { throw SamplingError("temperature must be finite and > 0, got \(temperature)") }
        guard topK >= 0 else { throw SamplingError("top-k must be >= 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw SamplingError("top-p must be in (0, 1], got \(topP)") }
        guard cfgScale >= 0, cfgScale.isFinite else { throw SamplingError("cfg scale must be finite and >= 0, got \(cfgScale)") }
    }
}

/// A sampling value out of range, or a generation request the model cannot
/// serve (unknown action, bad prefix, non-finite logits).
public struct SamplingError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
