// VarlinkIDLParser: recursive-descent parser for varlink interface definitions, following the
// grammar at https://varlink.org/Interface-Definition.
//
// Interface texts come from handlers we compile in, but also from peers (a client introspecting a
// service) and from the fuzzer, so the parser treats its input as hostile: it refuses oversized
// input before looking at it, counts nesting so recursion stays bounded, and never traps.
//
// Deliberately more lenient than the PEG in one way, like the python and systemd parsers: members
// need only whitespace between them, not a newline.

extension VarlinkInterface {
    /// Longest definition accepted, in UTF-8 bytes. Real interfaces are a few KiB.
    public static let maximumDefinitionLength = 1 << 20
    /// Deepest nesting of type constructors (`?`, `[]`, `[string]`, `(…)`) accepted. Bounds recursion
    /// here and in the validator; real interfaces nest three or four levels.
    public static let maximumNestingDepth = 32
}

/// Why a text is not an acceptable varlink interface definition, and where.
public struct VarlinkIDLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        case inputTooLong = "input_too_long"
        case nestingTooDeep = "nesting_too_deep"
        /// The text ended where more was required (outside any parenthesis).
        case unexpectedEnd = "unexpected_end"
        /// A character that starts no token, outside a comment.
        case invalidCharacter = "invalid_character"
        case missingInterfaceKeyword = "missing_interface_keyword"
        case invalidInterfaceName = "invalid_interface_name"
        /// Something other than `type`, `method` or `error` where a member must start.
        case trailingGarbage = "trailing_garbage"
        case invalidTypeName = "invalid_type_name"
        case invalidMethodName = "invalid_method_name"
        case invalidErrorName = "invalid_error_name"
        case invalidFieldName = "invalid_field_name"
        case expectedType = "expected_type"
        /// A `(…)` struct was required (type, method or error body) and something else was found.
        case expectedStruct = "expected_struct"
        case expectedArrow = "expected_arrow"
        case expectedCommaOrParenthesis = "expected_comma_or_parenthesis"
        /// `(a, b: int)`: enum values and struct fields in one parenthesis.
        case mixedStructAndEnum = "mixed_struct_and_enum"
        /// A `(` never closed, or a `)` that closes nothing.
        case unbalancedParentheses = "unbalanced_parentheses"
        case doubleOptional = "double_optional"
        /// A type, method or error name declared twice (they share one namespace).
        case duplicateMember = "duplicate_member"
        /// A field or enum value named twice in one parenthesis.
        case duplicateField = "duplicate_field"
        /// A named type that no `type` declaration of the interface defines.
        case undefinedType = "undefined_type"
    }

    public var reason: Reason
    /// 1-based line of the offending token.
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int
    /// What was found and what was expected, for people.
    public var detail: String

    public init(reason: Reason, line: Int, column: Int, detail: String) {
        self.reason = reason
        self.line = line
        self.column = column
        self.detail = detail
    }

    public var description: String { "invalid varlink interface at \(line):\(column): \(detail) (\(reason.rawValue))" }
}

extension VarlinkInterface {
    /// Parses and checks a complete interface definition.
    ///
    /// Accepts exactly the varlink grammar: one `interface` line, then `type`, `method` and `error`
    /// members. Refuses duplicate names, names breaking the naming rules, `type` declarations that
    /// are not a struct or enum, and references to types the text does not declare.
    public init(parsing text: String) throws(VarlinkIDLError) {
        guard text.utf8.count <= VarlinkInterface.maximumDefinitionLength else {
            throw VarlinkIDLError(
                reason: .inputTooLong, line: 1, column: 1,
                detail: "definition exceeds \(VarlinkInterface.maximumDefinitionLength) bytes")
        }
        var parser = IDLParser(lexer: IDLLexer(text))
        self = try parser.parseInterface()
    }
}

// MARK: - Names

