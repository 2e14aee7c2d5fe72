// The baseline peer: a plain unix-socket echo server in its own process (as culvertd is), so
// the ratio isolates what varlink framing, JSON and the daemon's dispatch cost.

import ArgumentParser
import CulvertSystem

struct EchoServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server", abstract: "Serve a NUL-framed echo on a unix socket (the IPC baseline).", shouldDisplay: false)

    @Argument(help: "Socket path.")
    var path: String

    func run() throws {
        let listener = try UnixSocket.listen(path: path)
        try listener.setNonblocking(false)
        while true {
            guard let connection = try acceptBlocking(listener) else { continue }
            try connection.setNonblocking(false)
            var buffer: [UInt8] = []
            while true {
                buffer.removeAll(keepingCapacity: true)
                let n = try connection.read(appendingTo: &buffer, maximum: 65536)
                if n == 0 { break }
                try connection.writeAll(buffer)
            }
            connection.close()
        }
    }

    private func acceptBlocking(_ listener: Descriptor) throws -> Descriptor? {
        _ = try listener.waitReadable(timeoutMilliseconds: -1)
        return try UnixSocket.accept(listener)
    }
}
