import Foundation
import CKernels
import COpenBLAS

/// The kernels' threads. Work is always cut into a fixed number of chunks
/// that do not depend on the thread count, and chunks never split a
/// reduction, so results are bitwise the same with any number of threads.
public enum Parallel {
    /// Threads used by every kernel (`ThreadCount.use` sets it).
    nonisolated(unsafe) public static var threads: Int = ThreadCount.available {
        didSet { threads = max(1, threads) }
    }

    /// OpenBLAS runs single-threaded inside our own chunks: its worker
    /// threads would otherwise spin while ours run and fight for 2 cores.
    static let blasSetup: Void = { openblas_set_num_threads(1) }()

    /// Runs `body(chunk)` for chunk in 0..<chunks on up to `threads` threads.
    @inline(__always)
    public static func forEach(_ chunks: Int, _ body: (Int) -> Void) {
        forEach(chunks) { c, _ in body(c) }
    }

    /// Same, also passing the worker index (0..<threads) for per-thread scratch.
    public static func forEach(_ chunks: Int, _ body: (_ chunk: Int, _ worker: Int) -> Void) {
        _ = blasSetup
        let t = min(threads, chunks)
        if t <= 1 {
            for c in 0..<chunks { body(c, 0) }
            return
        }
        // The spinning pool first; libdispatch when it is busy (a nested region).
        let pooled = withoutActuallyEscaping(body) { body -> Bool in
            var task = body
            return withUnsafeMutablePointer(to: &task) { ctx in
                ck_pool_run(chunks, Int32(t), { ctx, chunk, worker in
                    ctx!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(chunk), Int(worker))
                }, ctx) != 0
            }
        }
        if pooled { return }
        // Chunks are claimed one at a time rather than dealt out in turn: the
        // guest loses whole time slices to the hypervisor, and a fixed share per
        // thread made the other thread wait at every join. Which thread runs a
        // chunk never changes its result (no chunk splits a sum).
        var claimed = 0
        withUnsafeMutablePointer(to: &claimed) { next in
            withoutActuallyEscaping(body) { body in
                DispatchQueue.concurrentPerform(iterations: t) { worker in
                    while true {
                        let c = ck_claim(next)
                        if c >= chunks { break }
                        body(c, worker)
                    }
                }
            }
        }
    }
}

/// Runs body on contiguous slices covering 0..<n, one per thread, through
/// libdispatch (the tokenizer's long regions; safe to nest). Callers must not
/// let a result depend on where a slice starts.
@inline(__always)
func parallelFor(_ n: Int, _ body: (Range<Int>) -> Void) {
    let workers = min(n, Parallel.threads)
    if workers <= 1 { body(0..<n); return }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        body((n * w / workers)..<(n * (w + 1) / workers))
    }
}

/// A raw float buffer that outlives Swift's copy-on-write (kernel scratch).
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let ptr: UnsafeMutablePointer<Float>
    public init(_ count: Int) {
        self.count = count
        ptr = .allocate(capacity: max(count, 1))
        ptr.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { ptr.deallocate() }
}
