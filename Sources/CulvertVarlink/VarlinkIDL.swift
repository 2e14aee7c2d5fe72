// VarlinkIDL: the syntax tree of a varlink interface definition (https://varlink.org/Interface-Definition).
//
// Produced by `VarlinkInterface(parsing:)` (VarlinkIDLParser.swift) and consumed by the parameter
// validator (VarlinkValidator.swift). Values only: nothing here refers back to the source text.

/// A type as written in an interface definition.
///
/// Named types (`.named`) are references into `VarlinkInterface.typeAliases`; the parser guarantees
/// every reference it produces resolves there.
public indirect enum VarlinkType: Sendable, Equatable {
    case bool
    /// A JSON integer (varlink implementations use 64 bits).
    case int
    /// A JSON number, integral or not.
    case float
    case string
    /// The untyped `object`: any JSON object, contents unchecked.
    case object
    /// `(a, b, c)`: a string that must be one of the listed names, in declaration order.
    case `enum`([String])
    /// `(a: T, b: U)` or the empty `()`.
    case `struct`(VarlinkStruct)
    /// A reference to a `type` declaration of the same interface.
    case named(String)
    /// `[]T`
    case array(VarlinkType)
    /// `[string]T`: a JSON object with arbitrary keys, every value a `T`.
    case dictionary(VarlinkType)
    /// `[string]()`: a set of strings, sent as an object whose values are all `{}`.
    case stringSet
    /// `?T`: the value may be absent or null. Never directly nested (`??T` is refused).
    case optional(VarlinkType)

    /// Whether a struct field of this type may be absent or null.
    public var isOptional: Bool {
        if case .optional = self { return true }
        return false
    }
}

/// One `name: type` entry of a struct.
public struct VarlinkField: Sendable, Equatable {
    public var name: String
    public var type: VarlinkType

    public init(name: String, type: VarlinkType) {
        self.name = name
        self.type = type
    }
}

/// An ordered list of fields; field names are unique (the parser refuses duplicates).
public struct VarlinkStruct: Sendable, Equatable {
    public var fields: [VarlinkField]

    public init(_ fields: [VarlinkField] = []) {
        self.fields = fields
    }

    /// The empty struct `()`.
    public static let empty = VarlinkStruct()

    /// The field called `name`, if declared. Linear: structs are short and this keeps declaration order.
    public func field(named name: String) -> VarlinkField? {
        fields.first { $0.name == name }
    }
}

/// A `method Name(input) -> (output)` declaration.
public struct VarlinkMethod: Sendable, Equatable {
    public var name: String
    public var input: VarlinkStruct
    public var output: VarlinkStruct

    public init(name: String, input: VarlinkStruct, output: VarlinkStruct) {
        self.name = name
        self.input = input
        self.output = output
    }
}

/// A parsed varlink interface definition.
///
/// Types, methods and errors share one namespace, so a name is a key of at most one of
/// `typeAliases`, `methods` and `errors`. The `…Names` arrays list the same keys in declaration order.
public struct VarlinkInterface: Sendable, Equatable {
    /// The reverse-domain interface name, e.g. `org.varlink.service`.
    public let name: String
    /// The documentation comment directly above the `interface` keyword, `#` markers removed.
    public let documentation: String?
    /// `type` declarations; each is a `.struct` or an `.enum`.
    public let typeAliases: [String: VarlinkType]
    public let methods: [String: VarlinkMethod]
    /// `error` declarations with their parameter structs.
    public let errors: [String: VarlinkStruct]
    public let typeNames: [String]
    public let methodNames: [String]
    public let errorNames: [String]
    /// Documentation comments of types, methods and errors, keyed by member name; members without
    /// one are absent.
    public let memberDocumentation: [String: String]

    init(
        name: String, documentation: String?, typeAliases: [String: VarlinkType], methods: [String: VarlinkMethod],
        errors: [String: VarlinkStruct], typeNames: [String], methodNames: [String], errorNames: [String],
        memberDocumentation: [String: String]
    ) {
        self.name = name
        self.documentation = documentation
        self.typeAliases = typeAliases
        self.methods = methods
        self.errors = errors
        self.typeNames = typeNames
        self.methodNames = methodNames
        self.errorNames = errorNames
        self.memberDocumentation = memberDocumentation
    }
}

extension VarlinkType: CustomStringConvertible {
    /// The type in interface definition syntax, e.g. `?[]string` or `(a: int, b: (x, y))`.
    public var description: String {
        switch self {
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "string"
        case .object: return "object"
        case .enum(let values): return "(" + values.joined(separator: ", ") + ")"
        case .struct(let fields): return fields.description
        case .named(let name): return name
        case .array(let element): return "[]" + element.description
        case .dictionary(let element): return "[string]" + element.description
        case .stringSet: return "[string]()"
        case .optional(let wrapped): return "?" + wrapped.description
        }
    }
}

extension VarlinkStruct: CustomStringConvertible {
    public var description: String {
        "(" + fields.map { "\($0.name): \($0.type)" }.joined(separator: ", ") + ")"
    }
}
