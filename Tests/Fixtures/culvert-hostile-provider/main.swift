// culvert-hostile-provider: the attacker of issue 11's acceptance test. A signed provider (its own
// bundle and identifier) that, beside a victim session, tries what a hostile extension would and
// reports each attempt on stdout as `ATTACK <name> <blocked|SUCCEEDED> <detail>`, then `ATTACKS DONE`.
// Modes and options: HostileProvider.swift.

import CulvertProvider

PacketTunnelMain.run(HostileProvider.self)
