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

final class ActionSelectionTests: XCTestCase {
    let ucf = ActionSelection(catalog: .ucf101, classes: 101)

    func testListsOfIdsNamesAndRanges() throws {
        XCTAssertEqual(try ucf.parse("0-4,10,PlayingGuitar"), [0, 1, 2, 3, 4, 10, 62])
        XCTAssertEqual(try ucf.parse(" 3 , 1-3 "), [3, 1, 2])
        XCTAssertEqual(try ucf.parse("all"), Array(0..<101))
        XCTAssertEqual(try ActionSelection(catalog: nil, classes: 5).parse("1-2,4"), [1, 2, 4])
        XCTAssertThrowsError(try ucf.parse("4-2"))
        XCTAssertThrowsError(try ucf.parse("0-101"))
        XCTAssertThrowsError(try ucf.parse(",")) 
        XCTAssertThrowsError(try ActionSelection(catalog: nil, classes: 5).parse("Archery"))
    }

    /// Every list example given for `--actions` in the README and docs/
    /// (`--actions X`, or a backticked list in a paragraph about --actions)
    /// is one this parser takes.
    func testDocumentedExamplesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let docs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") && $0 != "CONVERTING.md" }.map { "docs/" + $0 } + ["README.md"]  // the converter's --actions is a file
        var seen = 0
        for doc in docs {
            let text = try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8)
            for chunk in text.components(separatedBy: "\n\n").flatMap({ $0.components(separatedBy: "\n- ") }) where chunk.contains("--actions") {
                let lists = captures(#"--actions[ =]([A-Za-z0-9][^\s`|\\)]*)"#, in: chunk)
                    + captures(#"`([A-Za-z0-9][A-Za-z0-9\-]*(,[A-Za-z0-9\-]+)+)`"#, in: chunk)
                for list in lists {
                    XCTAssertNoThrow(try ucf.parse(list), "\(doc): --actions \(list)")
                    seen += 1
                }
            }
        }
        XCTAssertGreaterThan(seen, 2)
    }
}

/// The first capture group of every match of `pattern` in `text`.
func captures(_ pattern: String, in text: String) -> [String] {
    let re = try! NSRegularExpression(pattern: pattern)
    return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
        Range($0.range(at: 1), in: text).map { String(text[$0]) }
    }
}
