// Parameter and reply validation against interface types.

import Foundation
import XCTest

@testable import CulvertVarlink

private let validationText = """
    interface org.example.validate

    type Options (key: string, level: ?int)
    type Color (red, green, blue)

    method Everything(
      flag: bool,
      count: int,
      ratio: float,
      name: string,
      blob: object,
      mode: (fast, slow),
      options: Options,
      color: ?Color,
      list: []int,
      map: [string]float,
      tags: [string](),
      note: ?string,
      points: ?[](x: int, y: int),
      nested: ?(inner: (deep: bool))
    ) -> (ok: bool, items: []?string)

    method Empty() -> ()

    method Optionals(a: ?int, b: ?[]string, c: ?[string]bool) -> ()

    error Failed (why: string)
    """

/// A valid call to Everything; cases below change one field of it.
private let everythingBase = """
    {"flag": true, "count": 3, "ratio": 0.5, "name": "n", "blob": {}, "mode": "fast",
     "options": {"key": "k"}, "list": [1, 2], "map": {"a": 1.5}, "tags": {"x": {}}}
    """

final class VarlinkValidatorTests: XCTestCase {
    private struct Case {
        var method: String
        var parameters: JSONValue
        /// nil: must be accepted. Otherwise the expected parameter, path and reason.
        var refusal: (parameter: String, path: String, reason: VarlinkValidationError.Reason)?
        var line: UInt
    }

    private func everything(
        _ changes: String, removing removed: [String] = [], line: UInt = #line
    ) -> JSONValue {
        guard case .object(var members) = json(everythingBase, line: line),
            case .object(let overrides) = json(changes, line: line)
        else { return .null }
        for (key, value) in overrides { members[key] = value }
        for key in removed { members[key] = nil }
        return .object(members)
    }

    private func accept(_ parameters: JSONValue, _ method: String = "Everything", line: UInt = #line) -> Case {
        Case(method: method, parameters: parameters, refusal: nil, line: line)
    }

    private func refuse(
        _ parameters: JSONValue, _ parameter: String, _ path: String, _ reason: VarlinkValidationError.Reason,
        _ method: String = "Everything", line: UInt = #line
    ) -> Case {
        Case(method: method, parameters: parameters, refusal: (parameter, path, reason), line: line)
    }