/// Naming rules from the grammar section of the specification.
enum VarlinkIDLNames {
    /// `[A-Za-z]([-]*[A-Za-z0-9])*(\.[A-Za-z0-9]([-]*[A-Za-z0-9])*)+`: at least two dot-separated
    /// labels of letters, digits and inner dashes; the first starts with a letter.
    static func isValidInterfaceName(_ name: String) -> Bool {
        let labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2, let first = labels.first?.first, isASCIILetter(first) else { return false }
        return labels.allSatisfy { label in
            guard let head = label.first, let tail = label.last else { return false }
            return head != UInt8(ascii: "-") && tail != UInt8(ascii: "-")
                && label.allSatisfy { isASCIILetter($0) || isASCIIDigit($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// `[A-Z][A-Za-z0-9]*`: types, methods and errors.
    static func isValidMemberName(_ name: String) -> Bool {
        guard let head = name.utf8.first, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(head) else { return false }
        return name.utf8.allSatisfy { isASCIILetter($0) || isASCIIDigit($0) }
    }

    /// `[A-Za-z](_?[A-Za-z0-9])*`: struct fields and enum values. Underscores only singly, inside.
    static func isValidFieldName(_ name: String) -> Bool {
        guard let head = name.utf8.first, isASCIILetter(head) else { return false }
        var previousWasUnderscore = false
        for byte in name.utf8 {
            if byte == UInt8(ascii: "_") {
                if previousWasUnderscore { return false }
                previousWasUnderscore = true
            } else if isASCIILetter(byte) || isASCIIDigit(byte) {
                previousWasUnderscore = false
            } else {
                return false
            }
        }
        return !previousWasUnderscore
    }

    static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    static func isASCIIDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

// MARK: - Parser

private struct IDLParser {
    var lexer: IDLLexer
    /// Named-type references in source order, resolved once every `type` is known.
    private var references: [(name: String, line: Int, column: Int)] = []

    init(lexer: IDLLexer) {
        self.lexer = lexer
    }

    private func fail(_ reason: VarlinkIDLError.Reason, at token: IDLToken, _ detail: String) -> VarlinkIDLError {
        VarlinkIDLError(reason: reason, line: token.line, column: token.column, detail: detail)
    }

    private static func documentation(_ lines: [String]) -> String? {
        lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    mutating func parseInterface() throws(VarlinkIDLError) -> VarlinkInterface {
        let keyword = try lexer.next()
        guard keyword.kind == .word("interface") else {
            throw fail(
                keyword.kind == .end ? .unexpectedEnd : .missingInterfaceKeyword, at: keyword,
                "expected 'interface', found \(keyword.quoted)")
        }
        let nameToken = try lexer.next()
        guard case .word(let name) = nameToken.kind, VarlinkIDLNames.isValidInterfaceName(name) else {
            throw fail(
                nameToken.kind == .end ? .unexpectedEnd : .invalidInterfaceName, at: nameToken,
                "\(nameToken.quoted) is not a reverse-domain interface name")
        }

        let interfaceDocumentation = IDLParser.documentation(keyword.documentation)
        var typeAliases: [String: VarlinkType] = [:]
        var methods: [String: VarlinkMethod] = [:]
        var errors: [String: VarlinkStruct] = [:]
        var typeNames: [String] = [], methodNames: [String] = [], errorNames: [String] = []
        var memberDocumentation: [String: String] = [:]
        var declared: Set<String> = []

        while true {
            let keyword = try lexer.next()
            let reason: VarlinkIDLError.Reason
            switch keyword.kind {
            case .end:
                try resolveReferences(typeAliases: typeAliases, methods: methods, errors: errors)
                return VarlinkInterface(
                    name: name, documentation: interfaceDocumentation,
                    typeAliases: typeAliases, methods: methods, errors: errors, typeNames: typeNames,
                    methodNames: methodNames, errorNames: errorNames, memberDocumentation: memberDocumentation)
            case .word("type"): reason = .invalidTypeName
            case .word("method"): reason = .invalidMethodName
            case .word("error"): reason = .invalidErrorName
            case .rightParenthesis:
                throw fail(.unbalancedParentheses, at: keyword, "')' closes no parenthesis")
            default:
                throw fail(.trailingGarbage, at: keyword, "expected 'type', 'method' or 'error', found \(keyword.quoted)")
            }

            let nameToken = try lexer.next()
            guard case .word(let memberName) = nameToken.kind, VarlinkIDLNames.isValidMemberName(memberName) else {
                throw fail(
                    nameToken.kind == .end ? .unexpectedEnd : reason, at: nameToken,
                    "\(nameToken.quoted) is not a valid name: names start with an uppercase letter, then letters and digits")
            }
            guard declared.insert(memberName).inserted else {
                throw fail(.duplicateMember, at: nameToken, "'\(memberName)' is declared twice")
            }
            if let doc = IDLParser.documentation(keyword.documentation) { memberDocumentation[memberName] = doc }

            switch keyword.kind {
            case .word("type"):
                typeAliases[memberName] = try parseParenthesized(depth: 1, what: "a type declaration")
                typeNames.append(memberName)
            case .word("method"):
                let input = try parseStruct(depth: 1, what: "method input")
                let arrow = try lexer.next()
                guard arrow.kind == .arrow else {
                    throw fail(
                        arrow.kind == .end ? .unexpectedEnd : .expectedArrow, at: arrow,
                        "expected '->' after the input of '\(memberName)', found \(arrow.quoted)")
                }
                let output = try parseStruct(depth: 1, what: "method output")
                methods[memberName] = VarlinkMethod(name: memberName, input: input, output: output)
                methodNames.append(memberName)
            default:
                errors[memberName] = try parseStruct(depth: 1, what: "error parameters")
                errorNames.append(memberName)
            }
        }
    }

    /// Fails on the first reference, in source order, that names no `type` declaration.
    private func resolveReferences(
        typeAliases: [String: VarlinkType], methods: [String: VarlinkMethod], errors: [String: VarlinkStruct]
    ) throws(VarlinkIDLError) {
        for reference in references where typeAliases[reference.name] == nil {
            let kind = methods[reference.name] != nil ? " (it is a method)" : errors[reference.name] != nil ? " (it is an error)" : ""
            throw VarlinkIDLError(
                reason: .undefinedType, line: reference.line, column: reference.column,
                detail: "type '\(reference.name)' is not declared\(kind)")
        }
    }

    /// A parenthesis that must be a struct (method input and output, error parameters).
    private mutating func parseStruct(depth: Int, what: String) throws(VarlinkIDLError) -> VarlinkStruct {
        let open = try lexer.peek()
        switch try parseParenthesized(depth: depth, what: what) {
        case .struct(let fields): return fields
        default: throw fail(.expectedStruct, at: open, "\(what) must be a struct '(name: type, …)', not an enum")
        }
    }

    /// `(…)`: a struct, an enum, or the empty struct `()`. Consumes the opening parenthesis.
    private mutating func parseParenthesized(depth: Int, what: String) throws(VarlinkIDLError) -> VarlinkType {
        let open = try lexer.next()
        guard open.kind == .leftParenthesis else {
            throw fail(
                open.kind == .end ? .unexpectedEnd : .expectedStruct, at: open, "expected '(' to start \(what), found \(open.quoted)")
        }
        return try parseParenthesizedBody(open: open, depth: depth)
    }

    private mutating func parseParenthesizedBody(open: IDLToken, depth: Int) throws(VarlinkIDLError) -> VarlinkType {
        guard depth <= VarlinkInterface.maximumNestingDepth else {
            throw fail(.nestingTooDeep, at: open, "types nest deeper than \(VarlinkInterface.maximumNestingDepth) levels")
        }
        if try lexer.peek().kind == .rightParenthesis {
            _ = try lexer.next()
            return .struct(.empty)
        }
        var fields: [VarlinkField] = []
        var enumValues: [String] = []
        var isEnum: Bool?
        var seen: Set<String> = []
        while true {
            let nameToken = try lexer.next()
            guard case .word(let fieldName) = nameToken.kind, VarlinkIDLNames.isValidFieldName(fieldName) else {
                if nameToken.kind == .end { throw unclosed(open) }
                throw fail(
                    .invalidFieldName, at: nameToken,
                    "expected a field name (a letter, then letters, digits and single inner '_'), found \(nameToken.quoted)")
            }
            guard seen.insert(fieldName).inserted else {
                throw fail(.duplicateField, at: nameToken, "'\(fieldName)' appears twice in one parenthesis")
            }
            var separator = try lexer.next()
            if separator.kind == .colon {
                guard isEnum != true else {
                    throw fail(.mixedStructAndEnum, at: separator, "enum values cannot have types")
                }
                isEnum = false
                fields.append(VarlinkField(name: fieldName, type: try parseType(depth: depth + 1)))
                separator = try lexer.next()
            } else if separator.kind == .comma || separator.kind == .rightParenthesis {
                guard isEnum != false else {
                    throw fail(.mixedStructAndEnum, at: nameToken, "struct field '\(fieldName)' has no type")
                }
                isEnum = true
                enumValues.append(fieldName)
            } else if separator.kind == .end {
                throw unclosed(open)
            } else {
                throw fail(
                    .expectedCommaOrParenthesis, at: separator, "expected ':', ',' or ')' after '\(fieldName)', found \(separator.quoted)")
            }
            switch separator.kind {
            case .comma: continue
            case .rightParenthesis: return isEnum == true ? .enum(enumValues) : .struct(VarlinkStruct(fields))
            case .end: throw unclosed(open)
            default: throw fail(.expectedCommaOrParenthesis, at: separator, "expected ',' or ')', found \(separator.quoted)")
            }
        }
    }

    private func unclosed(_ open: IDLToken) -> VarlinkIDLError {
        fail(.unbalancedParentheses, at: open, "'(' is never closed")
    }

    /// One type; `depth` is the level a constructor here would occupy. Every constructor adds a
    /// level, so hostile prefixes like `[][][]…` or `(a: (a: …` stop at `maximumNestingDepth`.
    private mutating func parseType(depth: Int) throws(VarlinkIDLError) -> VarlinkType {
        let token = try lexer.next()
        switch token.kind {
        case .question, .arrayPrefix, .dictionaryPrefix:
            guard depth <= VarlinkInterface.maximumNestingDepth else {
                throw fail(.nestingTooDeep, at: token, "types nest deeper than \(VarlinkInterface.maximumNestingDepth) levels")
            }
        default:
            break  // leaves add no level; '(' checks its own depth
        }
        switch token.kind {
        case .question:
            let following = try lexer.peek()
            guard following.kind != .question else {
                throw fail(.doubleOptional, at: following, "'??' is not a type: a value is either null or not")
            }
            return .optional(try parseType(depth: depth + 1))
        case .arrayPrefix:
            return .array(try parseType(depth: depth + 1))
        case .dictionaryPrefix:
            let element = try parseType(depth: depth + 1)
            // `[string]()` is the spelled form of a set; normalising keeps one representation.
            return element == .struct(.empty) ? .stringSet : .dictionary(element)
        case .leftParenthesis:
            return try parseParenthesizedBody(open: token, depth: depth)
        case .word("bool"): return .bool
        case .word("int"): return .int
        case .word("float"): return .float
        case .word("string"): return .string
        case .word("object"): return .object
        case .word(let name) where name.utf8.first.map({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) == true:
            guard VarlinkIDLNames.isValidMemberName(name) else {
                throw fail(.invalidTypeName, at: token, "'\(name)' is not a valid type name")
            }
            references.append((name, token.line, token.column))
            return .named(name)
        case .end:
            throw VarlinkIDLError(
                reason: .unbalancedParentheses, line: token.line, column: token.column,
                detail: "input ends inside a parenthesis")
        default:
            throw fail(.expectedType, at: token, "expected a type, found \(token.quoted)")
        }
    }
}
