import Foundation
import PARVideo

/// A smooth gradient that moves right and down by a few pixels a frame.
func movingGradient(frames: Int, width: Int, height: Int, fps: Double = 8) -> VideoFrames {
    var px = [UInt8](repeating: 0, count: frames * height * width * 3)
    for t in 0..<frames {
        for y in 0..<height {
            for x in 0..<width {
                let i = ((t * height + y) * width + x) * 3
                let u = Double(x + 2 * t) / Double(width + 2 * frames)
                let v = Double(y + t) / Double(height + frames)
                px[i] = UInt8(255 * u)
                px[i + 1] = UInt8(255 * v)
                px[i + 2] = UInt8(127.5 + 100 * sin(Double(x + y) / Double(width) * 3 + Double(t) * 0.3))
            }
        }
    }
    return VideoFrames(width: width, height: height, count: frames, fps: fps, pixels: px)
}

import XCTest

extension XCTestCase {
    /// A fresh empty folder under the system temporary folder, removed when
    /// the test ends (kept when PARVIDEO_KEEP_TEST_FILES is set, to inspect
    /// the outputs with ffprobe).
    func scratchFolder(_ name: String = #function) throws -> URL {
        let clean = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("par-video-tests-\(getpid())-\(clean)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        if ProcessInfo.processInfo.environment["PARVIDEO_KEEP_TEST_FILES"] == nil {
            addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        }
        return url
    }
}

/// The built `par-video` executable: tests and executables share a folder.
var parVideoBinary: URL {
    #if os(macOS)
    let dir = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }!.bundleURL.deletingLastPathComponent()
    #else
    let dir = Bundle.main.bundleURL
    #endif
    return dir.appendingPathComponent("par-video")
}

/// Runs `par-video args` in `dir` without $PAR_VIDEO_MODEL unless `env` sets
/// it. `shell` (e.g. "ulimit -f 2; exec") runs it through bash with that
/// prefix, for a limit that holds for this run only.
func runParVideo(_ args: [String], in dir: URL, env: [String: String] = [:], shell prefix: String? = nil,
                 binary: URL = parVideoBinary) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    if let prefix {
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "\(prefix) \"$0\" \"$@\"", binary.path] + args
    } else {
        p.executableURL = binary
        p.arguments = args
    }
    p.currentDirectoryURL = dir
    var environment = ProcessInfo.processInfo.environment
    environment["PAR_VIDEO_MODEL"] = nil
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func listing(_ url: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
}
