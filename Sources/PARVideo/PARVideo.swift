/// par-video: PAR (parallelized autoregressive) video generation on the CPU.
/// One folder per concern: Weights, Kernels, Transformer, Sampling,
/// Tokenizer, VideoIO, Pipeline.
public enum PARVideo {
    public static let version = "0.1.0"
}
