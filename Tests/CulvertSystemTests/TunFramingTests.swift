// TunFraming: a TUN is created with the framing asked for, TUNGETIFF reports it (and the name) from
// any descriptor of the interface, and an exclusive create never attaches to an existing interface
// (root, private network namespace; this thread's /sys is the host's, so tun_flags is read by the
// integration tests, TunOffloadTests, through `ip netns exec`).

import CulvertSystem
import Foundation
import XCTest

final class TunFramingTests: XCTestCase {
    static let name = "cvtframe0"

    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "network namespaces and TUN devices need root")
    }

    func testFramingIsWhatCreationAskedFor() {
        withPrivateNetworkNamespace { _ in
            for framing in TunFraming.allCases {
                let tun = try TunDevice.create(name: Self.name, framing: framing)
                defer { tun.descriptor.close() }
                let flags = try tun.descriptor.tunInterfaceFlags()
                try require(flags.framing == framing, "\(framing): flags \(String(flags.rawValue, radix: 16))")
                try require(flags.name == Self.name, "name \(flags.name)")
                let duplicate = try tun.descriptor.duplicate()
                defer { duplicate.close() }
                try require(try duplicate.tunInterfaceFlags().framing == framing, "a duplicate reports the interface's framing")
            }
        }
    }

    func testExclusiveCreateNeverAttachesToAnExistingInterface() {
        withPrivateNetworkNamespace { _ in
            let first = try TunDevice.create(name: Self.name, framing: .plain)
            defer { first.descriptor.close() }
            var refusal: SystemError?
            do throws(SystemError) {
                let second = try TunDevice.create(name: Self.name, framing: .virtioNetHeader, exclusive: true)
                second.descriptor.close()
            } catch {
                refusal = error
            }
            try require(refusal?.errno == 16, "EBUSY expected, got \(String(describing: refusal))")
            try require(try first.framing() == .plain, "the existing interface is unchanged")
        }
    }

    func testANonTunDescriptorIsRefused() throws {
        let pipe = try Descriptor.pipe()
        defer {
            pipe.read.close()
            pipe.write.close()
        }
        XCTAssertThrowsError(try pipe.read.tunInterfaceFlags())
    }
}
