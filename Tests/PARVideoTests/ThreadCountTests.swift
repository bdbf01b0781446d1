import Foundation
import XCTest
@testable import PARVideo

/// One thread model: every count comes from `Parallel.threads`, and no result
/// depends on it.
final class ThreadCountTests: XCTestCase {
    static let builtin = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models/builtin").standardized
    static let counts = [1, 2, 3, 8]

    override func tearDown() { ThreadCount.use(nil) }

    func builtinTokenizer() throws -> VideoTokenizer {
        let path = Self.builtin.appendingPathComponent("tokenizer.safetensors").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no models/builtin in this checkout") }
        return try VideoTokenizer(path: path)
    }

    /// The built-in tokenizer's frames are large enough (up to 4096 positions)
    /// that GroupNorm sums over several slices and the convolutions over
    /// several blocks: decoded floats and encoded tokens must be bit-identical.
    func testTokenizerIsBitIdenticalWithAnyThreadCount() throws {
        let tok = try builtinTokenizer()
        let (t, h, w) = tok.config.latentShape(frames: 17, height: 64, width: 64)
        let vocab = tok.fsq.vocabularySize
        let cube = (0..<(t * h * w)).map { Int32(($0 * 7919 + 13) % vocab) }
        let clip = movingGradient(frames: 17, width: 64, height: 64)
        let video = clip.pixels.map { Float($0) / 255 }
        var decoded: [[UInt32]] = [], encoded: [[Int32]] = []
        for n in Self.counts {
            ThreadCount.use(n)
            decoded.append(try tok.decodeUnclamped(cube: cube, t: t, h: h, w: w).map(\.bitPattern))
            encoded.append(try tok.encode(frames: video, count: 17, height: 64, width: 64))
        }
        for i in 1..<Self.counts.count {
            XCTAssertEqual(decoded[i], decoded[0], "decoded, \(Self.counts[i]) threads vs 1")
            XCTAssertEqual(encoded[i], encoded[0], "encoded, \(Self.counts[i]) threads vs 1")
        }
    }

    /// A whole clip through the binary: the MP4 bytes do not depend on --threads.
    func testClipBytesAreIdenticalWithAnyThreadCount() throws {
        guard FileManager.default.fileExists(atPath: Self.builtin.path) else { throw XCTSkip("no models/builtin in this checkout") }
        let dir = try scratchFolder()
        var clips: [Data] = []
        for n in Self.counts {
            let r = try runParVideo(["generate", "--model", Self.builtin.path, "--action", "3", "--seed", "7",
                                     "--threads", "\(n)", "--quiet", "-o", "t\(n).mp4"], in: dir)
            XCTAssertEqual(r.code, 0, r.err)
            clips.append(try Data(contentsOf: dir.appendingPathComponent("t\(n).mp4")))
        }
        XCTAssertGreaterThan(clips[0].count, 1000)
        for i in 1..<clips.count { XCTAssertEqual(clips[i], clips[0], "\(Self.counts[i]) threads vs 1") }
    }

    /// The default follows the affinity mask (taskset, srun -c), not the core count.
    func testAvailableFollowsTheAffinityMask() throws {
        XCTAssertGreaterThanOrEqual(ThreadCount.available, 1)
        final class Seen: @unchecked Sendable { var cpus = 0 }
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        // sched_setaffinity is a GNU extension Glibc's module does not export.
        typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
        let symbol = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity"))
        let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
        let thread = Thread {
            var one = cpu_set_t()
            withUnsafeMutableBytes(of: &one) { $0[0] = 1 }  // CPU 0 only, for this thread
            if withUnsafeBytes(of: &one, { setAffinity(0, $0.count, $0.baseAddress!) }) == 0 { seen.cpus = ThreadCount.allowedCPUs() }
            done.signal()
        }
        thread.start()
        done.wait()
        XCTAssertEqual(seen.cpus, 1)
    }
}
