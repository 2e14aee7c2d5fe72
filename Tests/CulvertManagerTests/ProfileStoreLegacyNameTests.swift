// ProfileStore.isLegacyTemporaryName: the temporary files of old daemons (`<name>.json.tmp-<digits>`)
// are recognised by the last `.json.tmp-` and digits only after it; nothing else is.

import XCTest

@testable import CulvertManager

final class ProfileStoreLegacyNameTests: XCTestCase {
    func testOnlyDigitsAfterTheLastMarkerMakeALegacyTemporaryName() {
        for name in ["work.json.tmp-1", "work.json.tmp-123456", "a.json.tmp-x.json.tmp-42"] {
            XCTAssertTrue(ProfileStore.isLegacyTemporaryName(name), name)
        }
        for name in ["work.json", "work.json.tmp-", "work.json.tmp-12x", "work.json.tmp-1.json", "work.json.tmp-٣", "tmp-1", ""] {
            XCTAssertFalse(ProfileStore.isLegacyTemporaryName(name), name)
        }
    }
}
