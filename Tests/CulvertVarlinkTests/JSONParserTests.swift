import XCTest

@testable import CulvertVarlink

final class JSONParserTests: XCTestCase {
    func parse(_ text: String, depth: Int = 64) throws -> JSONValue { try JSONParser.parse(Array(text.utf8), maximumDepth: depth) }

    func reason(_ bytes: [UInt8], depth: Int = 64) -> JSONParseError.Reason? {
        do {
            _ = try JSONParser.parse(bytes, maximumDepth: depth)
            return nil
        } catch {
            return error.reason
        }
    }

    func testValues() throws {
        XCTAssertEqual(try parse(#"{"a":[1,-2,3.5,1e3,true,false,null,"x"]}"#), ["a": [1, -2, 3.5, 1000.0, true, false, nil, "x"]])
        XCTAssertEqual(try parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try parse("-9223372036854775808"), .int(Int64.min))
        XCTAssertEqual(try parse("9223372036854775808"), .double(9223372036854775808))
        XCTAssertEqual(try parse("1.0"), .double(1))
        XCTAssertEqual(try parse(" \n\t{ } "), [:])
        XCTAssertEqual(try parse(#""\u00e9\ud83d\ude00\n\"\\\/""#), .string("é😀\n\"\\/"))
    }

    func testIntegersStayDistinctFromFloatsAndBools() throws {
        XCTAssertEqual(try parse("1").typeName, "int")
        XCTAssertEqual(try parse("1.5").typeName, "float")
        XCTAssertEqual(try parse("true").typeName, "bool")
        XCTAssertEqual(try parse("1").doubleValue, 1.0)
        XCTAssertNil(try parse("1.5").intValue)
    }

    func testRefusals() {
        let cases: [(String, JSONParseError.Reason)] = [
            ("", .unexpectedEnd), ("{", .unexpectedEnd), ("[1,", .unexpectedEnd), (#"{"a" 1}"#, .unexpectedByte),
            ("[1 2]", .unexpectedByte), ("01", .trailingData), ("1.", .invalidNumber), ("-", .invalidNumber), ("1e", .invalidNumber),
            ("1e999", .invalidNumber), (#""\x""#, .invalidEscape), (#""\ud800""#, .invalidEscape), (#""\udc00""#, .invalidEscape),
            ("\"a\u{01}\"", .controlCharacterInString), (#"{"a":1,"a":2}"#, .duplicateKey), ("nul", .unexpectedEnd),
            ("nulx", .unexpectedByte),
            ("[1]x", .trailingData), ("{1:2}", .unexpectedByte), ("'a'", .unexpectedByte), ("[,]", .unexpectedByte),
        ]
        for (text, expected) in cases { XCTAssertEqual(reason(Array(text.utf8)), expected, text) }
        XCTAssertEqual(reason([0x22, 0xFF, 0x22]), .invalidUTF8)
        XCTAssertEqual(reason([0x22, 0xED, 0xA0, 0x80, 0x22]), .invalidUTF8, "encoded surrogate")
        XCTAssertEqual(reason([0x22, 0xC0, 0xAF, 0x22]), .invalidUTF8, "overlong")
    }

    func testDepthLimitIsEnforcedWithoutRecursingFurther() {
        XCTAssertNil(reason(Array((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8)))
        XCTAssertEqual(reason(Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8)), .tooDeep)
        // A million opening brackets must fail fast, not overflow the stack.
        XCTAssertEqual(reason(Array(repeating: UInt8(ascii: "["), count: 1_000_000)), .tooDeep)
        XCTAssertEqual(reason(Array(#"{"a":{"b":[1]}}"#.utf8), depth: 2), .tooDeep)
    }

    func testWriterIsCanonicalAndRoundTrips() throws {
        let value: JSONValue = ["b": [1, 2.5, "q\"\\\n\u{01}é"], "a": nil, "c": ["z": true, "y": false]]
        XCTAssertEqual(value.jsonString, #"{"a":null,"b":[1,2.5,"q\"\\\n\u0001é"],"c":{"y":false,"z":true}}"#)
        XCTAssertEqual(try JSONParser.parse(value.serialized()), value)
    }
}
