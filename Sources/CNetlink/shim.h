// libnl-route-3, imported for CulvertSystem only. <linux/if.h> is deliberately not
// included here: it clashes with Glibc's <net/if.h> in the same module graph.
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
