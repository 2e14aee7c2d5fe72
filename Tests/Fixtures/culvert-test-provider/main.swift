// culvert-test-provider: the test fixture provider (plaintext IP over UDP). Run by culvertd it is a
// packet-tunnel provider; run as `culvert-test-provider peer …` (root, in another network
// namespace) it is the far end of the tunnel.

import CulvertProvider

if CommandLine.arguments.dropFirst().first == "peer" { TunnelPeer.main() } else { PacketTunnelMain.run(TestProvider.self) }
