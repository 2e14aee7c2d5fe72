// The kill switch's nftables table (KillSwitchFirewall) as netlink batches built with libnftnl, and
// the reading of the kernel's answers. Pure: building and parsing touch no socket; Swift sends and
// receives through its syscall choke point. Plain C types only, so Swift never sees libnftnl's.
#ifndef CCULVERT_NFTABLES_H
#define CCULVERT_NFTABLES_H

#include <stddef.h>
#include <stdint.h>

/// NETLINK_NETFILTER, for the socket Swift opens.
#define CULVERT_NFT_NETLINK_PROTOCOL 12
/// NETLINK_CAP_ACK (SOL_NETLINK option, Linux 4.3): acks carry only the request's header.
#define CULVERT_NFT_NETLINK_CAP_ACK 10

/// One IPv4 destination prefix the chain accepts (network order; host bits zero).
struct culvert_nft_prefix {
    uint8_t address[4];
    uint8_t length;
};

/// What the output chain accepts before it drops IPv4.
struct culvert_nft_ruleset {
    /// The table's name (inet family), NUL-terminated.
    const char *table;
    /// The base chain's name (hook output, priority filter, policy accept).
    const char *chain;
    /// SO_MARK of the provider's protected sockets.
    uint32_t mark;
    const struct culvert_nft_prefix *allowed;
    size_t allowed_count;
};

/// Builds one batch that creates the table and chain if missing and replaces the chain's rules
/// (flush + add, committed atomically by the kernel) into `buffer`. Messages take sequence
/// numbers from `sequence` on; the last message inside the batch asks for an ack (the kernel
/// reports failing messages anyway), and `*acks` is set to how many acks to wait for (1). Returns the length, or -1/EMSGSIZE if `capacity` is too small,
/// -1/ENOMEM if libnftnl cannot allocate, -1/EINVAL for a prefix longer than 32.
long culvert_nft_build_replace(
    void *buffer, size_t capacity, uint32_t sequence, const struct culvert_nft_ruleset *ruleset, uint32_t *acks);

/// Builds one batch that deletes the table (and with it the chain and rules). One ack.
long culvert_nft_build_delete(void *buffer, size_t capacity, uint32_t sequence, const char *table);

/// Builds a GETTABLE request for `table` (inet), with an ack.
long culvert_nft_build_get_table(void *buffer, size_t capacity, uint32_t sequence, const char *table);

/// Reads one received datagram: counts the acks (NLMSG_ERROR with error 0) into `*acks`, the
/// NEWTABLE answers into `*tables`, and stores the first error's errno (positive) into `*error`
/// (left alone if none). Returns 0, or -1/EBADMSG for a truncated message.
int culvert_nft_read_answers(const void *buffer, size_t length, uint32_t *acks, uint32_t *tables, int32_t *error);

#endif
