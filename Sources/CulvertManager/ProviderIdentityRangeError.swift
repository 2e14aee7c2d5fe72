// ProviderIdentityRangeError: why culvertd refuses the configured provider uid range at start,
// worded for the operator who set `--provider-uids`.

struct ProviderIdentityRangeError: Error, Equatable, CustomStringConvertible {
    enum Problem: Equatable {
        /// `--provider-uids` is not FIRST-LAST with FIRST <= LAST.
        case unparsable(String)
        /// The range leaves [1000, 2^31): system ids below, ids the kernel and tools treat as negative above.
        case outsideAllowed(range: ClosedRange<UInt32>)
        /// The range holds 65534 (nobody/nogroup) or 65535 (the 16-bit "no id", (uid_t)-1 to old code).
        case includesReserved(range: ClosedRange<UInt32>, id: UInt32)
        case tooLarge(range: ClosedRange<UInt32>, maximum: Int)
        /// A user in passwd has a uid in the range.
        case overlapsUser(name: String, id: UInt32, file: String)
        /// A user in passwd has a primary gid in the range.
        case overlapsPrimaryGroup(user: String, id: UInt32, file: String)
        /// A group in group has a gid in the range.
        case overlapsGroup(name: String, id: UInt32, file: String)
        /// A subordinate id range (subuid or subgid) meets the range.
        case overlapsSubordinateRange(owner: String, start: UInt32, count: UInt32, file: String)
        case unreadable(file: String, reason: String)
        case tooManyLines(file: String, maximum: Int)
    }

    var problem: Problem
    /// Lines of each account file that were not understood and were ignored (only files with some).
    var malformedLines: [String: Int]

    init(_ problem: Problem, malformedLines: [String: Int] = [:]) {
        self.problem = problem
        self.malformedLines = malformedLines
    }

    var description: String {
        let advice = "choose another range with --provider-uids FIRST-LAST"
        var text: String
        switch problem {
        case .unparsable(let text): return "--provider-uids \(text): expected FIRST-LAST with FIRST <= LAST, e.g. 90000-99999"
        case .outsideAllowed(let range):
            text = "provider uid range \(Self.show(range)) is not within 1000-2147483647; \(advice)"
        case .includesReserved(let range, let id):
            text = "provider uid range \(Self.show(range)) includes \(id), reserved for nobody/nogroup and the 16-bit \"no id\"; \(advice)"
        case .tooLarge(let range, let maximum):
            text = "provider uid range \(Self.show(range)) holds \(range.count) ids, more than the \(maximum) allowed; \(advice)"
        case .overlapsUser(let name, let id, let file):
            text = "provider uid range includes uid \(id) of user \(name) (\(file)); providers would run as that user; \(advice)"
        case .overlapsPrimaryGroup(let user, let id, let file):
            text = "provider uid range includes gid \(id), the primary group of user \(user) (\(file)); \(advice)"
        case .overlapsGroup(let name, let id, let file):
            text = "provider uid range includes gid \(id) of group \(name) (\(file)); providers would be in that group; \(advice)"
        case .overlapsSubordinateRange(let owner, let start, let count, let file):
            let last = UInt64(start) + UInt64(count) - 1
            text =
                "provider uid range meets subordinate ids \(start)-\(last) of \(owner) (\(file)); \(owner) could act as providers inside a user namespace; \(advice)"
        case .unreadable(let file, let reason): text = "cannot check the provider uid range against \(file): \(reason)"
        case .tooManyLines(let file, let maximum): text = "cannot check the provider uid range against \(file): more than \(maximum) lines"
        }
        for (file, count) in malformedLines.sorted(by: { $0.key < $1.key }) {
            text += "; \(count) malformed line\(count == 1 ? "" : "s") in \(file) ignored"
        }
        return text
    }

    private static func show(_ range: ClosedRange<UInt32>) -> String { "\(range.lowerBound)-\(range.upperBound)" }
}
