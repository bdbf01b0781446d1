import Foundation
import XCTest
@testable import PARVideo

final class ActionTests: XCTestCase {
    func testUCF101MatchesClassList() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../tools/ucf101_classes.txt").standardized
        let names = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(ActionCatalog.ucf101.names, names)
        XCTAssertEqual(ActionCatalog.ucf101.count, 101)
        XCTAssertEqual(Set(names).count, 101)
    }

    func testResolveIdsAndNames() throws {
        let c = ActionCatalog.ucf101
        XCTAssertEqual(try c.resolve("0"), 0)
        XCTAssertEqual(try c.resolve("100"), 100)
        XCTAssertEqual(c.names[100], "YoYo")
        XCTAssertEqual(try c.resolve("ApplyEyeMakeup"), 0)
        XCTAssertEqual(try c.resolve("applyeyemakeup"), 0)
        XCTAssertEqual(try c.resolve("apply eye makeup"), 0)
        XCTAssertEqual(try c.resolve("PLAYING_GUITAR"), 62)
        XCTAssertEqual(try c.resolve(" yoyo "), 100)
    }

    func testOutOfRangeAndUnknown() {
        let c = ActionCatalog.ucf101
        XCTAssertThrowsError(try c.resolve("101")) {
            XCTAssertEqual("\($0)", "action id 101 is out of range: ids are 0...100 (see `par-video actions`)")
        }
        XCTAssertThrowsError(try c.resolve("99999999999999999999999"))
        XCTAssertThrowsError(try c.resolve("-1"))
        XCTAssertThrowsError(try c.resolve(""))
        XCTAssertThrowsError(try c.resolve("nosuch")) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("unknown action 'nosuch'; closest: "), text)
            XCTAssertFalse(text.contains("\n"))
        }
        XCTAssertThrowsError(try c.resolve("Basketbal")) {
            XCTAssertTrue("\($0)".contains("closest: Basketball, BasketballDunk"), "\($0)")
        }
    }

    func testSuggestions() {
        let c = ActionCatalog.ucf101
        XCTAssertEqual(c.suggestions(for: "guitar"), ["PlayingGuitar"] + c.suggestions(for: "guitar").dropFirst())
        XCTAssertEqual(c.suggestions(for: "guitar").first, "PlayingGuitar")
        XCTAssertEqual(c.suggestions(for: "Archeri", limit: 1), ["Archery"])
        XCTAssertEqual(c.suggestions(for: "sufring", limit: 1), ["Surfing"])
        XCTAssertEqual(c.suggestions(for: "Piano").first, "PlayingPiano")
        XCTAssertEqual(c.suggestions(for: "x", limit: 5).count, 5)
        XCTAssertEqual(ActionCatalog.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(ActionCatalog.editDistance("", "abc"), 3)
    }

    func testCustomCatalog() throws {
        let c = ActionCatalog(names: ["walk", "run", "Jump Rope"])
        XCTAssertEqual(try c.resolve("RUN"), 1)
        XCTAssertEqual(try c.resolve("jumprope"), 2)
        XCTAssertThrowsError(try c.resolve("3")) {
            XCTAssertTrue("\($0)".contains("ids are 0...2"), "\($0)")
        }
        XCTAssertThrowsError(try c.resolve("wakl")) {
            XCTAssertTrue("\($0)".contains("closest: walk"), "\($0)")
        }
    }
}
