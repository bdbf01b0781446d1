import Foundation
import XCTest
@testable import PARVideo

final class VideoIOTests: XCTestCase {
    func roundTrip(frames: Int, size: Int, options: VideoEncodeOptions = .init()) throws -> (VideoFrames, VideoFrames, URL) {
        let dir = try scratchFolder("\(frames)x\(size)\(options.codec)")
        let clip = movingGradient(frames: frames, width: size, height: size)
        let url = dir.appendingPathComponent("clip.mp4")
        try VideoWriter.writeMP4(clip, to: url, options: options)
        let back = try VideoReader.read(url)
        return (clip, back, url)
    }

    func testH264RoundTrip16Frames64() throws {
        try XCTSkipUnless(VideoWriter.hasH264, "libx264 missing")
        let (clip, back, url) = try roundTrip(frames: 16, size: 64, options: .init(codec: .h264))
        XCTAssertEqual(back.count, 16)
        XCTAssertEqual(back.width, 64)
        XCTAssertEqual(back.height, 64)
        XCTAssertEqual(back.fps, 8, accuracy: 1e-9)
        let psnr = clip.psnr(against: back)
        print("h264 16x64x64 PSNR \(psnr) dB, \(fileSize(url)) bytes")
        XCTAssertGreaterThanOrEqual(psnr, 35)
        XCTAssertEqual(try probeCodec(url), "h264")
    }

    func testH264RoundTrip17Frames128() throws {
        try XCTSkipUnless(VideoWriter.hasH264, "libx264 missing")
        let (clip, back, url) = try roundTrip(frames: 17, size: 128)
        XCTAssertEqual(back.count, 17)
        XCTAssertEqual(back.width, 128)
        let psnr = clip.psnr(against: back)
        print("h264 17x128x128 PSNR \(psnr) dB, \(fileSize(url)) bytes")
        XCTAssertGreaterThanOrEqual(psnr, 35)
    }

    func testMPEG4Fallback() throws {
        for (frames, size) in [(16, 64), (17, 128)] {
            let (clip, back, url) = try roundTrip(frames: frames, size: size, options: .init(codec: .mpeg4))
            XCTAssertEqual(back.count, frames)
            let psnr = clip.psnr(against: back)
            print("mpeg4 \(frames)x\(size)x\(size) PSNR \(psnr) dB")
            XCTAssertGreaterThanOrEqual(psnr, 35)
            XCTAssertEqual(try probeCodec(url), "mpeg4")
        }
        XCTAssertEqual(try VideoWriter.codecName(for: .init(codec: .mpeg4)), "mpeg4")
    }

    func testSingleFrameAndOddFPS() throws {
        let clip = movingGradient(frames: 1, width: 32, height: 16)
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("one.mp4")
        try VideoWriter.writeMP4(clip, to: url, options: .init(fps: 29.97))
        let back = try VideoReader.read(url)
        XCTAssertEqual(back.count, 1)
        XCTAssertEqual(back.fps, 29.97, accuracy: 1e-6)
    }

