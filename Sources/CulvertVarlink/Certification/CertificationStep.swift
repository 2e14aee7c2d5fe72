// CertificationStep: the calls of an org.varlink.certification run, in the order they must come.

/// One method of `org.varlink.certification`. The raw value is the unqualified method name.
///
/// A run is `Start`, `Test01` … `Test11`, `End`, strictly in declaration order (`allCases` order).
public enum CertificationStep: String, CaseIterable, Sendable, Equatable, CustomStringConvertible {
    case start = "Start"
    case test01 = "Test01"
    case test02 = "Test02"
    case test03 = "Test03"
    case test04 = "Test04"
    case test05 = "Test05"
    case test06 = "Test06"
    case test07 = "Test07"
    case test08 = "Test08"
    case test09 = "Test09"
    case test10 = "Test10"
    case test11 = "Test11"
    case end = "End"

    /// The interface every step belongs to.
    public static let interfaceName = "org.varlink.certification"

    /// The fully qualified method name, as sent in a call.
    public var method: String { Self.interfaceName + "." + rawValue }

    /// The step that must follow this one; nil after `End` (a new run starts with `Start`).
    public var next: CertificationStep? {
        let all = Self.allCases
        let index = all.firstIndex(of: self)!  // self is one of allCases
        return all.index(after: index) < all.endIndex ? all[all.index(after: index)] : nil
    }

    /// The step whose reply this step's call passes along; nil for `Start`, `Test01`, `Test11`
    /// and `End`, whose calls carry only the client id (and, for Test11, the streamed strings).
    var passesAlongReplyOf: CertificationStep? {
        switch self {
        case .test02: return .test01
        case .test03: return .test02
        case .test04: return .test03
        case .test05: return .test04
        case .test06: return .test05
        case .test07: return .test06
        case .test08: return .test07
        case .test09: return .test08
        case .test10: return .test09
        case .start, .test01, .test11, .end: return nil
        }
    }

    public var description: String { rawValue }
}
