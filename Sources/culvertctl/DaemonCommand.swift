// culvertctl daemon: the group of commands about culvertd itself.

import ArgumentParser

extension Culvertctl {
    struct DaemonCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "daemon",
            abstract: "Act on culvertd itself: re-execute it in place.",
            discussion: """
                `culvertctl ping` and `culvertctl status` show the running daemon; the commands here \
                change it. Every one needs root.

                EXAMPLES
                  culvertctl daemon reexec
                  culvertctl daemon reexec --binary /usr/libexec/culvert/culvertd.new
                """,
            subcommands: [Reexec.self])

        /// Lets global options go here too (`culvertctl daemon --json reexec`).
        @OptionGroup var global: GlobalOptions
    }
}
