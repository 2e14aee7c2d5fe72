// ProfileStore: profiles and their secrets on disk, one file per profile, crash-safe.
//
// Layout: <state-dir>/profiles/<name>.json, mode 0600 in a 0700 directory, holding the profile
// and its secrets together so one atomic rename changes both. Damaged files are moved to
// <state-dir>/corrupt/ and reported, never silently dropped.

import CulvertCore
import CulvertSystem
import FoundationEssentials

/// The on-disk form of one profile. `format` lets a later daemon read older files.
struct StoredProfile: Codable, Equatable {
    static let currentFormat = 1
    var format: Int
    var profile: Profile
    var secrets: [String: String]

    enum CodingKeys: String, CodingKey {
        case format, profile, secrets
    }
}

enum ProfileStoreError: Error {
    case storage(SystemError)
}

/// Confined to the manager queue by its owner: a value ManagerService holds, which checks the queue at its entries.
struct ProfileStore {
    static let fileSuffix = ".json"
    static let directoryMode: UInt32 = 0o700
    static let fileMode: UInt32 = 0o600

    let stateDirectory: String
    let directory: String
    private(set) var profiles: [String: StoredProfile] = [:]
    private(set) var problems: [Problem] = []

    init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
        directory = stateDirectory + "/profiles"
    }

    /// Loads every profile. Temporary files a `writeAtomically` left (never acknowledged) are
    /// removed — only those: their names (`FileSystem.temporaryPrefix`, or an older daemon's
    /// `<name>.json.tmp-<pid>`) are names no profile file can have. Anything that is not a regular
    /// file is moved aside unopened, damaged files likewise; both are recorded in `problems`.
    mutating func load() throws(SystemError) {
        try FileSystem.createDirectory(directory, mode: Self.directoryMode)
        try FileSystem.setMode(directory, Self.directoryMode)
        profiles = [:]
        problems = []
        for entry in try FileSystem.listDirectory(directory) {
            let path = directory + "/" + entry
            let leftover = FileSystem.isTemporaryName(entry) || Self.isLegacyTemporaryName(entry)
            guard leftover || entry.hasSuffix(Self.fileSuffix) else { continue }
            if let problem = try StateQuarantine.setAsideIfIrregular(path, stateDirectory: stateDirectory) {
                problems.append(problem)
                continue
            }
            if leftover {
                try FileSystem.removeFile(path)  // an interrupted write: its save was never acknowledged
                continue
            }
            let name = String(entry.dropLast(Self.fileSuffix.count))
            do {
                let stored = try Self.decode(try FileSystem.readFile(path))
                guard stored.profile.name == name else {
                    throw DecodeProblem("file name does not match profile name \"\(stored.profile.name)\"")
                }
                profiles[name] = stored
            } catch {
                problems.append(
                    try StateQuarantine.setAside(path, stateDirectory: stateDirectory, kind: .corruptProfile, reason: "\(error)"))
            }
        }
    }

    /// `<name>.json.tmp-<digits>`: what daemons before `FileSystem.temporaryPrefix` left. A profile
    /// file always ends in `.json`, so no profile file has this shape.
    static func isLegacyTemporaryName(_ entry: String) -> Bool {
        let marker = Self.fileSuffix + ".tmp-"
        // The last occurrence of the marker: what follows it must be digits only.
        guard let start = entry.indices.last(where: { entry[$0...].hasPrefix(marker) }) else { return false }
        let digits = entry[start...].dropFirst(marker.count)
        return !digits.isEmpty && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber)
    }

    struct DecodeProblem: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func decode(_ bytes: [UInt8]) throws -> StoredProfile {
        let stored = try JSONDecoder().decode(StoredProfile.self, from: Data(bytes))
        guard stored.format == StoredProfile.currentFormat else { throw DecodeProblem("unknown format \(stored.format)") }
        do {
            try ProfileValidation.validate(profile: stored.profile, secrets: stored.secrets)
        } catch {
            throw DecodeProblem("invalid profile: \(error)")
        }
        return stored
    }

    static func encode(_ stored: StoredProfile) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        // Encoding plain strings, bools and dictionaries cannot fail.
        return Array(try! encoder.encode(stored)) + [0x0A]
    }

    /// Writes a profile durably and then updates memory. Returns whether it was newly created.
    mutating func save(_ profile: Profile, secrets: [String: String]?) throws(SystemError) -> (Profile, Bool) {
        let existing = profiles[profile.name]
        let newSecrets = secrets ?? existing?.secrets ?? [:]
        var stored = StoredProfile(format: StoredProfile.currentFormat, profile: profile, secrets: newSecrets)
        stored.profile.secretNames = newSecrets.keys.sorted()
        try FileSystem.writeAtomically(Self.encode(stored), to: path(for: profile.name), mode: Self.fileMode)
        profiles[profile.name] = stored
        return (stored.profile, existing == nil)
    }

    /// Removes a profile durably. Returns false if there was none.
    mutating func remove(_ name: String) throws(SystemError) -> Bool {
        guard profiles[name] != nil else { return false }
        try FileSystem.removeFile(path(for: name))
        try FileSystem.syncDirectory(directory)
        profiles[name] = nil
        return true
    }

    func path(for name: String) -> String { directory + "/" + name + Self.fileSuffix }

    var sortedProfiles: [Profile] { profiles.keys.sorted().map { profiles[$0]!.profile } }  // keys come from the dictionary
}
