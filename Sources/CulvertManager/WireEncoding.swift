// WireEncoding: Codable domain values to and from varlink parameters.
//
// Replies are encoded straight to bytes (JSONEncoder, sorted keys) so an event is encoded once
// for every subscriber; incoming parameters arrive as validated JSONValue.

import CulvertCore
import CulvertVarlink
import CulvertWire

enum WireEncoding {
    /// Encodes `value` as JSON bytes. Only used with the domain's own Codable types, whose
    /// encoding cannot fail (strings, integers, bools, arrays, dictionaries).
    static func encode(_ value: some Encodable) -> [UInt8] {
        try! WireCoding.encode(value)  // see above: no failing case exists for these types
    }

    struct EventParameters: Encodable {
        var event: Event
    }

    struct StatusParameters: Encodable {
        var status: ManagerStatus
    }

    struct SaveProfileReply: Encodable {
        var profile: Profile
        var created: Bool
        var seq: Int64
    }

    struct InstallReply: Encodable {
        var result: String
        var extensionInfo: ExtensionInfo
        var seq: Int64
        enum CodingKeys: String, CodingKey {
            case result, seq
            case extensionInfo = "extension"
        }
    }

    struct ApproveReply: Encodable {
        var extensionInfo: ExtensionInfo
        var changed: Bool
        var seq: Int64
        enum CodingKeys: String, CodingKey {
            case changed, seq
            case extensionInfo = "extension"
        }
    }

    /// UpgradeExtension's and CancelUpgrade's reply.
    struct ExtensionReply: Encodable {
        var extensionInfo: ExtensionInfo
        var seq: Int64
        enum CodingKeys: String, CodingKey {
            case seq
            case extensionInfo = "extension"
        }
    }

    struct ExtensionList: Encodable {
        var extensions: [ExtensionInfo]
    }

    struct SessionReply: Encodable {
        var session: SessionInfo
        var seq: Int64
    }

    struct SessionLogReply: Encodable {
        var lines: [String]
        var truncated: Bool
    }

    struct GarbageReply: Encodable {
        var removals: [Removal]
        var seq: Int64
    }

    /// A `continues` frame carrying one event as `audience` may see it: built once per view,
    /// queued to every subscriber with that view.
    static func eventFrame(_ event: Event, for audience: Audience) -> [UInt8] {
        VarlinkReplyMessage.frame(
            encodedParameters: encode(EventParameters(event: ReaderView.view(event, for: audience))), continues: true)
    }

    static func stringMap(_ value: JSONValue?) -> [String: String]? {
        guard case .object(let members)? = value else { return nil }
        return members.compactMapValues { $0.stringValue }
    }
}
