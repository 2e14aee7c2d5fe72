// KeyFile: the JSON files that hold one Ed25519 key, public or private:
//   {"algorithm":"ed25519","format":1,"publicKey":"<64 hex>"}     (or "privateKey")
// A private key file can never be mistaken for a public one: the key's field name differs and
// unknown fields are refused.

import CulvertSystem
import CulvertVarlink

enum KeyFile {
    /// Largest key file read; real ones are about 100 bytes.
    static let maximumSize = 4096
    static let algorithm = "ed25519"
    static let keyByteCount = 32

    enum Field: String {
        case publicKey
        case privateKey
    }

    static func encode(_ key: [UInt8], as field: Field) -> [UInt8] {
        let value: JSONValue = [
            "algorithm": .string(algorithm), "format": .int(BundleFormat.keyFormatVersion), field.rawValue: .string(Hex.encode(key)),
        ]
        return value.serialized() + [UInt8(ascii: "\n")]
    }

    /// Reads `path` (refusing a symlink) and returns the 32 key bytes of `field`.
    static func read(_ path: String, field: Field) throws(BundleError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw .io(error)
        }
        return try decode(bytes, field: field, path: path)
    }

    static func decode(_ bytes: [UInt8], field: Field, path: String) throws(BundleError) -> [UInt8] {
        guard bytes.count <= maximumSize else { throw .keyFileMalformed(path: path, reason: "larger than \(maximumSize) bytes") }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes, maximumDepth: 1)
        } catch {
            throw .keyFileMalformed(path: path, reason: error.description)
        }
        guard let members = json.objectValue else { throw .keyFileMalformed(path: path, reason: "not a JSON object") }
        let expected: Set<String> = ["algorithm", "format", field.rawValue]
        guard Set(members.keys) == expected else {
            throw .keyFileMalformed(path: path, reason: "expected exactly the keys \(expected.sorted().joined(separator: ", "))")
        }
        guard members["format"]?.intValue == BundleFormat.keyFormatVersion else {
            throw .keyFileMalformed(path: path, reason: "format must be \(BundleFormat.keyFormatVersion)")
        }
        guard members["algorithm"]?.stringValue == algorithm else {
            throw .keyFileMalformed(path: path, reason: "algorithm must be \(algorithm)")
        }
        guard let text = members[field.rawValue]?.stringValue, let key = Hex.decode(text, byteCount: keyByteCount) else {
            throw .keyFileMalformed(path: path, reason: "\(field.rawValue) must be \(keyByteCount * 2) lowercase hex digits")
        }
        return key
    }
}