    func testSameInputSameBytes() throws {
        let clip = movingGradient(frames: 9, width: 64, height: 48)
        let dir = try scratchFolder()
        for codec in [VideoEncodeOptions.Codec.auto, .mpeg4] {
            let a = dir.appendingPathComponent("a-\(codec).mp4"), b = dir.appendingPathComponent("b-\(codec).mp4")
            try VideoWriter.writeMP4(clip, to: a, options: .init(codec: codec))
            // Several encodes: x264's AVX-512 code made the 2nd..nth differ.
            for _ in 0..<6 {
                try VideoWriter.writeMP4(clip, to: b, options: .init(codec: codec))
                XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), "\(codec) output differs between runs")
            }
        }
    }

    func testMoovAtomFirst() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("fast.mp4")
        try VideoWriter.writeMP4(movingGradient(frames: 4, width: 32, height: 32), to: url)
        let data = try Data(contentsOf: url)
        let moov = data.range(of: Data("moov".utf8))!.lowerBound
        let mdat = data.range(of: Data("mdat".utf8))!.lowerBound
        XCTAssertLessThan(moov, mdat, "moov must precede mdat (faststart)")
    }

    func testOutputSizeScaling() throws {
        let dir = try scratchFolder()
        let clip = movingGradient(frames: 5, width: 64, height: 64)
        let url = dir.appendingPathComponent("big.mp4")
        try VideoWriter.writeMP4(clip, to: url, options: .init(size: (128, 96)))
        let back = try VideoReader.read(url)
        XCTAssertEqual([back.width, back.height, back.count], [128, 96, 5])
        // Reading back at the original size recovers the gradient.
        let small = try VideoReader.read(url, size: (64, 64))
        XCTAssertEqual([small.width, small.height], [64, 64])
        let psnr = clip.psnr(against: small)
        print("64 -> 128x96 -> 64 PSNR \(psnr) dB")
        XCTAssertGreaterThanOrEqual(psnr, 30)
        // maxFrames stops early, for files and folders alike.
        XCTAssertEqual(try VideoReader.read(url, maxFrames: 3).count, 3)
        try FrameFolder.write(clip, to: dir.appendingPathComponent("f"))
        XCTAssertEqual(try VideoReader.read(dir.appendingPathComponent("f"), maxFrames: 2).pixels, clip.frames(0..<2).pixels)
        // resized() agrees in geometry and keeps a smooth gradient close.
        let up = try clip.resized(width: 128, height: 96)
        XCTAssertEqual([up.width, up.height, up.count], [128, 96, 5])
        XCTAssertGreaterThanOrEqual(try up.resized(width: 64, height: 64).psnr(against: clip), 35)
    }

    func testOddSizeRefused() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("odd.mp4")
        XCTAssertThrowsError(try VideoWriter.writeMP4(movingGradient(frames: 2, width: 33, height: 32), to: url)) {
            XCTAssertTrue("\($0)".contains("even"), "\($0)")
        }
        XCTAssertThrowsError(try VideoWriter.writeMP4(movingGradient(frames: 2, width: 32, height: 32), to: url,
                                                      options: .init(size: (64, 63))))
        XCTAssertEqual(listing(dir), [])
    }

    func testFrameFolderBitExact() throws {
        let dir = try scratchFolder()
        let clip = movingGradient(frames: 17, width: 128, height: 128)
        var noisy = clip  // PNG must keep every value, not just smooth ones
        for i in stride(from: 0, to: noisy.pixels.count, by: 7) { noisy.pixels[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        let url = dir.appendingPathComponent("clip0")
        try FrameFolder.write(noisy, to: url)
        XCTAssertEqual(listing(url), (0..<17).map { String(format: "%06d.png", $0) })
        let back = try VideoReader.read(url)
        XCTAssertEqual(back.count, 17)
        XCTAssertEqual(back.pixels, noisy.pixels)
        XCTAssertEqual(listing(dir), ["clip0"], "no temporary folder left")
        // Overwriting an existing folder replaces it whole.
        try FrameFolder.write(clip.frames(0..<3), to: url)
        XCTAssertEqual(listing(url).count, 3)
        XCTAssertEqual(try FrameFolder.read(url).pixels, clip.frames(0..<3).pixels)
        XCTAssertEqual(listing(dir), ["clip0"])
    }

    func testUnwritablePathRefused() throws {
        let clip = movingGradient(frames: 2, width: 16, height: 16)
        let missing = URL(fileURLWithPath: "/nonexistent/dir/x.mp4")
        XCTAssertThrowsError(try VideoWriter.writeMP4(clip, to: missing)) {
            XCTAssertEqual("\($0)", "cannot write /nonexistent/dir/x.mp4: folder /nonexistent/dir does not exist")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent/dir"))
        let dir = try scratchFolder()
        let file = dir.appendingPathComponent("plain")
        XCTAssertTrue(FileManager.default.createFile(atPath: file.path, contents: Data("x".utf8)))
        XCTAssertThrowsError(try VideoWriter.writeMP4(clip, to: file.appendingPathComponent("x.mp4"))) {
            XCTAssertTrue("\($0)".contains("is not a folder"), "\($0)")
        }
        XCTAssertThrowsError(try FrameFolder.write(clip, to: file)) {
            XCTAssertTrue("\($0)".contains("exists and is a file"), "\($0)")
        }
        // A read-only folder (only meaningful when not running as root).
        if getuid() != 0 {
            let ro = dir.appendingPathComponent("ro")
            try FileManager.default.createDirectory(at: ro, withIntermediateDirectories: false)
            chmod(ro.path, 0o555)
            defer { chmod(ro.path, 0o755) }
            XCTAssertThrowsError(try VideoWriter.writeMP4(clip, to: ro.appendingPathComponent("x.mp4")))
            XCTAssertEqual(listing(ro), [])
        }
        XCTAssertEqual(listing(dir), ["plain"])
    }

    func testFailureMidWriteLeavesNothing() throws {
        let dir = try scratchFolder()
        let target = dir.appendingPathComponent("out.mp4")
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicOutput.write(to: target) { tmp in
            XCTAssertTrue(FileManager.default.createFile(atPath: tmp.path, contents: Data(repeating: 1, count: 100)))
            XCTAssertEqual(AtomicOutput.inFlight, [tmp.path])
            throw Boom()
        })
        XCTAssertEqual(listing(dir), [])
        XCTAssertEqual(AtomicOutput.inFlight, [])
        XCTAssertThrowsError(try AtomicOutput.write(to: dir.appendingPathComponent("frames"), directory: true) { tmp in
            XCTAssertTrue(FileManager.default.createFile(atPath: tmp.appendingPathComponent("000000.png").path, contents: Data([1])))
            throw Boom()
        })
        XCTAssertEqual(listing(dir), [])
    }

    func testClipOutputBoth() throws {
        let dir = try scratchFolder()
        let clip = movingGradient(frames: 5, width: 64, height: 64)
        let mp4 = dir.appendingPathComponent("c.mp4"), frames = dir.appendingPathComponent("c")
        try ClipOutput.write(clip, mp4: mp4, frames: frames, options: .init(size: (96, 96)))
        XCTAssertEqual(listing(dir), ["c", "c.mp4"])
        let png = try FrameFolder.read(frames), video = try VideoReader.read(mp4)
        XCTAssertEqual([png.width, png.count, video.width, video.count], [96, 5, 96, 5])
        XCTAssertGreaterThanOrEqual(png.psnr(against: video), 35)
        // The frame folder cannot be written (a file is in the way): no MP4 either.
        let dir2 = try scratchFolder("both2")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir2.appendingPathComponent("d").path, contents: Data()))
        XCTAssertThrowsError(try ClipOutput.write(clip, mp4: dir2.appendingPathComponent("d.mp4"),
                                                  frames: dir2.appendingPathComponent("d")))
        XCTAssertEqual(listing(dir2), ["d"])
    }

    func testFloatConversion() {
        // T=1, H=1, W=2: channel-last and channel-first give the same pixels.
        let thwc: [Float] = [0, 0.5, 1, -0.2, 1.7, .nan]
        let a = VideoFrames(floats: thwc, count: 1, height: 1, width: 2, layout: .thwc)
        XCTAssertEqual(a.pixels, [0, 128, 255, 0, 255, 0])
        let tchw: [Float] = [0, -0.2, 0.5, 1.7, 1, .nan]
        XCTAssertEqual(VideoFrames(floats: tchw, count: 1, height: 1, width: 2, layout: .tchw).pixels, a.pixels)
        // 2 frames, 1x1: C,T,H,W.
        let cthw: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
        let b = VideoFrames(floats: cthw, count: 2, height: 1, width: 1, layout: .cthw)
        XCTAssertEqual(b.pixels, [26, 77, 128, 51, 102, 153])
        let back = b.floats(layout: .cthw)
        for (x, y) in zip(back, cthw) { XCTAssertEqual(x, y, accuracy: 0.5 / 255 + 1e-6) }
    }
}

func fileSize(_ url: URL) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int) ?? -1
}

/// The codec of the first video stream, read through libavformat.
func probeCodec(_ url: URL) throws -> String {
    try VideoProbe.codecName(url)
}
