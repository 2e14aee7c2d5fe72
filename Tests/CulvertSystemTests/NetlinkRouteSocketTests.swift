import CulvertSystem
import XCTest

final class NetlinkRouteSocketTests: XCTestCase {
    func testLoopbackIsFoundAndUnknownLinksAreNil() throws {
        let socket = try NetlinkRouteSocket()
        XCTAssertEqual(try socket.interfaceIndex(named: "lo"), 1)
        XCTAssertNil(try socket.interfaceIndex(named: "culvert-none0"))
    }
}

final class MnlSocketTests: XCTestCase {
    func testBindsWithAKernelAssignedPort() throws {
        let first = try MnlSocket()
        let second = try MnlSocket()
        XCTAssertNotEqual(first.portID, 0)
        XCTAssertNotEqual(first.portID, second.portID)
    }
}
