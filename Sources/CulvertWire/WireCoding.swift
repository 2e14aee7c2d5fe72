// WireCoding: Codable values to and from varlink parameters (JSONValue) and JSON bytes — the one
// bridge between Culvert's typed wire values and the dynamic JSON model varlink validates.

import CulvertVarlink
import FoundationEssentials

/// A value could not be encoded as, or decoded from, JSON.
public struct WireCodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

public enum WireCoding {
    /// `value` as JSON bytes: keys sorted, slashes unescaped (the canonical form replies use).
    public static func encode(_ value: some Encodable) throws(WireCodingError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw WireCodingError("\(error)")
        }
    }

    /// `value` as varlink parameters.
    public static func jsonValue(_ value: some Encodable) throws(WireCodingError) -> JSONValue {
        let bytes = try encode(value)
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw WireCodingError("\(error)")
        }
    }

    /// Decodes varlink parameters as `T`.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(WireCodingError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(value.serialized()))
        } catch {
            throw WireCodingError("\(error)")
        }
    }
}

/// A parameter or reply type of one of Culvert's interfaces. Such types hold only strings,
/// integers, booleans, arrays and string maps, so encoding them cannot fail.
public protocol WireValue: Codable, Sendable {}

extension WireValue {
    /// The value as varlink parameters.
    public var jsonValue: JSONValue {
        try! WireCoding.jsonValue(self)  // see WireValue: no member can fail to encode
    }

    /// Decodes the value from varlink parameters (normally already validated against the interface).
    public init(json: JSONValue) throws(WireCodingError) {
        self = try WireCoding.decode(Self.self, from: json)
    }
}
