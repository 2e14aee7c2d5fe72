// Shared helpers for tests that drive a real culvertd over its socket.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

/// Bound on any single wait for a reply in these tests.
let replyTimeoutMilliseconds: Int32 = 10_000

extension VarlinkClientConnection {
    /// Starts a Watch and returns nothing; read events with `nextEvent()`.
    func startWatch(since: Int64? = nil, epoch: String? = nil) throws {
        var parameters: [String: JSONValue] = [:]
        if let since { parameters["since"] = .int(since) }
        if let epoch { parameters["epoch"] = .string(epoch) }
        try send(VarlinkCallMessage(method: "io.culvert.Manager.Watch", parameters: .object(parameters), more: true))
    }

    /// The next event of a Watch, failing the test on an error reply or timeout.
    func nextEvent(file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        let reply = try receive(timeoutMilliseconds: replyTimeoutMilliseconds)
        if let error = reply.error {
            XCTFail("Watch ended with \(error) \(reply.parameters.jsonString)", file: file, line: line)
            throw VarlinkClientError.remote(VarlinkError(error, reply.parameters))
        }
        guard let event = reply.parameters["event"] else {
            XCTFail("reply without event: \(reply.parameters.jsonString)", file: file, line: line)
            throw VarlinkClientError.invalidReply("no event")
        }
        return event
    }

    @discardableResult
    func saveProfile(_ name: String, options: [String: String] = [:]) throws -> JSONValue {
        try call(
            "io.culvert.Manager.SaveProfile",
            ["profile": ["name": .string(name), "extension": "io.culvert.test", "options": .object(options.mapValues { .string($0) })]],
            timeoutMilliseconds: replyTimeoutMilliseconds)
    }
}

/// A daemon in a private temp directory, torn down with the test.
func startDaemon(_ testCase: XCTestCase, arguments: [String] = [], base: String = NSTemporaryDirectory()) throws -> DaemonProcess {
    let directory = try TemporaryDirectory(prefix: "culvert-it", base: base)
    let daemon = DaemonProcess(root: directory.path, arguments: arguments)
    testCase.addTeardownBlock {
        daemon.crash()
        directory.remove()
    }
    try daemon.start()
    return daemon
}

/// Paths inside this checkout, for tools `make test` installs beside the build (the reference
/// Python varlink implementation lives in .build-py/).
enum Repository {
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }
    static var python: String { root + "/.build-py/bin/python3" }
}

/// Runs a program to completion and returns its exit status and combined output.
func runProgram(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

/// Makes the reader group and its member user that PermissionTests, BudgetTests and
/// ReaderVisibilityTests act as (root only; a run that cannot fails the test, never skips it).
func ensureReaderGroupMember(file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(try runProgram("/usr/sbin/groupadd", ["-f", PermissionTests.readerGroup]).status, 0, file: file, line: line)
    guard try runProgram("/usr/bin/id", ["-u", PermissionTests.memberUser]).status != 0 else { return }
    let created = try runProgram(
        "/usr/sbin/useradd",
        [
            "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", PermissionTests.readerGroup,
            PermissionTests.memberUser,
        ])
    XCTAssertEqual(created.status, 0, created.output, file: file, line: line)
}
