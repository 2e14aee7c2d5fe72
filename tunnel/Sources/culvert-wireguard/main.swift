// culvert-wireguard: the WireGuard packet-tunnel provider (issue 14). culvertd runs it for every
// session of a profile of extension io.culvert.wireguard; see tunnel/README.md.

import CulvertProvider

PacketTunnelMain.run(WireGuardProvider.self)
