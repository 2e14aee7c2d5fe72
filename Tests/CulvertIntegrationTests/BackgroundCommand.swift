// CommandResult, BackgroundCommand and jsonObject: running culvertctl (and other tools) from the
// integration tests — a finished command's status and output, a command whose output is read as
// it arrives, and one line of JSON output parsed.

import Foundation
import XCTest

/// Bound on one culvertctl run; a hung command fails the test instead of hanging it.
let commandTimeout: TimeInterval = 30

/// What a finished command left behind.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
}

/// A child process whose output is collected as it arrives; killed if the test leaves it running.
final class BackgroundCommand: @unchecked Sendable {  // output buffers are guarded by `lock`; the rest is immutable
    private let process = Process()
    private let lock = NSLock()
    private var stdoutData = Data()
    private var stderrData = Data()
    private let stdoutDone = DispatchSemaphore(value: 0)
    private let stderrDone = DispatchSemaphore(value: 0)

    init(_ argv: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["CULVERT_SOCKET"] = nil  // only what the test says
        env["COLUMNS"] = "80"
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data((stdin ?? "").utf8))
        try input.fileHandleForWriting.close()
        drain(out.fileHandleForReading, isStandardError: false, done: stdoutDone)
        drain(err.fileHandleForReading, isStandardError: true, done: stderrDone)
    }

    private func drain(_ handle: FileHandle, isStandardError: Bool, done: DispatchSemaphore) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                append(chunk, isStandardError: isStandardError)
            }
            done.signal()
        }
        thread.start()
    }

    private func append(_ chunk: Data, isStandardError: Bool) {
        lock.lock()
        if isStandardError { stderrData.append(chunk) } else { stdoutData.append(chunk) }
        lock.unlock()
    }

    var stdout: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stdoutData, as: UTF8.self)
    }

    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stderrData, as: UTF8.self)
    }

    /// Waits for a complete stdout line matching `predicate`; fails after `commandTimeout`.
    func waitForLine(file: StaticString = #filePath, line: UInt = #line, _ predicate: (String) -> Bool) throws -> String {
        let deadline = Date(timeIntervalSinceNow: commandTimeout)
        while Date() < deadline {
            let lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            if let match = lines.first(where: { predicate(String($0)) }) { return String(match) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTFail("no such line within \(commandTimeout) s; stdout:\n\(stdout)\nstderr:\n\(stderr)", file: file, line: line)
        throw CocoaError(.executableLoad)
    }

    /// Waits for the process to exit (killing it after `commandTimeout`) and for its output to end.
    func wait(file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let deadline = Date(timeIntervalSinceNow: commandTimeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill()
            XCTFail("\(process.arguments ?? []) did not exit within \(commandTimeout) s; stdout:\n\(stdout)", file: file, line: line)
            throw CocoaError(.executableLoad)
        }
        process.waitUntilExit()
        _ = stdoutDone.wait(timeout: .now() + commandTimeout)
        _ = stderrDone.wait(timeout: .now() + commandTimeout)
        return CommandResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Parses one JSON object (a line of culvertctl's output), failing the test if it is anything else.
func jsonObject(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let trimmed = text.trimmingCharacters(in: .newlines)
    XCTAssertFalse(trimmed.contains("\n"), "expected one line of JSON, got:\n\(text)", file: file, line: line)
    guard let object = try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
        XCTFail("not a JSON object: \(text)", file: file, line: line)
        throw CocoaError(.propertyListReadCorrupt)
    }
    return object
}
