import CKernels
import Foundation

/// The one source of thread counts. The engine, the tokenizer and the FVD
/// network all run on `Parallel.threads`; commands set it from `--threads`,
/// and without it it is `available`. Results never depend on it: work is cut
/// into chunks fixed by the data, never by the thread count.
public enum ThreadCount {
    /// `--threads` accepts 1 ... 1024.
    public static let range = 1...1024

    /// The CPUs this process may run on: its affinity mask, so `taskset -c 0`
    /// and `srun -c 1` give 1 (a count of all cores would run 2 threads on 1).
    public static let available = allowedCPUs()

    /// The calling thread's affinity mask, counted now (threads inherit the
    /// process's mask); all cores when the mask cannot be read.
    public static func allowedCPUs() -> Int {
        let n = Int(ck_available_cpus())
        return n > 0 ? n : max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Sets the thread count of every compute kernel: `threads`, else `available`.
    public static func use(_ threads: Int?) {
        Parallel.threads = threads ?? available
    }

    /// The video encoder's threads, whatever `--threads` says: x264's frame
    /// threads change the bitstream with their count, and encoding a clip is a
    /// small part of making it.
    public static let encoder = 1
}
