// VarlinkValidator: checks JSON parameters against the types of a parsed interface.
//
// Semantics follow systemd's sd-varlink and python-varlink, the implementations our peers run:
// unknown fields are refused, null counts as absent, `int` wants a JSON integer, `float` any
// number, and a `[string]()` set is an object whose values are `{}` (what python sends).

extension VarlinkInterface {
    /// Deepest recursion the validator allows. Parsed input cannot get close (JSON nesting is
    /// capped by the JSON parser and type nesting by `maximumNestingDepth`); the cap exists for
    /// values and interfaces built in code, e.g. a `type` that names itself without a struct between.
    public static let maximumValidationDepth = 512
}

/// Why parameters do not match an interface, naming the offending parameter.
public struct VarlinkValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        /// The method (or error) is not declared; answer with MethodNotFound, not InvalidParameter.
        case unknownMember = "unknown_member"
        /// The parameters themselves, or a struct inside them, are not a JSON object.
        case notAnObject = "not_an_object"
        case missingField = "missing_field"
        /// A value is null where its type is not optional.
        case nullValue = "null_value"
        case unknownField = "unknown_field"
        case typeMismatch = "type_mismatch"
        case invalidEnumValue = "invalid_enum_value"
        /// A `[string]()` set entry whose value is not `{}`.
        case invalidSetValue = "invalid_set_value"
        /// A named type the interface does not declare (only possible for hand-built types).
        case undefinedType = "undefined_type"
        case tooDeep = "too_deep"
    }

    /// The top-level parameter at fault, as `org.varlink.service.InvalidParameter` reports it:
    /// `"name"` for any problem inside the `name` field, `"parameters"` when the parameters are not
    /// an object, `""` when there is no top-level field (`unknownMember`, or `validate(_:against:)`
    /// failing at the root).
    public var parameter: String
    /// The precise location, e.g. `options.key`, `list[3]` or `map["k"]`; `""` for the root.
    public var path: String
    public var reason: Reason
    /// Expected versus found, for people.
    public var detail: String

    public init(parameter: String, path: String, reason: Reason, detail: String) {
        self.parameter = parameter
        self.path = path
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        "invalid parameter '\(path.isEmpty ? parameter : path)': \(detail) (\(reason.rawValue))"
    }
}

extension VarlinkInterface {
    /// Checks the parameters of a call to `method` against its input struct.
    ///
    /// `parameters` is the value of the call's `parameters` key; pass `.null` or `[:]` when the key
    /// is absent. Throws `unknownMember` if `method` is not declared.
    public func validate(parameters: JSONValue, of method: String) throws(VarlinkValidationError) {
        guard let declaration = methods[method] else { throw unknown("method", method) }
        try validateTopLevel(parameters, against: declaration.input)
    }

    /// Checks the parameters of a reply from `method` against its output struct, with the same
    /// rules as `validate(parameters:of:)`.
    public func validate(reply parameters: JSONValue, of method: String) throws(VarlinkValidationError) {
        guard let declaration = methods[method] else { throw unknown("method", method) }
        try validateTopLevel(parameters, against: declaration.output)
    }

    /// Checks the parameters of an error reply named `error` (unqualified) against its declaration.
    public func validate(errorParameters parameters: JSONValue, of error: String) throws(VarlinkValidationError) {
        guard let declaration = errors[error] else { throw unknown("error", error) }
        try validateTopLevel(parameters, against: declaration)
    }

    /// Checks one value against a type, resolving named types through `typeAliases`.
    ///
    /// Errors report `path` relative to `value` and `parameter` as the first field name on it.
    public func validate(_ value: JSONValue, against type: VarlinkType) throws(VarlinkValidationError) {
        var validator = TypeValidator(typeAliases: typeAliases)
        try validator.validate(value, against: type, depth: 0)
    }

    private func unknown(_ kind: String, _ name: String) -> VarlinkValidationError {
        VarlinkValidationError(
            parameter: "", path: "", reason: .unknownMember, detail: "\(kind) '\(name)' is not declared in \(self.name)")
    }

    private func validateTopLevel(_ parameters: JSONValue, against fields: VarlinkStruct) throws(VarlinkValidationError) {
        // An absent "parameters" key means no parameters (both reference implementations); an
        // explicit null carries no more, so it is read the same way rather than refused.
        let parameters: JSONValue = parameters == .null ? .object([:]) : parameters
        do {
            try validate(parameters, against: .struct(fields))
        } catch let error where error.path.isEmpty {
            throw VarlinkValidationError(parameter: "parameters", path: "parameters", reason: error.reason, detail: error.detail)
        }
    }
}

// MARK: - Recursion

