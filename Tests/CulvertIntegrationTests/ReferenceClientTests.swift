// The reference Python varlink implementation, as an outside client of culvertd.

import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class ReferenceClientTests: XCTestCase {
    func runPython(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runProgram(Repository.python, arguments)
    }

    func testVarlinkCliInfoAndHelpPrintOurInterface() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Repository.python), "run scripts/install-deps first (make test does)")
        let daemon = try startDaemon(self)
        let address = "unix:" + daemon.socketPath

        let info = try runPython(["-m", "varlink.cli", "info", address])
        XCTAssertEqual(info.status, 0, info.output)
        XCTAssertTrue(info.output.contains("Vendor: Culvert"), info.output)
        XCTAssertTrue(info.output.contains("io.culvert.Manager"), info.output)
        XCTAssertTrue(info.output.contains("org.varlink.service"), info.output)

        let help = try runPython(["-m", "varlink.cli", "help", address + "/io.culvert.Manager"])
        XCTAssertEqual(help.status, 0, help.output)
        // The reference client prints the definition we serve, which is the .varlink file verbatim.
        let served = try daemon.connect().call("org.varlink.service.GetInterfaceDescription", ["interface": "io.culvert.Manager"])
        XCTAssertEqual(served["description"]?.stringValue, ManagerInterfaceFile.text)
        for line in [
            "interface io.culvert.Manager", "method Watch(since: ?int, epoch: ?string) -> (event: Event)", "error SubscriberTooSlow",
        ] {
            XCTAssertTrue(help.output.contains(line), "missing \(line) in:\n\(help.output)")
        }
    }

    func testReferenceClientCallsAndStreams() throws {
        let daemon = try startDaemon(self)
        let address = "unix:" + daemon.socketPath
        let saved = try runPython([
            "-m", "varlink.cli", "call", address + "/io.culvert.Manager.SaveProfile",
            #"{"profile": {"name": "py", "extension": "io.culvert.test", "options": {"a": "b"}}}"#,
        ])
        XCTAssertEqual(saved.status, 0, saved.output)
        XCTAssertTrue(saved.output.contains("\"created\": true"), saved.output)

        // A Python client using the library's `_more` streaming: snapshot, then two live events.
        let script = """
            import sys, varlink, threading, time
            def produce():
                time.sleep(0.5)
                with varlink.Client(address=sys.argv[1]).open("io.culvert.Manager") as c:
                    c.SaveProfile({"name": "a", "extension": "io.culvert.test"})
                    c.RemoveProfile("a")
            threading.Thread(target=produce).start()
            with varlink.Client(address=sys.argv[1]).open("io.culvert.Manager") as con:
                for i, reply in enumerate(con.Watch(_more=True)):
                    e = reply["event"]
                    print(e["seq"], e["kind"])
                    if i == 2: break
            """
        let watched = try runPython(["-c", script, address])
        XCTAssertEqual(watched.status, 0, watched.output)
        XCTAssertEqual(watched.output.split(separator: "\n"), ["2 snapshot", "3 profile_saved", "4 profile_removed"])
    }
}

/// The interface file on disk, the source of truth the daemon must serve byte for byte.
enum ManagerInterfaceFile {
    static var text: String {
        let path = Repository.root + "/Sources/CulvertWire/Interfaces/io.culvert.Manager.varlink"
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<unreadable \(path)>"  // the assertion shows it
    }
}
