// ProviderIdentityPool+Validation: the start-up check of the provider uid range against the
// system's account files, so no provider ever runs as (or in the group of, or as a subordinate id
// of) an existing account. The files are parsed once, bounded, not looked up id by id: a range
// of 65,536 ids would be as many NSS calls.

import CulvertSystem

extension ProviderIdentityPool {
    /// Lowest id a provider may get: below are system accounts (Debian: 0-999).
    static let lowestAllowedID: UInt32 = 1000
    /// Highest id a provider may get: 2^31 and above read as negative to much code.
    static let highestAllowedID: UInt32 = 0x7fff_ffff
    /// nobody/nogroup and the 16-bit "no id".
    static let reservedIDs: [UInt32] = [65534, 65535]
    /// Most lines read from one account file.
    static let maximumAccountFileLines = 1_000_000

    /// The account files the range is checked against (injectable for tests).
    struct AccountFiles: Sendable, Equatable {
        var passwd = "/etc/passwd"
        var group = "/etc/group"
        var subuid = "/etc/subuid"
        var subgid = "/etc/subgid"
        static let system = AccountFiles()
    }

    /// Parses `--provider-uids FIRST-LAST`.
    static func parseRange(_ text: String) throws(ProviderIdentityRangeError) -> ClosedRange<UInt32> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }), let first = UInt32(parts[0]),
            let last = UInt32(parts[1]), first <= last
        else { throw ProviderIdentityRangeError(.unparsable(text)) }
        return first...last
    }

    /// Refuses a range that is not fit for providers (see `ProviderIdentityRangeError.Problem`);
    /// the first problem found is reported. Returns the count of malformed (ignored) lines per
    /// file, for a warning. A missing account file has no entries (subuid and subgid often do not exist).
    @discardableResult
    static func validate(range: ClosedRange<UInt32>, files: AccountFiles = .system) throws(ProviderIdentityRangeError) -> [String: Int] {
        guard range.lowerBound >= lowestAllowedID, range.upperBound <= highestAllowedID else {
            throw ProviderIdentityRangeError(.outsideAllowed(range: range))
        }
        if let reserved = reservedIDs.first(where: range.contains) {
            throw ProviderIdentityRangeError(.includesReserved(range: range, id: reserved))
        }
        guard range.count <= maximumSize else { throw ProviderIdentityRangeError(.tooLarge(range: range, maximum: maximumSize)) }
        var malformed: [String: Int] = [:]
        var found: ProviderIdentityRangeError.Problem?
        func note(_ problem: ProviderIdentityRangeError.Problem) { if found == nil { found = problem } }
        for (file, fields) in [(files.passwd, 7), (files.group, 4)] {
            for entry in try records(of: file, fieldCount: fields, malformed: &malformed) {
                guard let id = UInt32(entry[2]), fields == 4 || UInt32(entry[3]) != nil else {
                    malformed[file, default: 0] += 1
                    continue
                }
                if fields == 7 {
                    if range.contains(id) { note(.overlapsUser(name: String(entry[0]), id: id, file: file)) }
                    // UInt32(…)!: checked in the guard above.
                    let gid = UInt32(entry[3])!
                    if range.contains(gid) { note(.overlapsPrimaryGroup(user: String(entry[0]), id: gid, file: file)) }
                } else if range.contains(id) {
                    note(.overlapsGroup(name: String(entry[0]), id: id, file: file))
                }
            }
        }
        for file in [files.subuid, files.subgid] {
            for entry in try records(of: file, fieldCount: 3, malformed: &malformed) {
                guard let start = UInt32(entry[1]), let count = UInt32(entry[2]) else {
                    malformed[file, default: 0] += 1
                    continue
                }
                let end = UInt64(start) + UInt64(count)  // exclusive
                if count > 0, UInt64(range.lowerBound) < end, UInt64(range.upperBound) >= UInt64(start) {
                    note(.overlapsSubordinateRange(owner: String(entry[0]), start: start, count: count, file: file))
                }
            }
        }
        if let found { throw ProviderIdentityRangeError(found, malformedLines: malformed) }
        return malformed
    }

    /// The colon-separated lines of `file` that have exactly `fieldCount` fields; blank lines and
    /// `#` comments are skipped, other lines counted in `malformed`.
    private static func records(
        of file: String, fieldCount: Int, malformed: inout [String: Int]
    ) throws(ProviderIdentityRangeError) -> [[Substring]] {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(file) } catch {
            if error.errno == Syscall.ENOENT { return [] }
            throw ProviderIdentityRangeError(.unreadable(file: file, reason: error.description), malformedLines: malformed)
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count <= maximumAccountFileLines else {
            throw ProviderIdentityRangeError(.tooManyLines(file: file, maximum: maximumAccountFileLines), malformedLines: malformed)
        }
        var result: [[Substring]] = []
        for line in lines where !line.allSatisfy(\.isWhitespace) && !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count == fieldCount, !fields[0].isEmpty { result.append(fields) } else { malformed[file, default: 0] += 1 }
        }
        return result
    }
}
