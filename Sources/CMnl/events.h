// Link and address notifications (RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR) parsed into one flat
// struct per message, for NetworkEventMonitor. The attribute walk needs libmnl's callback API and
// the rtnetlink structs, neither of which Swift should touch. All functions are `culvert_mnl_`.
#ifndef CULVERT_MNL_EVENTS_H
#define CULVERT_MNL_EVENTS_H

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/// Link flags of <linux/if.h> (not included: it clashes with Glibc's <net/if.h>). Kernel ABI.
#define CULVERT_MNL_IFF_UP 0x1
#define CULVERT_MNL_IFF_RUNNING 0x40
#define CULVERT_MNL_IFF_LOWER_UP 0x10000
/// IFNAMSIZ: an interface name with its terminating NUL.
#define CULVERT_MNL_NAME_CAPACITY 16

/// What one netlink message was.
enum culvert_mnl_event_kind {
    /// Anything else (NLMSG_DONE, NLMSG_NOOP, other rtnetlink types, families other than IPv4/IPv6).
    CULVERT_MNL_EVENT_IGNORED = 0,
    CULVERT_MNL_EVENT_LINK_NEW = 1,
    CULVERT_MNL_EVENT_LINK_DELETED = 2,
    CULVERT_MNL_EVENT_ADDRESS_NEW = 3,
    CULVERT_MNL_EVENT_ADDRESS_DELETED = 4,
    /// NLMSG_OVERRUN: data was lost.
    CULVERT_MNL_EVENT_OVERRUN = 5,
    /// Too short, or an attribute of the wrong size.
    CULVERT_MNL_EVENT_MALFORMED = 6,
};

/// One parsed message. Link fields are set for LINK_*, address fields for ADDRESS_*.
struct culvert_mnl_event {
    int32_t kind;
    int32_t interface_index;
    /// ifi_flags (IFF_*).
    uint32_t link_flags;
    uint32_t mtu;
    /// 1 if IFLA_MTU was present.
    int32_t has_mtu;
    /// IFLA_IFNAME, NUL-terminated; empty if absent.
    char name[CULVERT_MNL_NAME_CAPACITY];
    /// 4 (IPv4) or 16 (IPv6) bytes of `address` are valid; 0 if the message carried none.
    uint8_t address_length;
    uint8_t prefix_length;
    uint8_t address[16];
};

/// The rtnetlink multicast groups the monitor joins.
static inline unsigned int culvert_mnl_event_groups(void) {
    return RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
}

/// Attributes of interest, collected by the callbacks below. Indexed by attribute type.
struct culvert_mnl_attributes {
    const struct nlattr *link_mtu;
    const struct nlattr *link_name;
    const struct nlattr *address;
    const struct nlattr *local;
};

static inline int culvert_mnl_link_attribute(const struct nlattr *attribute, void *data) {
    struct culvert_mnl_attributes *found = data;
    switch (mnl_attr_get_type(attribute)) {
    case IFLA_MTU:
        if (mnl_attr_validate(attribute, MNL_TYPE_U32) < 0) return MNL_CB_ERROR;
        found->link_mtu = attribute;
        break;
    case IFLA_IFNAME:
        if (mnl_attr_validate(attribute, MNL_TYPE_NUL_STRING) < 0) return MNL_CB_ERROR;
        found->link_name = attribute;
        break;
    default:
        break;
    }
    return MNL_CB_OK;
}

static inline int culvert_mnl_address_attribute(const struct nlattr *attribute, void *data) {
    struct culvert_mnl_attributes *found = data;
    switch (mnl_attr_get_type(attribute)) {
    case IFA_ADDRESS: found->address = attribute; break;
    case IFA_LOCAL: found->local = attribute; break;
    default: break;
    }
    return MNL_CB_OK;
}

static inline void culvert_mnl_parse_link(const struct nlmsghdr *message, struct culvert_mnl_event *event) {
    if (mnl_nlmsg_get_payload_len(message) < sizeof(struct ifinfomsg)) {
        event->kind = CULVERT_MNL_EVENT_MALFORMED;
        return;
    }
    const struct ifinfomsg *link = mnl_nlmsg_get_payload(message);
    struct culvert_mnl_attributes found = {0};
    if (mnl_attr_parse(message, sizeof(*link), culvert_mnl_link_attribute, &found) < MNL_CB_STOP) {
        event->kind = CULVERT_MNL_EVENT_MALFORMED;
        return;
    }
    event->kind = message->nlmsg_type == RTM_NEWLINK ? CULVERT_MNL_EVENT_LINK_NEW : CULVERT_MNL_EVENT_LINK_DELETED;
    event->interface_index = link->ifi_index;
    event->link_flags = link->ifi_flags;
    if (found.link_mtu) {
        event->mtu = mnl_attr_get_u32(found.link_mtu);
        event->has_mtu = 1;
    }
    if (found.link_name) {
        // Validated as NUL-terminated; a longer name than IFNAMSIZ would be a kernel bug, and is cut.
        strncpy(event->name, mnl_attr_get_str(found.link_name), CULVERT_MNL_NAME_CAPACITY - 1);
    }
}

static inline void culvert_mnl_parse_address(const struct nlmsghdr *message, struct culvert_mnl_event *event) {
    if (mnl_nlmsg_get_payload_len(message) < sizeof(struct ifaddrmsg)) {
        event->kind = CULVERT_MNL_EVENT_MALFORMED;
        return;
    }
    const struct ifaddrmsg *header = mnl_nlmsg_get_payload(message);
    size_t size;
    if (header->ifa_family == AF_INET) {
        size = 4;
    } else if (header->ifa_family == AF_INET6) {
        size = 16;
    } else {
        return;  // IGNORED: not a family Culvert configures
    }
    struct culvert_mnl_attributes found = {0};
    if (mnl_attr_parse(message, sizeof(*header), culvert_mnl_address_attribute, &found) < MNL_CB_STOP) {
        event->kind = CULVERT_MNL_EVENT_MALFORMED;
        return;
    }
    // IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point
    // links). IPv6: IFA_ADDRESS is the address (IFA_LOCAL appears only with a peer).
    const struct nlattr *chosen = header->ifa_family == AF_INET && found.local ? found.local : found.address;
    if (!chosen || mnl_attr_get_payload_len(chosen) != size) {
        event->kind = CULVERT_MNL_EVENT_MALFORMED;
        return;
    }
    event->kind = message->nlmsg_type == RTM_NEWADDR ? CULVERT_MNL_EVENT_ADDRESS_NEW : CULVERT_MNL_EVENT_ADDRESS_DELETED;
    event->interface_index = (int32_t)header->ifa_index;
    event->prefix_length = header->ifa_prefixlen;
    event->address_length = (uint8_t)size;
    memcpy(event->address, mnl_attr_get_payload(chosen), size);
}

/// Parses one message into `*event` (zeroed first). Never fails: unknown messages are IGNORED,
/// broken ones MALFORMED.
static inline void culvert_mnl_parse_event(const struct nlmsghdr *message, struct culvert_mnl_event *event) {
    memset(event, 0, sizeof(*event));
    switch (message->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: culvert_mnl_parse_link(message, event); break;
    case RTM_NEWADDR:
    case RTM_DELADDR: culvert_mnl_parse_address(message, event); break;
    case NLMSG_OVERRUN: event->kind = CULVERT_MNL_EVENT_OVERRUN; break;
    default: break;
    }
}

#endif