/// One validation walk. Keeps the path as components and formats it only when failing.
private struct TypeValidator {
    enum Component {
        case field(String)
        case index(Int)
        case key(String)
    }

    let typeAliases: [String: VarlinkType]
    var path: [Component] = []

    init(typeAliases: [String: VarlinkType]) {
        self.typeAliases = typeAliases
    }

    func fail(_ reason: VarlinkValidationError.Reason, _ detail: String) -> VarlinkValidationError {
        var parameter = ""
        if case .field(let name)? = path.first { parameter = name }
        var text = ""
        for component in path {
            switch component {
            case .field(let name): text += text.isEmpty ? name : "." + name
            case .index(let index): text += "[\(index)]"
            case .key(let key): text += "[" + JSONValue.string(key).jsonString + "]"
            }
        }
        return VarlinkValidationError(parameter: parameter, path: text, reason: reason, detail: detail)
    }

    func mismatch(_ value: JSONValue, _ type: VarlinkType) -> VarlinkValidationError {
        fail(.typeMismatch, "expected \(type), found \(value.typeName)")
    }

    mutating func validate(_ value: JSONValue, against type: VarlinkType, depth: Int) throws(VarlinkValidationError) {
        guard depth < VarlinkInterface.maximumValidationDepth else {
            throw fail(.tooDeep, "nesting exceeds \(VarlinkInterface.maximumValidationDepth) levels")
        }
        if case .optional(let wrapped) = type {
            if value == .null { return }
            return try validate(value, against: wrapped, depth: depth + 1)
        }
        if value == .null { throw fail(.nullValue, "expected \(type), found null") }

        switch type {
        case .optional:
            return  // handled above; listed so the switch stays exhaustive without a default
        case .bool:
            guard case .bool = value else { throw mismatch(value, type) }
        case .int:
            guard case .int = value else { throw mismatch(value, type) }
        case .float:
            guard value.doubleValue != nil else { throw mismatch(value, type) }
        case .string:
            guard case .string = value else { throw mismatch(value, type) }
        case .object:
            guard case .object = value else { throw mismatch(value, type) }
        case .enum(let names):
            guard case .string(let name) = value else { throw mismatch(value, type) }
            guard names.contains(name) else {
                throw fail(.invalidEnumValue, "'\(name)' is not one of \(type)")
            }
        case .named(let name):
            guard let resolved = typeAliases[name] else {
                throw fail(.undefinedType, "type '\(name)' is not declared")
            }
            try validate(value, against: resolved, depth: depth + 1)
        case .array(let element):
            guard case .array(let elements) = value else { throw mismatch(value, type) }
            for (index, item) in elements.enumerated() {
                path.append(.index(index))
                try validate(item, against: element, depth: depth + 1)
                path.removeLast()
            }
        case .dictionary(let element):
            guard case .object(let members) = value else { throw mismatch(value, type) }
            // Sorted so that the entry reported first does not depend on hashing.
            for (key, item) in members.sorted(by: { $0.key < $1.key }) {
                path.append(.key(key))
                try validate(item, against: element, depth: depth + 1)
                path.removeLast()
            }
        case .stringSet:
            guard case .object(let members) = value else { throw mismatch(value, type) }
            for (key, item) in members.sorted(by: { $0.key < $1.key }) where item != .object([:]) {
                path.append(.key(key))
                throw fail(.invalidSetValue, "set entries carry {} as value, found \(item.typeName)")
            }
        case .struct(let fields):
            guard case .object(let members) = value else {
                throw fail(.notAnObject, "expected an object \(fields), found \(value.typeName)")
            }
            try validateStruct(members, against: fields, depth: depth)
        }
    }

    /// Declared fields first, in declaration order, then unknown keys in sorted order: a misspelt
    /// required field reports as missing, as sd-varlink does.
    private mutating func validateStruct(
        _ members: [String: JSONValue], against fields: VarlinkStruct, depth: Int
    ) throws(VarlinkValidationError) {
        var declaredPresent = 0
        for field in fields.fields {
            path.append(.field(field.name))
            if let member = members[field.name] {
                declaredPresent += 1
                try validate(member, against: field.type, depth: depth + 1)
            } else if !field.type.isOptional {
                throw fail(.missingField, "required field '\(field.name)' of type \(field.type) is missing")
            }
            path.removeLast()
        }
        // Field names are unique, so equal counts mean every key was declared; skip the sort.
        guard members.count > declaredPresent else { return }
        for key in members.keys.sorted() where fields.field(named: key) == nil {
            path.append(.field(key))
            throw fail(.unknownField, "field '\(key)' is not declared in \(fields)")
        }
    }
}
