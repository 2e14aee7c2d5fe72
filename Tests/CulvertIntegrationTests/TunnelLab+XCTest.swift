// TunnelLab+XCTest: the tunnel lab (CulvertTesting/TunnelLab.swift) tied to a test — torn down by the
// test's teardown even when the test fails — and the assertions the tunnel tests share.

import CulvertTesting
import CulvertVarlink
import XCTest

extension TunnelLab {
    /// Sets the lab up and registers its teardown with `test`.
    convenience init(test: XCTestCase, daemonArguments: [String] = [], startPeer: Bool = true) throws {
        try self.init(daemonArguments: daemonArguments, startPeer: startPeer)
        test.addTeardownBlock { [self] in tearDown() }
    }

    /// The remote error of a call that must fail.
    static func remoteError(_ body: () throws -> JSONValue) -> VarlinkError? {
        do {
            _ = try body()
            return nil
        } catch VarlinkClientError.remote(let error) {
            return error
        } catch {
            return VarlinkError("local", ["description": .string("\(error)")])
        }
    }

    /// Fails with the objects that differ (not two walls of JSON) if A's network state is not `expected`.
    func assertNetworkState(equals expected: [String: String], _ message: String = "", file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let now = try networkStateA()
        for key in Set(expected.keys).union(now.keys).sorted() where expected[key] != now[key] {
            XCTFail(
                "\(message) ip -j \(key) changed:\n before: \(expected[key] ?? "-")\n now:    \(now[key] ?? "-")", file: file, line: line)
        }
    }
}

extension JSONValue {
    var stringList: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.stringValue)
    }
}
