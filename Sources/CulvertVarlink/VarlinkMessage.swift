// VarlinkMessage: the two message shapes of the protocol (call and reply) and their encoding.

/// A method call as received: `{"method": "iface.Method", "parameters": {...}, "more": true, ...}`.
public struct VarlinkCallMessage: Sendable, Equatable {
    public var method: String
    public var parameters: JSONValue
    public var more: Bool
    public var oneway: Bool
    public var upgrade: Bool

    public init(method: String, parameters: JSONValue = [:], more: Bool = false, oneway: Bool = false, upgrade: Bool = false) {
        self.method = method
        self.parameters = parameters
        self.more = more
        self.oneway = oneway
        self.upgrade = upgrade
    }

    /// The interface part of `method` (before the last dot).
    public var interface: String {
        guard let dot = method.lastIndex(of: ".") else { return "" }
        return String(method[..<dot])
    }

    /// The member part of `method` (after the last dot).
    public var member: String {
        guard let dot = method.lastIndex(of: ".") else { return method }
        return String(method[method.index(after: dot)...])
    }

    /// Decodes one call from the bytes between two NULs.
    public static func decode(_ bytes: some Collection<UInt8>, maximumDepth: Int) throws(VarlinkError) -> VarlinkCallMessage {
        try decode(JSONValue.parseMessage(bytes, maximumDepth: maximumDepth))
    }

    /// Decodes one call from a message already parsed (by a reader that must first see whether
    /// it is a call or a reply).
    public static func decode(_ value: JSONValue) throws(VarlinkError) -> VarlinkCallMessage {
        guard case .object(let members) = value else { throw VarlinkError.invalidMessage(reason: "not_an_object") }
        guard case .string(let method)? = members["method"], !method.isEmpty else {
            throw VarlinkError.invalidMessage(reason: "missing_method")
        }
        func flag(_ key: String) throws(VarlinkError) -> Bool {
            switch members[key] {
            case nil, .null?: return false
            case .bool(let b)?: return b
            default: throw VarlinkError.invalidMessage(reason: "invalid_\(key)")
            }
        }
        let parameters = members["parameters"] ?? .object([:])
        let call = VarlinkCallMessage(
            method: method, parameters: parameters == .null ? .object([:]) : parameters,
            more: try flag("more"), oneway: try flag("oneway"), upgrade: try flag("upgrade"))
        return call
    }

    /// The wire form, NUL included.
    public func encoded() -> [UInt8] {
        var members: [String: JSONValue] = ["method": .string(method)]
        if parameters != .object([:]) { members["parameters"] = parameters }
        if more { members["more"] = true }
        if oneway { members["oneway"] = true }
        if upgrade { members["upgrade"] = true }
        var bytes = JSONValue.object(members).serialized()
        bytes.append(0)
        return bytes
    }
}

/// A reply as received by a client.
public struct VarlinkReplyMessage: Sendable, Equatable {
    public var parameters: JSONValue
    public var continues: Bool
    public var error: String?

    public init(parameters: JSONValue = [:], continues: Bool = false, error: String? = nil) {
        self.parameters = parameters
        self.continues = continues
        self.error = error
    }

    public static func decode(_ bytes: some Collection<UInt8>, maximumDepth: Int) throws(VarlinkError) -> VarlinkReplyMessage {
        try decode(JSONValue.parseMessage(bytes, maximumDepth: maximumDepth))
    }

    /// Decodes one reply from a message already parsed.
    public static func decode(_ value: JSONValue) throws(VarlinkError) -> VarlinkReplyMessage {
        guard case .object(let members) = value else { throw VarlinkError.invalidMessage(reason: "not_an_object") }
        var reply = VarlinkReplyMessage()
        switch members["parameters"] {
        case nil, .null?: reply.parameters = .object([:])
        case .object?: reply.parameters = members["parameters"]!  // matched as present just above
        default: throw VarlinkError.invalidMessage(reason: "invalid_parameters")
        }
        if case .bool(let c)? = members["continues"] { reply.continues = c }
        switch members["error"] {
        case nil, .null?: break
        case .string(let e)?: reply.error = e
        default: throw VarlinkError.invalidMessage(reason: "invalid_error")
        }
        return reply
    }

    /// Encodes a reply frame (NUL included) around already-serialised parameters, so one
    /// encoding of an event can be sent to every subscriber.
    public static func frame(encodedParameters: [UInt8], continues: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedParameters.count + 40)
        if continues {
            bytes.append(contentsOf: #"{"continues":true,"parameters":"#.utf8)
        } else {
            bytes.append(contentsOf: #"{"parameters":"#.utf8)
        }
        bytes.append(contentsOf: encodedParameters)
        bytes.append(contentsOf: "}".utf8)
        bytes.append(0)
        return bytes
    }

    public static func frame(error: VarlinkError) -> [UInt8] {
        var bytes = JSONValue.object(["error": .string(error.name), "parameters": error.parameters]).serialized()
        bytes.append(0)
        return bytes
    }
}

extension JSONValue {
    /// Parses the bytes of one message (between two NULs); malformed JSON is `InvalidMessage`.
    static func parseMessage(_ bytes: some Collection<UInt8>, maximumDepth: Int) throws(VarlinkError) -> JSONValue {
        do {
            return try JSONParser.parse(bytes, maximumDepth: maximumDepth)
        } catch {
            throw VarlinkError.invalidMessage(reason: error.reason.rawValue, offset: error.offset)
        }
    }
}
