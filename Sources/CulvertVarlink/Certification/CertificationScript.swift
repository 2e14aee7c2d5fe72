// CertificationScript: the fixed values of an org.varlink.certification run, shared by the
// service (which checks calls against them and sends the replies) and the client (which checks
// replies against them).
//
// The values are those of the reference implementation (python `varlink`, tests/test_certification.py),
// so either side of ours interoperates with the reference's other side.

/// The calls a certifying client must make and the replies a certifying server must give.
///
/// Each call from Test02 to Test10 carries the client id plus exactly the parameters of the
/// previous step's reply ("pass along what the previous reply returned"), so the script is mostly
/// the list of replies.
public enum CertificationScript {
    /// How many replies Test10 streams; Test11 must send them all back, in order.
    public static let streamedReplyCount = 10

    /// The strings Test10 streams, one per reply, in order.
    public static let streamedStrings: [String] = (1...streamedReplyCount).map { "Reply number \($0)" }

    /// The value both Test09's reply and Test10's call carry. Its two nullable fields are left out:
    /// absent and null are the same (python's client drops them either way).
    public static let myType: JSONValue = [
        "object": [
            "method": "org.varlink.certification.Test09",
            "parameters": ["map": ["foo": "Foo", "bar": "Bar"]],
        ],
        "enum": "two",
        "struct": ["first": 1, "second": "2"],
        "array": ["one", "two", "three"],
        "dictionary": ["foo": "Foo", "bar": "Bar"],
        "stringset": ["one": [:], "two": [:], "three": [:]],
        "interface": [
            "foo": [nil, ["foo": "foo", "bar": "bar"], nil, ["one": "foo", "two": "bar"]],
            "anon": ["foo": true, "bar": false],
        ],
    ]

    /// The reply parameters of `step` for the run `clientID`.
    ///
    /// For Test10 this is the first of the streamed replies (see `streamedReply(_:)`); Test11 is
    /// `oneway` and has none (an empty object is returned).
    public static func reply(to step: CertificationStep, clientID: String) -> JSONValue {
        let scalars: [String: JSONValue] = ["bool": false, "int": 2, "float": .double(Double.pi), "string": "a lot of string"]
        switch step {
        case .start: return ["client_id": .string(clientID)]
        case .test01: return ["bool": true]
        case .test02: return ["int": 1]
        case .test03: return ["float": 1.0]
        case .test04: return ["string": "ping"]
        case .test05: return .object(scalars)
        case .test06: return ["struct": .object(scalars)]
        case .test07: return ["map": ["foo": "Foo", "bar": "Bar"]]
        case .test08: return ["set": ["one": [:], "two": [:], "three": [:]]]
        case .test09: return ["mytype": myType]
        case .test10: return streamedReply(0)
        case .test11: return [:]
        case .end: return ["all_ok": true]
        }
    }

    /// The `index`-th (from 0) reply Test10 streams.
    public static func streamedReply(_ index: Int) -> JSONValue {
        ["string": .string(streamedStrings[index])]
    }

    /// The call `step` must be, for the run `clientID`.
    public static func call(for step: CertificationStep, clientID: String) -> VarlinkCallMessage {
        var parameters: [String: JSONValue] = step == .start ? [:] : ["client_id": .string(clientID)]
        if let previous = step.passesAlongReplyOf, case .object(let carried) = reply(to: previous, clientID: clientID) {
            parameters.merge(carried) { _, new in new }
        }
        if step == .test11 { parameters["last_more_replies"] = .array(streamedStrings.map { .string($0) }) }
        return VarlinkCallMessage(
            method: step.method, parameters: .object(parameters), more: step == .test10, oneway: step == .test11)
    }
}

extension VarlinkCallMessage {
    /// The call as the JSON object it is on the wire (`method`, non-empty `parameters`, and the
    /// flags that are set), which is what `CertificationError` reports as `wants` and `got`.
    public var messageObject: JSONValue {
        var members: [String: JSONValue] = ["method": .string(method)]
        if case .object(let p) = parameters, !p.isEmpty { members["parameters"] = parameters }
        if more { members["more"] = true }
        if oneway { members["oneway"] = true }
        if upgrade { members["upgrade"] = true }
        return .object(members)
    }
}
