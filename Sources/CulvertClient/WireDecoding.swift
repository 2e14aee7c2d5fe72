// WireDecoding: varlink reply parameters (JSONValue) to the domain's Codable types.

import CulvertVarlink
import CulvertWire

enum WireDecoding {
    /// Decodes `value` as `T`; a missing or mis-shaped value is the daemon breaking its contract.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue?, what: String) throws(CulvertClientError) -> T {
        guard let value else { throw .protocolViolation("the reply has no \(what)") }
        do {
            return try WireCoding.decode(T.self, from: value)
        } catch {
            throw .protocolViolation("malformed \(what): \(error)")
        }
    }
}
