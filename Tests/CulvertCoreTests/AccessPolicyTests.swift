import CulvertCore
import XCTest

final class AccessPolicyTests: XCTestCase {
    let methods = ["Ping", "GetStatus", "Watch", "SaveProfile", "RemoveProfile", "Unknown"]

    func testRootMayDoEverything() {
        let policy = AccessPolicy(readerGroupID: 900)
        for method in methods { XCTAssertTrue(policy.allows(Caller(uid: 0, gid: 0, groups: []), method: method), method) }
    }

    func testReaderGroupByPrimaryOrSupplementaryGroupMayOnlyObserve() {
        let policy = AccessPolicy(readerGroupID: 900)
        for caller in [Caller(uid: 1000, gid: 900, groups: []), Caller(uid: 1000, gid: 100, groups: [5, 900])] {
            XCTAssertEqual(policy.level(of: caller), .reader)
            for method in methods {
                XCTAssertEqual(policy.allows(caller, method: method), AccessPolicy.readMethods.contains(method), method)
            }
        }
    }

    func testEveryoneElseGetsNothing() {
        let policy = AccessPolicy(readerGroupID: 900)
        let stranger = Caller(uid: 65534, gid: 65534, groups: [1, 2])
        XCTAssertEqual(policy.level(of: stranger), .none)
        for method in methods { XCTAssertFalse(policy.allows(stranger, method: method), method) }
    }

    func testMissingReaderGroupMeansRootOnly() {
        let policy = AccessPolicy(readerGroupID: nil)
        XCTAssertEqual(policy.level(of: Caller(uid: 1000, gid: 900, groups: [900])), .none)
        XCTAssertEqual(policy.level(of: Caller(uid: 0, gid: 0, groups: [])), .admin)
    }
}
