// VarlinkIDLLexer: the tokens of a varlink interface definition for VarlinkIDLParser — words,
// punctuation and documentation comments with their line and column, read from hostile text (see
// VarlinkIDLParser.swift's header): every token is bounded by the input and nothing traps.

struct IDLToken {
    enum Kind: Equatable {
        /// A run of letters, digits, `_`, `.` and `-`; keywords, names and builtin types alike.
        case word(String)
        case leftParenthesis, rightParenthesis, colon, comma, question, arrow
        /// `[]`
        case arrayPrefix
        /// `[string]`
        case dictionaryPrefix
        case end
    }

    var kind: Kind
    var line: Int
    var column: Int
    /// Own-line comments directly above this token (no blank line between), markers removed.
    var documentation: [String]

    var quoted: String {
        switch kind {
        case .word(let word): return "'\(word)'"
        case .leftParenthesis: return "'('"
        case .rightParenthesis: return "')'"
        case .colon: return "':'"
        case .comma: return "','"
        case .question: return "'?'"
        case .arrow: return "'->'"
        case .arrayPrefix: return "'[]'"
        case .dictionaryPrefix: return "'[string]'"
        case .end: return "end of input"
        }
    }
}

struct IDLLexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var column = 1
    /// Whether a token started on the current line; a comment after one documents nothing.
    private var lineHasToken = false
    /// Whether a comment occupies the current line; a line with neither is blank and ends a
    /// documentation block.
    private var lineHasComment = false
    private var lookahead: IDLToken?

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
    }

    mutating func peek() throws(VarlinkIDLError) -> IDLToken {
        if let token = lookahead { return token }
        let token = try lex()
        lookahead = token
        return token
    }

    mutating func next() throws(VarlinkIDLError) -> IDLToken {
        let token = try peek()
        lookahead = nil
        return token
    }

    private func scalar(at offset: Int) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private func matches(_ literal: String, at offset: Int) -> Bool {
        var position = offset
        for expected in literal.unicodeScalars {
            guard scalar(at: position) == expected else { return false }
            position += 1
        }
        return true
    }

    private mutating func advance(_ count: Int = 1) {
        index += count
        column += count
    }

    private mutating func newLine(width: Int) {
        index += width
        line += 1
        column = 1
        lineHasToken = false
        lineHasComment = false
    }

    /// Whitespace set of the specification's PEG (ECMA-262 7.2 without \v and \f).
    private static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x20, 0x09, 0xA0, 0xFEFF, 0x1680, 0x180E, 0x2000...0x200A, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Line terminators of the PEG; `\r\n` is one terminator, handled by the caller.
    private static func isLineTerminator(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x0A, 0x0D, 0x2028, 0x2029: return true
        default: return false
        }
    }

    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        guard s.isASCII else { return false }
        let byte = UInt8(s.value)
        return VarlinkIDLNames.isASCIILetter(byte) || VarlinkIDLNames.isASCIIDigit(byte) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }

    /// Skips whitespace and comments, returning the documentation block that ends right before
    /// the next token.
    private mutating func skipTrivia() -> [String] {
        var documentation: [String] = []
        while let s = scalar(at: 0) {
            if IDLLexer.isWhitespace(s) {
                advance()
            } else if IDLLexer.isLineTerminator(s) {
                if !lineHasToken && !lineHasComment { documentation.removeAll() }
                newLine(width: s == "\r" && scalar(at: 1) == "\n" ? 2 : 1)
            } else if s == "#" {
                let start = index + 1
                while let c = scalar(at: 0), !IDLLexer.isLineTerminator(c) { advance() }
                if !lineHasToken {
                    var text = String(String.UnicodeScalarView(scalars[start..<index]))
                    if text.hasPrefix(" ") { text.removeFirst() }
                    documentation.append(text)
                }
                lineHasComment = true
            } else {
                break
            }
        }
        return documentation
    }

    private mutating func lex() throws(VarlinkIDLError) -> IDLToken {
        let documentation = skipTrivia()
        var token = IDLToken(kind: .end, line: line, column: column, documentation: documentation)
        guard let s = scalar(at: 0) else { return token }
        lineHasToken = true
        switch s {
        case "(": token.kind = .leftParenthesis
        case ")": token.kind = .rightParenthesis
        case ":": token.kind = .colon
        case ",": token.kind = .comma
        case "?": token.kind = .question
        case "-" where scalar(at: 1) == ">":
            token.kind = .arrow
            advance()
        case "[":
            if scalar(at: 1) == "]" {
                token.kind = .arrayPrefix
                advance()
            } else if matches("string]", at: 1) {
                token.kind = .dictionaryPrefix
                advance(7)
            } else {
                throw VarlinkIDLError(
                    reason: .expectedType, line: line, column: column,
                    detail: "'[' must begin '[]' or '[string]'")
            }
        default:
            // A word never starts with '.' or '-' and never swallows the '-' of a following '->'.
            guard IDLLexer.isWordScalar(s), s != ".", s != "-" else {
                throw VarlinkIDLError(
                    reason: .invalidCharacter, line: line, column: column,
                    detail: "unexpected character U+\(String(s.value, radix: 16, uppercase: true))")
            }
            let start = index
            while let c = scalar(at: 0), IDLLexer.isWordScalar(c), !(c == "-" && scalar(at: 1) == ">") { advance() }
            token.kind = .word(String(String.UnicodeScalarView(scalars[start..<index])))
            return token
        }
        advance()
        return token
    }
}
