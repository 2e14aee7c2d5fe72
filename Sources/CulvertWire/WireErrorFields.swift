// WireErrorFields: reads the parameters of a named error reply; a missing or mis-typed member
// makes the error decode as `.other`, keeping what was sent.

import CulvertVarlink

struct WireErrorFields {
    struct Missing: Error {}

    let parameters: JSONValue

    func string(_ key: String) throws(Missing) -> String {
        guard let value = parameters[key]?.stringValue else { throw Missing() }
        return value
    }

    func optionalString(_ key: String) throws(Missing) -> String? {
        guard let value = parameters[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw Missing() }
        return text
    }

    func int(_ key: String) throws(Missing) -> Int64 {
        guard let value = parameters[key]?.intValue else { throw Missing() }
        return value
    }

    func strings(_ key: String) throws(Missing) -> [String] {
        guard let items = parameters[key]?.arrayValue else { throw Missing() }
        var texts: [String] = []
        for item in items {
            guard let text = item.stringValue else { throw Missing() }
            texts.append(text)
        }
        return texts
    }
}

extension JSONValue {
    /// An object of the members that are not nil.
    static func members(_ members: [String: JSONValue?]) -> JSONValue {
        .object(members.compactMapValues { $0 })
    }

    static func strings(_ items: [String]) -> JSONValue { .array(items.map { .string($0) }) }
}
