// libmnl, the minimal netlink library, for the raw netlink messages libnl does not model.
#include <libmnl/libmnl.h>
// NetworkEventMonitor's message parsing.
#include "events.h"
