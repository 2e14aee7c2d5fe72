// TestOnlyTimers: whether this build of culvert-wireguard accepts the test-only profile options
// (WireGuardConfig's TestOnlyOptions, e.g. `test-timers=shortened`), and the timer set each
// preset names. Only a debug build (`#if DEBUG`: what `make test` runs) accepts them; a release
// build refuses such a profile at start with WireGuardStartError.configuration(.testOnlyOption).

import WireGuardConfig
import WireGuardDevice

enum TestOnlyTimers {
    #if DEBUG
        static let allowed = true
    #else
        static let allowed = false
    #endif

    /// The device's timers for a profile's test-only options: the whitepaper's unless a preset is selected.
    static func timers(_ options: TestOnlyOptions) -> WireGuardTimers {
        switch options.timers {
        case nil: return .standard
        case .shortened: return .shortened
        case .shortenedMessages: return .shortenedMessages
        }
    }
}
