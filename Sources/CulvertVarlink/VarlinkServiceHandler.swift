// VarlinkServiceHandler: org.varlink.service, which every varlink server provides.

/// `GetInfo` and `GetInterfaceDescription`, answered from the server's registrations.
final class VarlinkServiceHandler: VarlinkHandler {
    weak var server: VarlinkServer?

    var interfaceDescription: String { VarlinkBundledInterfaces.orgVarlinkService }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) {
        guard let server else { return }
        switch call.message.member {
        case "GetInfo":
            replier.reply([
                "vendor": .string(server.info.vendor), "product": .string(server.info.product),
                "version": .string(server.info.version), "url": .string(server.info.url),
                "interfaces": .array(server.interfaceNames.map { .string($0) }),
            ])
        case "GetInterfaceDescription":
            let name = call.parameters["interface"]?.stringValue ?? ""
            guard let text = server.interfaceText(name) else {
                replier.fail(.interfaceNotFound(name))
                return
            }
            replier.reply(["description": .string(text)])
        default:
            replier.fail(.methodNotImplemented(call.message.method))
        }
    }
}
