// IDL texts refused, each with its typed reason, and hostile inputs that must not crash.

import Foundation
import XCTest

@testable import CulvertVarlink

final class VarlinkIDLRefusalTests: XCTestCase {
    private static let header = "interface org.example.bad\n"

    /// Each text must be refused with exactly this reason.
    private static let cases: [(text: String, reason: VarlinkIDLError.Reason)] = [
        ("", .unexpectedEnd),
        ("# only a comment\n", .unexpectedEnd),
        ("interface", .unexpectedEnd),
        ("method Foo() -> ()", .missingInterfaceKeyword),
        ("Interface org.example.bad", .missingInterfaceKeyword),
        ("interface org", .invalidInterfaceName),
        ("interface org..example", .invalidInterfaceName),
        ("interface org.-example", .invalidInterfaceName),
        ("interface org.example-", .invalidInterfaceName),
        ("interface 1org.example", .invalidInterfaceName),
        ("interface org.ex_ample", .invalidInterfaceName),
        ("interface org.example.", .invalidInterfaceName),
        ("interface (", .invalidInterfaceName),
        (header + "method foo() -> ()", .invalidMethodName),
        (header + "method Foo_Bar() -> ()", .invalidMethodName),
        (header + "type foo (a: int)", .invalidTypeName),
        (header + "type T (a: Foo.Bar)", .invalidTypeName),
        (header + "error bad ()", .invalidErrorName),
        (header + "error 9Lives ()", .invalidErrorName),
        (header + "type T (a_: int)", .invalidFieldName),
        (header + "type T (_a: int)", .invalidFieldName),
        (header + "type T (a__b: int)", .invalidFieldName),
        (header + "type T (1a: int)", .invalidFieldName),
        (header + "type T (a: int,)", .invalidFieldName),
        (header + "type T (,)", .invalidFieldName),
        (header + "type T (a: int, a: string)", .duplicateField),
        (header + "type T (a, b, a)", .duplicateField),
        (header + "type T (a: int)\ntype T (b: int)", .duplicateMember),
        (header + "type T (a: int)\nmethod T() -> ()", .duplicateMember),
        (header + "method F() -> ()\nerror F ()", .duplicateMember),
        (header + "method F(a: Missing) -> ()", .undefinedType),
        (header + "method F() -> ()\nmethod G(a: F) -> ()", .undefinedType),
        (header + "error E ()\ntype T (e: ?[]E)", .undefinedType),
        (header + "method F(a: ??int) -> ()", .doubleOptional),
        (header + "method F(a: ? ?int) -> ()", .doubleOptional),
        (header + "method F(a: []??int) -> ()", .doubleOptional),
        (header + "type T (a: (b: int)", .unbalancedParentheses),
        (header + "type T (a: int", .unbalancedParentheses),
        (header + "type T (a: ", .unbalancedParentheses),
        (header + "type T (a", .unbalancedParentheses),
        (header + "method F() -> ())", .unbalancedParentheses),
        (header + "method F() -> () garbage", .trailingGarbage),
        ("interface org.example.bad garbage", .trailingGarbage),
        (header + "method F() -> (): int", .trailingGarbage),
        (header + "method F() -> ()\n}", .invalidCharacter),
        (header + "type T (a: int) é", .invalidCharacter),
        (header + "type T (a: int, b)", .mixedStructAndEnum),
        (header + "type T (a, b: int)", .mixedStructAndEnum),
        (header + "type T string", .expectedStruct),
        (header + "type T []string", .expectedStruct),
        (header + "method F(a, b) -> ()", .expectedStruct),
        (header + "method F() -> (ok)", .expectedStruct),
        (header + "error E (a, b)", .expectedStruct),
        (header + "method F -> ()", .expectedStruct),
        (header + "method F() ()", .expectedArrow),
        (header + "method F() - > ()", .invalidCharacter),
        (header + "method F() -> ", .unexpectedEnd),
        (header + "type", .unexpectedEnd),
        (header + "type T", .unexpectedEnd),
        (header + "type T (a: strin)", .expectedType),
        (header + "type T (a: [int]string)", .expectedType),
        (header + "type T (a: )", .expectedType),
        (header + "type T (a: ,b: int)", .expectedType),
        (header + "type T (a int)", .expectedCommaOrParenthesis),
        (header + "type T (a: int b: int)", .expectedCommaOrParenthesis),
        (header + "type T (a: " + String(repeating: "[]", count: 40) + "int)", .nestingTooDeep),
        (header + "type T " + String(repeating: "(a: ", count: 40) + "int" + String(repeating: ")", count: 40), .nestingTooDeep),
        (header + "type T (a: " + String(repeating: "?[]", count: 20) + "int)", .nestingTooDeep),
    ]

