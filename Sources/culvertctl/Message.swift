// culvertctl message: send a message to a profile's provider and print its answer.

import ArgumentParser
import CulvertClient
import FoundationEssentials

extension Culvertctl {
    struct Message: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a message to a profile's provider and print its answer.",
            discussion: """
                Sends TEXT, as UTF-8, to the provider running the profile's tunnel (culvertd routes \
                it to whichever version currently runs), or with --base64 the raw bytes TEXT encodes. \
                Prints the answer as text when it is valid UTF-8, else as base64; a provider that \
                gives no answer prints nothing (and a note on standard error). What messages mean is \
                up to the provider. Needs root.

                With --json, prints {"answered": BOOL, "data": BASE64, "text": STRING}: data is the \
                answer in base64, text is present when the answer is valid UTF-8.

                EXIT STATUS
                  0   sent (answered or not)
                  1   the provider failed the message (ProviderMessageFailed)
                  64  TEXT is not base64 (with --base64)
                  66  no such profile, or it has no session
                  69  culvertd is not reachable, or no provider is connected for the
                      profile (ProviderUnavailable)
                  77  permission denied (not root)

                EXAMPLES
                  culvertctl message office status
                  culvertctl message office AQID --base64
                  culvertctl message office status --json | jq -r .text
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Name of the profile.", valueName: "profile"))
        var profile: String

        @Argument(help: ArgumentHelp("The message: UTF-8 text, or base64 with --base64.", valueName: "text"))
        var text: String

        @Flag(name: .long, help: "TEXT is base64: send the bytes it encodes.")
        var base64 = false

        struct Answer: Encodable {
            var answered: Bool
            var data: String?
            var text: String?
        }

        func validate() throws {
            if base64, Data(base64Encoded: text) == nil { throw ValidationError("TEXT is not valid base64") }
        }

        /// The bytes to send.
        var payload: [UInt8] {
            // validate() has checked the base64 already.
            base64 ? [UInt8](Data(base64Encoded: text) ?? Data()) : Array(text.utf8)
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let answer: [UInt8]?
                do throws(CulvertClientError) { answer = try await client.sendProviderMessage(profile: profile, data: payload) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                let text = answer.flatMap { String(validating: $0, as: UTF8.self) }
                if output.json {
                    output.json(Answer(answered: answer != nil, data: answer.map { Data($0).base64EncodedString() }, text: text))
                } else if let answer {
                    output.line(text ?? Data(answer).base64EncodedString())
                } else {
                    output.note("the provider gave no answer")
                }
            }
        }
    }
}
