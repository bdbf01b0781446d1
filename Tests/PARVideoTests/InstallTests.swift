import Foundation
import XCTest

/// `make install` / `make uninstall` (tools/install.sh, the script both targets run): the installed
/// binary finds the installed built-in model from any directory, and uninstall removes what install wrote.
final class InstallTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    func script(_ args: [String]) throws -> (code: Int32, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Self.root.appendingPathComponent("tools/install.sh").path] + args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    func testInstalledBinaryRendersFromRootAndUninstallRemovesIt() throws {
        guard FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("models/builtin").path) else {
            throw XCTSkip("no models/builtin in this checkout")
        }
        let prefix = try scratchFolder(), out = try scratchFolder()
        let r = try script(["install", prefix.path, parVideoBinary.path])
        XCTAssertEqual(r.code, 0, r.err)
        for f in ["bin/par-video", "share/bash-completion/completions/par-video", "share/zsh/site-functions/_par-video",
                  "share/fish/vendor_completions.d/par-video.fish"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(f).path), f)
        }
        XCTAssertFalse(listing(prefix.appendingPathComponent("share/par-video/model")).isEmpty)
        let clip = out.appendingPathComponent("x.mp4")
        let g = try runParVideo(["--action", "3", "--frames", "5", "-o", clip.path], in: URL(fileURLWithPath: "/"),
                                binary: prefix.appendingPathComponent("bin/par-video"))
        XCTAssertEqual(g.code, 0, g.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: clip.path))
        let u = try script(["uninstall", prefix.path])
        XCTAssertEqual(u.code, 0, u.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: prefix.appendingPathComponent("bin/par-video").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: prefix.appendingPathComponent("share/par-video").path))
        XCTAssertNotEqual(try script(["uninstall", prefix.path]).code, 0, "a second uninstall has nothing to remove")
    }
}