    func testRefusalTable() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 30)
        for (text, expected) in Self.cases {
            do throws(VarlinkIDLError) {
                let interface = try VarlinkInterface(parsing: text)
                XCTFail("accepted \(text.debugDescription) as \(interface.name)")
            } catch {
                XCTAssertEqual(error.reason, expected, "\(text.debugDescription): \(error)")
                XCTAssertFalse(error.detail.isEmpty)
                XCTAssertGreaterThanOrEqual(error.line, 1)
                XCTAssertGreaterThanOrEqual(error.column, 1)
            }
        }
    }

    func testEveryReasonIsExercised() {
        let covered = Set(Self.cases.map(\.reason)).union([.inputTooLong])
        XCTAssertEqual(covered, Set(VarlinkIDLError.Reason.allCases))
    }

    private func refusal(_ text: String) -> VarlinkIDLError? {
        do throws(VarlinkIDLError) {
            _ = try VarlinkInterface(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    func testErrorsPointAtTheOffendingToken() throws {
        let undefined = try XCTUnwrap(refusal("interface org.example.bad\n\nmethod F(\n  a: int,\n  b: Nope\n) -> ()"))
        XCTAssertEqual(undefined.reason, .undefinedType)
        XCTAssertEqual(undefined.line, 5)
        XCTAssertEqual(undefined.column, 6)

        let duplicate = try XCTUnwrap(refusal("interface org.example.bad\ntype A (x: int)\n  error A ()"))
        XCTAssertEqual(duplicate.reason, .duplicateMember)
        XCTAssertEqual(duplicate.line, 3)
        XCTAssertEqual(duplicate.column, 9)

        // Columns count Unicode scalars, not bytes.
        let character = try XCTUnwrap(refusal("interface org.example.bad # é\ntype T (a: int) é"))
        XCTAssertEqual(character.reason, .invalidCharacter)
        XCTAssertEqual(character.line, 2)
        XCTAssertEqual(character.column, 17)

        let unclosed = try XCTUnwrap(refusal("interface org.example.bad\ntype T (\n a: (b: int)\n"))
        XCTAssertEqual(unclosed.reason, .unbalancedParentheses)
        XCTAssertEqual(unclosed.line, 2)
        XCTAssertEqual(unclosed.column, 8)
        XCTAssertTrue(unclosed.description.contains("2:8"), unclosed.description)
        XCTAssertTrue(unclosed.description.contains("unbalanced_parentheses"), unclosed.description)
    }

    func testOversizedInputIsRefusedBeforeParsing() throws {
        let comment = "# " + String(repeating: "x", count: VarlinkInterface.maximumDefinitionLength) + "\n"
        let error = try XCTUnwrap(refusal(comment + "interface org.example.big\n"))
        XCTAssertEqual(error.reason, .inputTooLong)
        XCTAssertEqual(error.line, 1)

        // Just under the limit is fine: the cap is on bytes, not on what the text contains.
        let filler = String(repeating: "x", count: VarlinkInterface.maximumDefinitionLength - 64)
        XCTAssertNotNil(parse("# \(filler)\ninterface org.example.big\n"))
    }

    func testHostileNestingFailsWithoutExhaustingTheStack() throws {
        for opener in ["(a: ", "[]", "?[]", "[string]", "[string]?", "(x: []"] {
            let text = "interface org.example.bad\ntype T (a: " + String(repeating: opener, count: 100_000)
            let error = try XCTUnwrap(refusal(text), opener)
            XCTAssertEqual(error.reason, .nestingTooDeep, opener)
        }
        let questions = try XCTUnwrap(refusal("interface org.example.bad\ntype T (a: " + String(repeating: "?", count: 100_000)))
        XCTAssertEqual(questions.reason, .doubleOptional)
    }

    func testMutatedDefinitionsNeverCrash() {
        // Deterministic byte-level mutations of a real interface; each must parse or be refused.
        var generator = SplitMix64(seed: 0x5EED)
        let base = Array(referenceCertificationText.utf8)
        let alphabet = Array("()[]?:,->#\n abcAZ_.-string".utf8) + [0xC3, 0xA9, 0x00, 0xFF]
        var accepted = 0
        for _ in 0..<3_000 {
            var bytes = base
            for _ in 0..<Int(generator.next() % 4 + 1) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes.remove(at: position)
                case 1: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                default: bytes[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                }
            }
            do throws(VarlinkIDLError) {
                _ = try VarlinkInterface(parsing: String(decoding: bytes, as: UTF8.self))
                accepted += 1
            } catch {
                XCTAssertGreaterThanOrEqual(error.line, 1)
            }
        }
        // Mutations inside comments keep the text valid, so some must pass; most must not.
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, 3_000)
    }
}

/// Small deterministic generator for the mutation test.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Validation
