// Fuzz targets for the parsers hostile input reaches first: varlink messages (JSON framing and
// call/reply decoding), varlink interface definitions (IDL parser + validator), and extension
// bundles' manifest.json and signature.json; TUN super-packets (OffloadFuzzTarget); WireGuard
// datagrams (WireGuardFuzzTarget); WireGuard handover blobs (WireGuardHandoverFuzzTarget).
// Each target also checks a property, so a wrong answer is found, not only a crash.

import CulvertBundle
import CulvertVarlink

enum FuzzTargets {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "varlink-message": varlinkMessage,
        "varlink-idl": varlinkIDL,
        "bundle-manifest": bundleManifest,
        "bundle-signature": bundleSignature,
        "virtio-split": OffloadFuzzTarget.virtioSplit,
        "wireguard-datagram": WireGuardFuzzTarget.datagram,
        "wireguard-handover": WireGuardHandoverFuzzTarget.blob,
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

    /// Parsing never traps; an accepted manifest is exactly its JSON (nothing dropped or added),
    /// and its canonical encoding parses back to the same manifest and the same bytes.
    static func bundleManifest(_ bytes: [UInt8]) {
        guard let manifest = try? BundleManifest.parse(bytes) else { return }  // most inputs are not manifests
        let json = try? JSONParser.parse(bytes, maximumDepth: BundleManifest.maximumJSONDepth)  // parsed once already
        precondition(json == manifest.jsonValue, "manifest JSON form differs from its source: \(manifest.jsonValue.jsonString)")
        let encoded = manifest.encoded()
        let again = try? BundleManifest.parse(encoded)  // checked just below
        precondition(again == manifest, "manifest round trip changed: \(String(decoding: encoded, as: UTF8.self))")
        precondition(again?.encoded() == encoded, "manifest encoding is not canonical")
    }

    /// Parsing never traps; every path an accepted signature lists is a valid bundle path; the
    /// canonical encoding parses back to the same value and the same bytes; checking the
    /// signature against a manifest never traps.
    static func bundleSignature(_ bytes: [UInt8]) {
        guard let signature = try? BundleSignature.parse(bytes) else { return }  // most inputs are not signature files
        for path in signature.files.keys {
            precondition(BundlePath.problem(with: path) == nil && path != BundleFormat.signatureFileName, "accepted bad path \(path)")
        }
        let encoded = signature.encoded()
        let again = try? BundleSignature.parse(encoded)  // checked just below
        precondition(again == signature, "signature round trip changed: \(String(decoding: encoded, as: UTF8.self))")
        precondition(again?.encoded() == encoded, "signature encoding is not canonical")
        _ = signature.isValid(manifest: ["identifier": "com.example.vpn", "build": 1])  // only must not trap
    }
}
