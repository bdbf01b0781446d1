import XCTest
import PARVideo

final class SmokeTests: XCTestCase {
    func testVersion() { XCTAssertEqual(PARVideo.version.split(separator: ".").count, 3) }
}
