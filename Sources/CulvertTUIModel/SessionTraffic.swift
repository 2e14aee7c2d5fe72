// SessionTraffic: a session's rx/tx rates over the last minute, from successive session_stats
// counters, and how the Sessions pane words them (rates, sparkline, uptime).
//
// culvertd sends session_stats only when the counters changed, so silence means no traffic: a rate
// older than a few sampling intervals reads as zero.

import CulvertCore

/// The rates of one session, sampled at the daemon's times (event `time`, seconds since 1970).
package struct SessionTraffic: Equatable, Sendable {
    /// How far back the sparkline reaches.
    static let windowSeconds = 60.0
    /// The daemon's sampling interval, until two samples show a shorter one.
    static let defaultIntervalSeconds = 2.0
    /// A rate this many sampling intervals old reads as zero (the counters stopped changing).
    static let staleIntervals = 2.0

    /// One measured rate: bytes per second between two counter samples, ending at `time`.
    struct Rate: Equatable, Sendable {
        var time: Double
        var rx: Double
        var tx: Double
    }

    /// The session these counters belong to; another id starts over.
    private(set) var sessionID: String
    private var lastTime: Double?
    private var lastCounters: SessionCounters?
    /// Rates of the last `windowSeconds`, oldest first.
    private(set) var rates: [Rate] = []
    /// The shortest gap seen between samples: the daemon's interval, or a multiple of it.
    private(set) var interval = defaultIntervalSeconds

    init(sessionID: String) { self.sessionID = sessionID }

    /// Counters were recorded: the next ones give a rate.
    var hasBaseline: Bool { lastTime != nil }

    /// Adds counters sampled at `time`. Counters that went down (a new interface) restart the baseline.
    mutating func record(_ counters: SessionCounters, at time: Double) {
        defer {
            lastTime = time
            lastCounters = counters
            rates.removeAll { $0.time < time - Self.windowSeconds }
        }
        guard let lastTime, let lastCounters, time > lastTime else { return }
        let rx = counters.rxBytes - lastCounters.rxBytes
        let tx = counters.txBytes - lastCounters.txBytes
        guard rx >= 0, tx >= 0 else { return }
        let gap = time - lastTime
        interval = min(interval, gap)
        // After a silence the counters changed only within the last interval (else a sample would
        // have come sooner): spreading the bytes over the whole silence would understate the rate.
        let span = gap > interval * Self.staleIntervals ? interval : gap
        rates.append(Rate(time: time, rx: Double(rx) / span, tx: Double(tx) / span))
    }

    /// The rate as of `now`: the last one measured, or zero once no change came for a while.
    func current(at now: Double) -> Rate? {
        guard let last = rates.last else { return lastTime == nil ? nil : Rate(time: now, rx: 0, tx: 0) }
        if now - last.time > interval * Self.staleIntervals { return Rate(time: now, rx: 0, tx: 0) }
        return last
    }

    /// The last minute in `columns` buckets, each the highest rx+tx rate measured in it; nil for
    /// a bucket from before the first sample (nothing known), 0 for a quiet one.
    func buckets(columns: Int, at now: Double) -> [Double?] {
        guard columns > 0 else { return [] }
        let width = Self.windowSeconds / Double(columns)
        let start = now - Self.windowSeconds
        let known = (rates.first?.time ?? lastTime).map { $0 - interval } ?? now
        return (0..<columns).map { column in
            let from = start + Double(column) * width
            let to = from + width
            guard to > known else { return nil }
            return rates.filter { $0.time > from && $0.time <= to }.map { $0.rx + $0.tx }.max() ?? 0
        }
    }

    // MARK: words

    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let asciiBlocks: [Character] = ["_", ".", ":", "-", "=", "+", "*", "#"]

    /// The buckets as block characters scaled to the highest; a space where nothing is known.
    static func sparkline(_ buckets: [Double?], unicode: Bool) -> String {
        let ramp = unicode ? blocks : asciiBlocks
        let highest = buckets.compactMap { $0 }.max() ?? 0
        return String(
            buckets.map { value -> Character in
                guard let value else { return " " }
                guard highest > 0, value > 0 else { return ramp[0] }
                // Any traffic shows above the floor, so a trickle next to a burst is still visible.
                let level = Int((value / highest * Double(ramp.count - 1)).rounded(.up))
                return ramp[max(1, min(ramp.count - 1, level))]
            })
    }

    /// Bytes per second in at most 7 columns: "0B/s", "980B/s", "9.8K/s", "512K/s", "1.2M/s".
    static func rate(_ bytesPerSecond: Double) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var value = max(0, bytesPerSecond)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(Int(value.rounded()))B/s" }
        let text =
            value < 10
            ? String(Int((value * 10).rounded()) / 10) + "." + String(Int((value * 10).rounded()) % 10) : "\(Int(value.rounded()))"
        return text + units[unit] + "/s"
    }

    /// How long ago `since`, in at most 6 columns: "42s", "12m03s", "3h07m", "2d03h".
    static func uptime(_ seconds: Double) -> String {
        let total = max(0, Int(seconds))
        let (days, hours, minutes, rest) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if days > 0 { return "\(days)d\(two(hours))h" }
        if hours > 0 { return "\(hours)h\(two(minutes))m" }
        if minutes > 0 { return "\(minutes)m\(two(rest))s" }
        return "\(rest)s"
    }

    /// Seconds since 1970 of an RFC 3339 UTC time as culvertd writes it (`2025-01-01T12:00:01.250Z`,
    /// fraction optional); nil for anything else.
    static func seconds(rfc3339 text: String) -> Double? {
        let characters = Array(text.utf8)
        guard characters.count >= 20, characters[4] == UInt8(ascii: "-"), characters[10] == UInt8(ascii: "T"),
            characters.last == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: characters[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19), (1...12).contains(month)
        else { return nil }
        var fraction = 0.0
        if characters.count > 21, characters[19] == UInt8(ascii: ".") {
            fraction = Double("0." + String(decoding: characters[20..<(characters.count - 1)], as: UTF8.self)) ?? 0
        }
        // Days from the civil date (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second) + fraction
    }
}
