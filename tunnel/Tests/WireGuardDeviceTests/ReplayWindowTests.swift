// ReplayWindow: in order, out of order within the window, duplicates, too old, the limit, and a
// brute-force comparison with a set-based model over random sequences.
import WireGuardDevice
import XCTest

final class ReplayWindowTests: XCTestCase {
    func testInOrderAndDuplicates() {
        var window = ReplayWindow()
        for counter in UInt64(0)..<300 {
            XCTAssertTrue(window.wouldAccept(counter))
            XCTAssertTrue(window.accept(counter))
            XCTAssertFalse(window.accept(counter), "duplicate \(counter)")
        }
        for counter in UInt64(0)..<300 { XCTAssertFalse(window.wouldAccept(counter)) }
    }

    func testOutOfOrderWithinWindowAndTooOld() {
        var window = ReplayWindow()
        let top = ReplayWindow.windowSize + 500
        XCTAssertTrue(window.accept(top))
        XCTAssertTrue(window.accept(top - ReplayWindow.windowSize), "oldest inside the window")
        XCTAssertFalse(window.accept(top - ReplayWindow.windowSize - 1), "just outside")
        XCTAssertFalse(window.accept(0))
        XCTAssertTrue(window.accept(top - 1))
        XCTAssertTrue(window.accept(top - 100))
        XCTAssertFalse(window.accept(top - 100))
        XCTAssertTrue(window.accept(top + 1))
        // A jump far ahead clears the whole ring: old bits must not linger as false duplicates.
        let far = top + 100_000
        XCTAssertTrue(window.accept(far))
        XCTAssertTrue(window.accept(far - 1))
        XCTAssertTrue(window.accept(far - 64))
        XCTAssertFalse(window.accept(top + 1))
    }

    func testLimit() {
        var window = ReplayWindow(limit: 10)
        XCTAssertTrue(window.accept(9))
        XCTAssertFalse(window.accept(10))
        XCTAssertFalse(window.wouldAccept(10))
        var standard = ReplayWindow()
        XCTAssertEqual(standard.limit, UInt64.max - 8192)
        XCTAssertFalse(standard.accept(UInt64.max))
        XCTAssertTrue(standard.accept(UInt64.max - 8193))
    }

    func testMatchesModelOnRandomSequences() {
        var generator = SeededGenerator(state: 7)
        for round in 0..<20 {
            var window = ReplayWindow()
            var seen = Set<UInt64>()
            var greatest: UInt64? = nil
            var base: UInt64 = 0
            for _ in 0..<3000 {
                base += UInt64.random(in: 0...40, using: &generator)
                let counter =
                    base >= 9000 ? base - UInt64.random(in: 0...9000, using: &generator) : UInt64.random(in: 0...base, using: &generator)
                let expected: Bool
                if let g = greatest, counter <= g {
                    expected = g - counter <= ReplayWindow.windowSize && !seen.contains(counter)
                } else {
                    expected = true
                }
                XCTAssertEqual(window.wouldAccept(counter), expected, "round \(round) counter \(counter)")
                XCTAssertEqual(window.accept(counter), expected, "round \(round) counter \(counter)")
                if expected {
                    seen.insert(counter)
                    greatest = max(greatest ?? 0, counter)
                }
            }
        }
    }
}
