import CulvertSystem
import XCTest

final class NetlinkRouteSocketTests: XCTestCase {
    func testLoopbackIsFoundAndUnknownLinksAreNil() throws {
        let socket = try NetlinkRouteSocket()
        XCTAssertEqual(try socket.interfaceIndex(named: "lo"), 1)
        XCTAssertNil(try socket.interfaceIndex(named: "culvert-none0"))
    }
}
