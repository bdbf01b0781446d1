import Foundation

/// What `tokens` makes: one clip's token cube and, when asked, the guided
/// logits every token was drawn from.
public struct TokenCubeRun {
    public let cube: TokenCube
    /// Rows of `vocab` floats in PAR sequence order, or nil.
    public let logits: [Float]?
    public let vocab: Int

    /// Steps predict increasing sequence positions, so appending each step's
    /// rows gives the rows in sequence order.
    public init(generator: PARGenerator, action: Int, options: SamplingOptions, keepLogits: Bool,
                progress: ((StepProgress) -> Void)? = nil) throws {
        var seen: [Float] = []
        let vocab = generator.model.config.vocabSize
        let hook: ((Int, Int, UnsafePointer<Float>) -> Void)? = keepLogits ? { _, rows, ptr in
            seen.append(contentsOf: UnsafeBufferPointer(start: ptr, count: rows * vocab))
        } : nil
        cube = try generator.generate(actions: [action], options: options, progress: progress, logitsHook: hook)[0]
        (logits, self.vocab) = (keepLogits ? seen : nil, vocab)
    }

    /// The cube as int32 .npy (T x H x W) at `url` and the logits as float32
    /// .npy (N x vocab) at `logitsURL`, each whole or not at all; a file
    /// already there is replaced only with `overwrite`.
    public func write(to url: URL, logitsTo logitsURL: URL?, overwrite: Bool) throws {
        try AtomicOutput.write(to: url, overwrite: overwrite) { tmp in
            try AtomicOutput.writeFile(NPY.encode(cube.tokens, shape: [cube.T, cube.H, cube.W]), to: tmp.path)
        }
        if let logitsURL, let logits {
            try AtomicOutput.write(to: logitsURL, overwrite: overwrite) { tmp in
                try AtomicOutput.writeFile(NPY.encode(logits, shape: [logits.count / vocab, vocab]), to: tmp.path)
            }
        }
    }
}
