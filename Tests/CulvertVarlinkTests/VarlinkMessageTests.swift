import CulvertVarlink
import XCTest

final class VarlinkMessageTests: XCTestCase {
    func decode(_ text: String) throws(VarlinkError) -> VarlinkCallMessage {
        try VarlinkCallMessage.decode(Array(text.utf8), maximumDepth: 64)
    }

    func testCallDecoding() throws {
        let call = try decode(#"{"method":"io.culvert.Manager.Watch","parameters":{"since":3},"more":true}"#)
        XCTAssertEqual(call.interface, "io.culvert.Manager")
        XCTAssertEqual(call.member, "Watch")
        XCTAssertEqual(call.parameters, ["since": 3])
        XCTAssertTrue(call.more)
        XCTAssertFalse(call.oneway)
        XCTAssertEqual(try decode(#"{"method":"a.B","parameters":null,"oneway":true}"#).parameters, [:])
    }

    func testCallRefusalsAreTyped() {
        let cases: [(String, String)] = [
            ("[]", "not_an_object"), (#"{"parameters":{}}"#, "missing_method"), (#"{"method":""}"#, "missing_method"),
            (#"{"method":1}"#, "missing_method"), (#"{"method":"a.B","more":"yes"}"#, "invalid_more"),
            (#"{"method":"a.B","oneway":1}"#, "invalid_oneway"), ("{", "unexpected_end"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try decode(text)) { error in
                XCTAssertEqual((error as? VarlinkError)?.name, "io.culvert.Varlink.InvalidMessage", text)
                XCTAssertEqual((error as? VarlinkError)?.parameters["reason"], .string(expected), text)
            }
        }
    }

    func testEncodingRoundTripsIncludingOddParameters() throws {
        for call in [
            VarlinkCallMessage(method: "a.B"), VarlinkCallMessage(method: "a.B", parameters: ["x": [1, 2]], more: true),
            VarlinkCallMessage(method: "a.B", parameters: 5, oneway: true),
        ] {
            let bytes = call.encoded()
            XCTAssertEqual(bytes.last, 0)
            XCTAssertEqual(try VarlinkCallMessage.decode(bytes.dropLast(), maximumDepth: 64), call)
        }
    }

    func testReplyFramesAndDecoding() throws {
        let frame = VarlinkReplyMessage.frame(encodedParameters: Array(#"{"a":1}"#.utf8), continues: true)
        XCTAssertEqual(String(decoding: frame.dropLast(), as: UTF8.self), #"{"continues":true,"parameters":{"a":1}}"#)
        let reply = try VarlinkReplyMessage.decode(frame.dropLast(), maximumDepth: 64)
        XCTAssertEqual(reply, VarlinkReplyMessage(parameters: ["a": 1], continues: true))
        let error = VarlinkReplyMessage.frame(error: .invalidParameter("name"))
        let decoded = try VarlinkReplyMessage.decode(error.dropLast(), maximumDepth: 64)
        XCTAssertEqual(decoded.error, "org.varlink.service.InvalidParameter")
        XCTAssertEqual(decoded.parameters, ["parameter": "name"])
        XCTAssertThrowsError(try VarlinkReplyMessage.decode(Array(#"{"parameters":[1]}"#.utf8), maximumDepth: 64))
    }
}
