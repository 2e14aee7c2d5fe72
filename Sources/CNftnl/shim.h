// libnftnl, nftables' own userspace library (on libmnl), for the kill switch's firewall table.
// Only the C shim (Sources/CCulvert/nftables.c) uses it; Swift sees CCulvertNftables.h.
#include <libnftnl/table.h>
