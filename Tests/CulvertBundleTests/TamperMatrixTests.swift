import CulvertSystem
import Foundation
import XCTest

@testable import CulvertBundle

final class TamperMatrixTests: XCTestCase {
    /// The acceptance: at least 25 tamperings, each refused with its own error code.
    func testEveryTamperingIsRefusedWithItsOwnCode() throws {
        let matrix = TamperMatrix.distinct
        XCTAssertGreaterThanOrEqual(matrix.count, 25)
        for tampering in matrix {
            XCTAssertEqual(try refusal(of: tampering)?.code, tampering.code, tampering.name)
        }
        let codes = matrix.map(\.code)
        let repeated = Dictionary(grouping: codes, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        XCTAssertEqual(repeated, [], "every tampering in the matrix must have a distinct code")
        XCTAssertEqual(Set(codes).count, matrix.count)
    }

    func testFurtherTamperingsAreRefused() throws {
        for tampering in TamperMatrix.alsoRefused {
            XCTAssertEqual(try refusal(of: tampering)?.code, tampering.code, tampering.name)
        }
    }

    /// stageCopy applies the walk's refusals to the source, before creating anything.
    func testStageCopyRefusesEveryHostileShape() throws {
        let structural = (TamperMatrix.distinct + TamperMatrix.alsoRefused).filter(\.structural)
        XCTAssertGreaterThanOrEqual(structural.count, 15)
        for tampering in structural {
            let fixture = try BundleFixture()
            try tampering.apply(fixture)
            let staging = fixture.base + "/staging"
            try FileSystem.createDirectory(staging, mode: 0o700)
            let error = bundleError { () throws(BundleError) in try BundleInstaller.stageCopy(from: fixture.path, into: staging) }
            XCTAssertEqual(error?.code, tampering.code, "stageCopy: \(tampering.name)")
            XCTAssertEqual(try FileSystem.listDirectory(staging), [], "stageCopy left something behind: \(tampering.name)")
        }
    }

    func testErrorCodesAreStableSnakeCaseAndDescribed() throws {
        let fixture = try BundleFixture()
        try Damage.symlink("/etc/passwd", at: fixture.file("share/passwd"))
        let error = bundleError { () throws(BundleError) in try fixture.verify() }
        XCTAssertEqual(error, .symlinkEscapesBundle(path: "share/passwd", target: "/etc/passwd"))
        XCTAssertEqual(
            error?.description, "symlink_escapes_bundle: share/passwd is a symlink pointing outside the bundle (/etc/passwd)")
        for tampering in TamperMatrix.distinct {
            XCTAssertTrue(tampering.code.allSatisfy { $0.isLowercase || $0 == "_" }, tampering.code)
        }
    }

    /// Builds a fresh fixture, damages it, verifies it, and returns the refusal.
    private func refusal(of tampering: Tampering, file: StaticString = #filePath, line: UInt = #line) throws -> BundleError? {
        let fixture = try BundleFixture()
        try tampering.apply(fixture)
        // Keys a tampering saved next to the bundle are trusted too ("wrong key" needs a second trusted key).
        let trust = TrustedPublishers([fixture.key.publisherKey] + (try PublisherKey.loadAll(directory: fixture.base)))
        return bundleError(
            { () throws(BundleError) in try fixture.verify(allowUnsigned: tampering.allowUnsigned, trust: trust) }, file: file, line: line)
    }
}
