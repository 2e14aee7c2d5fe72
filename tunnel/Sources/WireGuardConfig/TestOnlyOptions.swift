// TestOnlyOptions: profile options that exist for tests only and that production refuses. Today
// one: `test-timers=PRESET`, which runs the device on a shortened timer set so rekeying, rejection
// and key zeroing happen in seconds. WireGuardConfiguration never produces it (it has no field for
// it, so neither `culvertctl profile import` nor `profileOptions` can write it) and refuses it as
// an unknown option; the provider sets it apart with `split(_:allowed:)` before parsing the rest,
// and passes `allowed: false` in a release build, where the profile is refused naming the option.

public struct TestOnlyOptions: Sendable, Equatable {
    /// The option that selects a timer preset.
    public static let timersKey = "test-timers"
    /// Every test-only option name.
    public static let keys: Set<String> = [timersKey]

    /// The timer sets a test may select (the provider maps each to a WireGuardTimers value).
    public enum TimerPreset: String, Sendable, CaseIterable {
        /// Every time a hundred times shorter and message limits in the thousands (WireGuardTimers.shortened).
        case shortened
        /// The whitepaper's session lifetimes with the shortened message limits and handshake retry
        /// times (WireGuardTimers.shortenedMessages): only REKEY_AFTER_MESSAGES can rekey in a test.
        case shortenedMessages = "shortened-messages"
    }

    /// The selected timer preset; nil for the whitepaper's timers.
    public var timers: TimerPreset?

    public init(timers: TimerPreset? = nil) { self.timers = timers }

    /// Whether any test-only option is set.
    public var isEmpty: Bool { timers == nil }

    /// Splits a profile's options into the schema's (for `WireGuardConfiguration(options:secrets:)`,
    /// unknown names left in for it to refuse) and the test-only ones. With `allowed` false any
    /// test-only option is refused (`testOnlyOption`), so a release build never runs test timers;
    /// an unknown preset is refused naming the option, never quoting the value.
    public static func split(_ options: [String: String], allowed: Bool) throws(WireGuardConfigError)
        -> (profile: [String: String], test: TestOnlyOptions)
    {
        var profile = options
        var test = TestOnlyOptions()
        for key in keys.sorted() {
            guard let value = profile.removeValue(forKey: key) else { continue }
            guard allowed else { throw .testOnlyOption(key) }
            guard let preset = TimerPreset(rawValue: value) else {
                let names = TimerPreset.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalidValue(option: key, reason: "must be one of \(names)")
            }
            test.timers = preset
        }
        return (profile, test)
    }
}
