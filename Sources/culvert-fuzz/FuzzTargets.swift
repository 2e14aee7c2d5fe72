// Fuzz targets for the parsers hostile input reaches first: varlink messages (JSON framing and
// call/reply decoding) and varlink interface definitions (IDL parser + validator).
// Each target also checks a property, so a wrong answer is found, not only a crash.

import CulvertVarlink

enum FuzzTargets {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "varlink-message": varlinkMessage,
        "varlink-idl": varlinkIDL,
    ]

    /// Decoding never traps; whatever decodes re-encodes to bytes that decode to the same value.
    static func varlinkMessage(_ bytes: [UInt8]) {
        let limit = VarlinkLimits.defaultMaximumDepth
        if let value = try? JSONParser.parse(bytes, maximumDepth: limit) {  // invalid input is the common case
            let again = try? JSONParser.parse(value.serialized(), maximumDepth: limit + 1)  // checked just below
            precondition(again == value, "JSON round trip changed the value: \(value.jsonString)")
        }
        if let call = try? VarlinkCallMessage.decode(bytes, maximumDepth: limit) {  // as above
            let encoded = call.encoded()
            let again = try? VarlinkCallMessage.decode(encoded.dropLast(), maximumDepth: limit + 1)  // checked just below
            precondition(again == call, "call round trip changed: \(call)")
        }
        _ = try? VarlinkReplyMessage.decode(bytes, maximumDepth: limit)  // only must not trap
    }

    /// Parsing never traps; a parsed interface validates arbitrary parameters without trapping.
    static func varlinkIDL(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self),
            let interface = try? VarlinkInterface(parsing: text)  // most inputs are not interfaces
        else { return }
        let samples: [JSONValue] = [[:], ["a": 1], ["name": "x", "list": [1, "2", nil]], .null, [1]]
        for method in interface.methodNames {
            for sample in samples {
                _ = try? interface.validate(parameters: sample, of: method)  // only must not trap
                _ = try? interface.validate(reply: sample, of: method)  // likewise
            }
        }
    }
}
