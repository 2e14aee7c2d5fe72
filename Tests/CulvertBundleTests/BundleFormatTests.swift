import CulvertBundle
import XCTest
final class BundleFormatTests: XCTestCase { func testFormatVersion() { XCTAssertEqual(CulvertBundleFormat.version, 1) } }