    private var cases: [Case] {
        [
            // Accepted: every type in its valid forms.
            accept(everything("{}")),
            accept(everything(#"{"color": null, "note": null, "points": null, "nested": null}"#)),
            accept(everything(#"{"color": "green", "note": "text"}"#)),
            accept(everything(#"{"ratio": 3}"#)),
            accept(everything(#"{"ratio": -2.5e10}"#)),
            accept(everything(#"{"count": -9223372036854775808}"#)),
            accept(everything(#"{"flag": false}"#)),
            accept(everything(#"{"points": []}"#)),
            accept(everything(#"{"points": [{"x": 1, "y": 2}, {"x": -1, "y": 0}]}"#)),
            accept(everything(#"{"nested": {"inner": {"deep": true}}}"#)),
            accept(everything(#"{"map": {}, "tags": {}, "list": []}"#)),
            accept(everything(#"{"tags": {"a": {}, "b": {}}}"#)),
            accept(everything(#"{"blob": {"anything": [1, "x", null, {"y": true}]}}"#)),
            accept(everything(#"{"options": {"key": "k", "level": null}}"#)),
            accept(everything(#"{"options": {"key": "", "level": 7}, "mode": "slow"}"#)),
            accept(json("{}"), "Empty"),
            accept(.null, "Empty"),
            accept(json("{}"), "Optionals"),
            accept(json(#"{"a": 1, "b": ["x"], "c": {"k": true}}"#), "Optionals"),
            accept(json(#"{"a": null, "b": [], "c": {}}"#), "Optionals"),

            // Refused: missing, null and unknown fields.
            refuse(everything("{}", removing: ["flag"]), "flag", "flag", .missingField),
            refuse(everything(#"{"flag": null}"#), "flag", "flag", .nullValue),
            refuse(everything(#"{"flga": true}"#, removing: ["flag"]), "flag", "flag", .missingField),
            refuse(everything(#"{"extra": 1}"#), "extra", "extra", .unknownField),
            refuse(json(#"{"a": 1}"#), "a", "a", .unknownField, "Empty"),
            refuse(json("[]"), "parameters", "parameters", .notAnObject),
            refuse(json(#""text""#), "parameters", "parameters", .notAnObject, "Empty"),
            // bool
            refuse(everything(#"{"flag": "true"}"#), "flag", "flag", .typeMismatch),
            refuse(everything(#"{"flag": 1}"#), "flag", "flag", .typeMismatch),
            // int: JSON integers only
            refuse(everything(#"{"count": 1.5}"#), "count", "count", .typeMismatch),
            refuse(everything(#"{"count": 1.0}"#), "count", "count", .typeMismatch),
            refuse(everything(#"{"count": "1"}"#), "count", "count", .typeMismatch),
            refuse(everything(#"{"count": true}"#), "count", "count", .typeMismatch),
            // float
            refuse(everything(#"{"ratio": "1.0"}"#), "ratio", "ratio", .typeMismatch),
            refuse(everything(#"{"ratio": false}"#), "ratio", "ratio", .typeMismatch),
            // string
            refuse(everything(#"{"name": 5}"#), "name", "name", .typeMismatch),
            refuse(everything(#"{"name": ["n"]}"#), "name", "name", .typeMismatch),
            // object
            refuse(everything(#"{"blob": []}"#), "blob", "blob", .typeMismatch),
            refuse(everything(#"{"blob": "x"}"#), "blob", "blob", .typeMismatch),
            // enum, anonymous and named
            refuse(everything(#"{"mode": "medium"}"#), "mode", "mode", .invalidEnumValue),
            refuse(everything(#"{"mode": "FAST"}"#), "mode", "mode", .invalidEnumValue),
            refuse(everything(#"{"mode": 1}"#), "mode", "mode", .typeMismatch),
            refuse(everything(#"{"color": "purple"}"#), "color", "color", .invalidEnumValue),
            // named struct
            refuse(everything(#"{"options": {}}"#), "options", "options.key", .missingField),
            refuse(everything(#"{"options": {"key": "k", "level": "x"}}"#), "options", "options.level", .typeMismatch),
            refuse(everything(#"{"options": {"key": "k", "bogus": 1}}"#), "options", "options.bogus", .unknownField),
            refuse(everything(#"{"options": "k"}"#), "options", "options", .notAnObject),
            refuse(everything(#"{"options": null}"#), "options", "options", .nullValue),
            // array
            refuse(everything(#"{"list": [1, 2, "3"]}"#), "list", "list[2]", .typeMismatch),
            refuse(everything(#"{"list": [1, null]}"#), "list", "list[1]", .nullValue),
            refuse(everything(#"{"list": {"0": 1}}"#), "list", "list", .typeMismatch),
            // dictionary
            refuse(everything(#"{"map": {"a": 1, "b": "x"}}"#), "map", #"map["b"]"#, .typeMismatch),
            refuse(everything(#"{"map": [1.5]}"#), "map", "map", .typeMismatch),
            // string set
            refuse(everything(#"{"tags": {"a": {}, "b": true}}"#), "tags", #"tags["b"]"#, .invalidSetValue),
            refuse(everything(#"{"tags": {"a": {"x": 1}}}"#), "tags", #"tags["a"]"#, .invalidSetValue),
            refuse(everything(#"{"tags": {"a": null}}"#), "tags", #"tags["a"]"#, .invalidSetValue),
            refuse(everything(#"{"tags": ["a"]}"#), "tags", "tags", .typeMismatch),
            // nested anonymous structs
            refuse(everything(#"{"points": [{"x": 1, "y": 2}, {"x": 1}]}"#), "points", "points[1].y", .missingField),
            refuse(everything(#"{"points": "x"}"#), "points", "points", .typeMismatch),
            refuse(everything(#"{"nested": {"inner": {"deep": 1}}}"#), "nested", "nested.inner.deep", .typeMismatch),
            refuse(everything(#"{"nested": {"inner": {"deep": true, "deeper": 1}}}"#), "nested", "nested.inner.deeper", .unknownField),
            // optionals inside containers
            refuse(json(#"{"b": [null]}"#), "b", "b[0]", .nullValue, "Optionals"),
            refuse(json(#"{"c": {"k": null}}"#), "c", #"c["k"]"#, .nullValue, "Optionals"),
            refuse(json(#"{"a": 1.5}"#), "a", "a", .typeMismatch, "Optionals"),
        ]
    }

    func testValidationTable() throws {
        let interface = try XCTUnwrap(parse(validationText))
        let cases = self.cases
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        for item in cases {
            do throws(VarlinkValidationError) {
                try interface.validate(parameters: item.parameters, of: item.method)
                if let refusal = item.refusal {
                    XCTFail("accepted, expected \(refusal.reason) at \(refusal.path)", line: item.line)
                }
            } catch {
                guard let refusal = item.refusal else {
                    XCTFail("refused: \(error)", line: item.line)
                    continue
                }
                XCTAssertEqual(error.parameter, refusal.parameter, "\(error)", line: item.line)
                XCTAssertEqual(error.path, refusal.path, "\(error)", line: item.line)
                XCTAssertEqual(error.reason, refusal.reason, "\(error)", line: item.line)
            }
        }
    }

    private func validationError(_ body: () throws(VarlinkValidationError) -> Void) -> VarlinkValidationError? {
        do throws(VarlinkValidationError) {
            try body()
            return nil
        } catch {
            return error
        }
    }

    func testRepliesAndErrorsAreValidatedWithTheSameRules() throws {
        let interface = try XCTUnwrap(parse(validationText))
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true, "items": ["a", null]}"#), of: "Everything")
            })
        XCTAssertNil(validationError { () throws(VarlinkValidationError) in try interface.validate(reply: .null, of: "Empty") })

        let missing = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true}"#), of: "Everything")
            })
        XCTAssertEqual(missing.parameter, "items")
        XCTAssertEqual(missing.reason, .missingField)

        let element = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true, "items": [1]}"#), of: "Everything")
            })
        XCTAssertEqual(element.path, "items[0]")
        XCTAssertEqual(element.reason, .typeMismatch)

        // Input fields are not output fields.
        let input = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"ok": true, "items": [], "flag": true}"#), of: "Everything")
            })
        XCTAssertEqual(input.parameter, "flag")
        XCTAssertEqual(input.reason, .unknownField)

        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(errorParameters: json(#"{"why": "w"}"#), of: "Failed")
            })
        let why = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(errorParameters: json("{}"), of: "Failed")
            })
        XCTAssertEqual(why.parameter, "why")
        XCTAssertEqual(why.reason, .missingField)
    }

    func testUnknownMembersAreReportedSeparately() throws {
        let interface = try XCTUnwrap(parse(validationText))
        let errors = [
            validationError { () throws(VarlinkValidationError) in try interface.validate(parameters: .null, of: "Nope") },
            validationError { () throws(VarlinkValidationError) in try interface.validate(reply: .null, of: "Options") },
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(errorParameters: .null, of: "Everything")
            },
        ]
        for error in errors {
            XCTAssertEqual(error?.reason, .unknownMember)
            XCTAssertEqual(error?.parameter, "")
        }
    }

    func testValueHelperReportsPathsRelativeToTheValue() throws {
        let interface = try XCTUnwrap(parse(validationText))
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"{"key": "k"}"#), against: .named("Options"))
            })
        let root = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json("[1]"), against: .named("Options"))
            })
        XCTAssertEqual(root.parameter, "")
        XCTAssertEqual(root.path, "")
        XCTAssertEqual(root.reason, .notAnObject)

        let element = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"[{"key": "k"}, {"key": 1}]"#), against: .array(.named("Options")))
            })
        XCTAssertEqual(element.parameter, "")
        XCTAssertEqual(element.path, "[1].key")

        let key = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"{"a\"b": "red", "c": "mauve"}"#), against: .dictionary(.named("Color")))
            })
        XCTAssertEqual(key.path, #"["c"]"#)
        XCTAssertEqual(key.reason, .invalidEnumValue)

        let quoted = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(json(#"{"a\"b": 1}"#), against: .dictionary(.string))
            })
        XCTAssertEqual(quoted.path, #"["a\"b"]"#)
        XCTAssertTrue(quoted.description.contains("expected string, found int"), quoted.description)
    }

    func testCertificationMyTypeValidates() throws {
        let interface = try XCTUnwrap(parse(referenceCertificationText))
        // The value python's certification server sends from Test09, as JSON on the wire.
        let mytype = """
            {"object": {"method": "org.varlink.certification.Test09", "parameters": {"map": {"foo": "Foo", "bar": "Bar"}}},
             "enum": "two", "struct": {"first": 1, "second": "2"}, "array": ["one", "two", "three"],
             "dictionary": {"foo": "Foo", "bar": "Bar"}, "stringset": {"one": {}, "two": {}, "three": {}},
             "nullable": null, "nullable_array_struct": null,
             "interface": {"foo": [null, {"foo": "foo", "bar": "bar"}, null, {"one": "foo", "two": "bar"}],
                           "anon": {"foo": true, "bar": false}}}
            """
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(reply: json(#"{"mytype": \#(mytype)}"#), of: "Test09")
            })
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"client_id": "c", "mytype": \#(mytype)}"#), of: "Test10")
            })
        let badEnum = mytype.replacingOccurrences(of: #"{"one": "foo", "two": "bar"}"#, with: #"{"one": "foo", "two": "qux"}"#)
        let error = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"client_id": "c", "mytype": \#(badEnum)}"#), of: "Test10")
            })
        XCTAssertEqual(error.parameter, "mytype")
        XCTAssertEqual(error.path, #"mytype.interface.foo[3]["two"]"#)
        XCTAssertEqual(error.reason, .invalidEnumValue)
    }

    func testSelfReferentialTypesStopAtTheDepthCap() throws {
        // Unreachable through the parser (a type must be a struct or enum), but constructible in code.
        let interface = VarlinkInterface(
            name: "org.example.loop", documentation: nil, typeAliases: ["Loop": .named("Loop")], methods: [:], errors: [:],
            typeNames: ["Loop"], methodNames: [], errorNames: [], memberDocumentation: [:])
        let error = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(.string("x"), against: .named("Loop"))
            })
        XCTAssertEqual(error.reason, .tooDeep)

        let undefined = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(.string("x"), against: .named("Missing"))
            })
        XCTAssertEqual(undefined.reason, .undefinedType)
    }

    func testRecursiveTypesValidateDeepButBoundedValues() throws {
        let interface = try XCTUnwrap(parse("interface org.example.tree\ntype Node (next: ?Node)\nmethod Walk(node: Node) -> ()"))
        // Nesting the JSON parser accepts is always within the validator's cap.
        var text = "null"
        for _ in 0..<(JSONParser.defaultMaximumDepth - 2) { text = #"{"next": \#(text)}"# }
        XCTAssertNil(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"node": \#(text)}"#), of: "Walk")
            })
        var broken = #"{"next": 1}"#
        for _ in 0..<3 { broken = #"{"next": \#(broken)}"# }
        let error = try XCTUnwrap(
            validationError { () throws(VarlinkValidationError) in
                try interface.validate(parameters: json(#"{"node": \#(broken)}"#), of: "Walk")
            })
        XCTAssertEqual(error.path, "node.next.next.next.next")
        XCTAssertEqual(error.reason, .notAnObject)
    }
}
