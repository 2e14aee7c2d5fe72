// The kill switch's nftables batches, built with libnftnl (nftables' own library; the issue asks
// for the firewall through it, not the nft CLI), and the parsing of the kernel's answers. No
// socket here: Swift sends and receives through Syscall (KillSwitchFirewall).
//
// The chain, in nft's words:
//   table inet T { chain C { type filter hook output priority filter; policy accept;
//     meta oiftype loopback accept; meta mark M accept; meta oifkind "tun" accept;
//     meta nfproto ipv4 ip daddr P accept ...; meta nfproto ipv4 drop } }
#include "CCulvertNftables.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>

/// Room every message gets before it is built (the largest, a prefix rule, is under 400 bytes;
/// libnftnl does not bound its writes, so this check is what does).
#define CULVERT_NFT_MESSAGE_ROOM 1024
/// ARPHRD_LOOPBACK (<linux/if_arp.h>, not included: it clashes with Glibc's <net/if.h>). Kernel ABI.
#define CULVERT_NFT_ARPHRD_LOOPBACK 772
/// Offset of the destination address in the IPv4 header.
#define CULVERT_NFT_IPV4_DADDR_OFFSET 16

/// A buffer being filled with netlink messages.
struct culvert_nft_writer {
    char *buffer;
    size_t capacity;
    size_t used;
    uint32_t sequence;
    /// Whether the next message asks for an ack (errors are reported either way).
    int ack_next;
    uint32_t acks;
};

/// Where the next message goes, or NULL (errno EMSGSIZE) if it might not fit.
static char *culvert_nft_next(struct culvert_nft_writer *writer) {
    if (writer->capacity - writer->used < CULVERT_NFT_MESSAGE_ROOM) {
        errno = EMSGSIZE;
        return NULL;
    }
    return writer->buffer + writer->used;
}

static void culvert_nft_commit(struct culvert_nft_writer *writer, const struct nlmsghdr *message) {
    writer->used += MNL_ALIGN(message->nlmsg_len);
    writer->sequence++;
}

static int culvert_nft_batch_edge(struct culvert_nft_writer *writer, int begin) {
    char *at = culvert_nft_next(writer);
    if (!at) return -1;
    struct nlmsghdr *message = begin ? nftnl_batch_begin(at, writer->sequence) : nftnl_batch_end(at, writer->sequence);
    culvert_nft_commit(writer, message);
    return 0;
}

/// Starts a message of `type` inside the batch; it asks for an ack if `ack_next` is set. The
/// kernel reports every failing message and sends the acks only once the batch is committed or
/// aborted, so one ack on the last message says the whole batch is done. (An ack for each of
/// ~260 messages overflows the socket's receive buffer: ENOBUFS, measured.)
static struct nlmsghdr *culvert_nft_header(struct culvert_nft_writer *writer, uint16_t type, uint16_t flags) {
    char *at = culvert_nft_next(writer);
    if (!at) return NULL;
    if (writer->ack_next) {
        flags |= NLM_F_ACK;
        writer->acks++;
    }
    return nftnl_nlmsg_build_hdr(at, type, NFPROTO_INET, flags, writer->sequence);
}

static int culvert_nft_add_table(struct culvert_nft_writer *writer, const char *name, uint16_t type, uint16_t flags) {
    struct nftnl_table *table = nftnl_table_alloc();
    if (!table) return -1;
    nftnl_table_set_str(table, NFTNL_TABLE_NAME, name);
    nftnl_table_set_u32(table, NFTNL_TABLE_FAMILY, NFPROTO_INET);
    struct nlmsghdr *message = culvert_nft_header(writer, type, flags);
    if (message) {
        nftnl_table_nlmsg_build_payload(message, table);
        culvert_nft_commit(writer, message);
    }
    nftnl_table_free(table);
    return message ? 0 : -1;
}

static int culvert_nft_add_chain(struct culvert_nft_writer *writer, const struct culvert_nft_ruleset *ruleset) {
    struct nftnl_chain *chain = nftnl_chain_alloc();
    if (!chain) return -1;
    nftnl_chain_set_str(chain, NFTNL_CHAIN_TABLE, ruleset->table);
    nftnl_chain_set_str(chain, NFTNL_CHAIN_NAME, ruleset->chain);
    nftnl_chain_set_str(chain, NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(chain, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
    nftnl_chain_set_s32(chain, NFTNL_CHAIN_PRIO, 0);  // NF_IP_PRI_FILTER
    nftnl_chain_set_u32(chain, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    struct nlmsghdr *message = culvert_nft_header(writer, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
    if (message) {
        nftnl_chain_nlmsg_build_payload(message, chain);
        culvert_nft_commit(writer, message);
    }
    nftnl_chain_free(chain);
    return message ? 0 : -1;
}

/// Appends `meta KEY` into register 1.
static int culvert_nft_meta(struct nftnl_rule *rule, uint32_t key) {
    struct nftnl_expr *expr = nftnl_expr_alloc("meta");
    if (!expr) return -1;
    nftnl_expr_set_u32(expr, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(expr, NFTNL_EXPR_META_DREG, NFT_REG_1);
    nftnl_rule_add_expr(rule, expr);
    return 0;
}

/// Appends `register 1 == data`.
static int culvert_nft_equals(struct nftnl_rule *rule, const void *data, uint32_t length) {
    struct nftnl_expr *expr = nftnl_expr_alloc("cmp");
    if (!expr) return -1;
    nftnl_expr_set_u32(expr, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(expr, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(expr, NFTNL_EXPR_CMP_DATA, data, length);
    nftnl_rule_add_expr(rule, expr);
    return 0;
}

static int culvert_nft_verdict(struct nftnl_rule *rule, int verdict) {
    struct nftnl_expr *expr = nftnl_expr_alloc("immediate");
    if (!expr) return -1;
    nftnl_expr_set_u32(expr, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(expr, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
    nftnl_rule_add_expr(rule, expr);
    return 0;
}

/// `meta nfproto ipv4 ip daddr PREFIX`: load, mask (if not /32), compare.
static int culvert_nft_ipv4_destination(struct nftnl_rule *rule, const struct culvert_nft_prefix *prefix) {
    uint8_t ipv4 = NFPROTO_IPV4;
    if (culvert_nft_meta(rule, NFT_META_NFPROTO) < 0 || culvert_nft_equals(rule, &ipv4, sizeof(ipv4)) < 0) return -1;
    struct nftnl_expr *payload = nftnl_expr_alloc("payload");
    if (!payload) return -1;
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_OFFSET, CULVERT_NFT_IPV4_DADDR_OFFSET);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_LEN, 4);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_rule_add_expr(rule, payload);
    if (prefix->length < 32) {
        uint8_t mask[4] = {0};
        uint8_t zero[4] = {0};
        for (unsigned bit = 0; bit < prefix->length; bit++) mask[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
        struct nftnl_expr *bitwise = nftnl_expr_alloc("bitwise");
        if (!bitwise) return -1;
        nftnl_expr_set_u32(bitwise, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(bitwise, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(bitwise, NFTNL_EXPR_BITWISE_LEN, 4);
        nftnl_expr_set(bitwise, NFTNL_EXPR_BITWISE_MASK, mask, sizeof(mask));
        nftnl_expr_set(bitwise, NFTNL_EXPR_BITWISE_XOR, zero, sizeof(zero));
        nftnl_rule_add_expr(rule, bitwise);
    }
    return culvert_nft_equals(rule, prefix->address, 4);
}

/// The rules' matches, by index: 0 loopback, 1 mark, 2 TUN, 3.. prefixes, last the IPv4 drop.
static int culvert_nft_fill_rule(
    struct nftnl_rule *rule, const struct culvert_nft_ruleset *ruleset, size_t index, size_t count) {
    static const char tun_kind[4] = "tun";  // with its NUL: matches exactly "tun"
    if (index == 0) {
        uint16_t loopback = CULVERT_NFT_ARPHRD_LOOPBACK;
        if (culvert_nft_meta(rule, NFT_META_OIFTYPE) < 0 || culvert_nft_equals(rule, &loopback, sizeof(loopback)) < 0) return -1;
    } else if (index == 1) {
        if (culvert_nft_meta(rule, NFT_META_MARK) < 0 || culvert_nft_equals(rule, &ruleset->mark, sizeof(ruleset->mark)) < 0) return -1;
    } else if (index == 2) {
        if (culvert_nft_meta(rule, NFT_META_OIFKIND) < 0 || culvert_nft_equals(rule, tun_kind, sizeof(tun_kind)) < 0) return -1;
    } else if (index + 1 < count) {
        if (culvert_nft_ipv4_destination(rule, &ruleset->allowed[index - 3]) < 0) return -1;
    } else {
        uint8_t ipv4 = NFPROTO_IPV4;
        if (culvert_nft_meta(rule, NFT_META_NFPROTO) < 0 || culvert_nft_equals(rule, &ipv4, sizeof(ipv4)) < 0) return -1;
        return culvert_nft_verdict(rule, NF_DROP);
    }
    return culvert_nft_verdict(rule, NF_ACCEPT);
}

/// One rule message; `flush` makes it the DELRULE that empties the chain instead.
static int culvert_nft_add_rule(
    struct culvert_nft_writer *writer, const struct culvert_nft_ruleset *ruleset, size_t index, size_t count, int flush) {
    struct nftnl_rule *rule = nftnl_rule_alloc();
    if (!rule) return -1;
    nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, ruleset->table);
    nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, ruleset->chain);
    nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
    int result = flush ? 0 : culvert_nft_fill_rule(rule, ruleset, index, count);
    struct nlmsghdr *message = NULL;
    if (result == 0) {
        message = flush ? culvert_nft_header(writer, NFT_MSG_DELRULE, 0)
                        : culvert_nft_header(writer, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
    }
    if (message) {
        nftnl_rule_nlmsg_build_payload(message, rule);
        culvert_nft_commit(writer, message);
    }
    nftnl_rule_free(rule);
    return message ? 0 : -1;
}

long culvert_nft_build_replace(
    void *buffer, size_t capacity, uint32_t sequence, const struct culvert_nft_ruleset *ruleset, uint32_t *acks) {
    for (size_t i = 0; i < ruleset->allowed_count; i++) {
        if (ruleset->allowed[i].length > 32) {
            errno = EINVAL;
            return -1;
        }
    }
    struct culvert_nft_writer writer = {.buffer = buffer, .capacity = capacity, .sequence = sequence};
    size_t count = ruleset->allowed_count + 4;  // loopback, mark, TUN, prefixes, drop
    if (culvert_nft_batch_edge(&writer, 1) < 0) return -1;
    if (culvert_nft_add_table(&writer, ruleset->table, NFT_MSG_NEWTABLE, NLM_F_CREATE) < 0) return -1;
    if (culvert_nft_add_chain(&writer, ruleset) < 0) return -1;
    if (culvert_nft_add_rule(&writer, ruleset, 0, count, 1) < 0) return -1;
    for (size_t index = 0; index < count; index++) {
        writer.ack_next = index + 1 == count;
        if (culvert_nft_add_rule(&writer, ruleset, index, count, 0) < 0) return -1;
    }
    if (culvert_nft_batch_edge(&writer, 0) < 0) return -1;
    *acks = writer.acks;
    return (long)writer.used;
}

long culvert_nft_build_delete(void *buffer, size_t capacity, uint32_t sequence, const char *table) {
    struct culvert_nft_writer writer = {.buffer = buffer, .capacity = capacity, .sequence = sequence, .ack_next = 1};
    if (culvert_nft_batch_edge(&writer, 1) < 0) return -1;
    if (culvert_nft_add_table(&writer, table, NFT_MSG_DELTABLE, 0) < 0) return -1;
    if (culvert_nft_batch_edge(&writer, 0) < 0) return -1;
    return (long)writer.used;
}

long culvert_nft_build_get_table(void *buffer, size_t capacity, uint32_t sequence, const char *table) {
    struct culvert_nft_writer writer = {.buffer = buffer, .capacity = capacity, .sequence = sequence, .ack_next = 1};
    if (culvert_nft_add_table(&writer, table, NFT_MSG_GETTABLE, 0) < 0) return -1;
    return (long)writer.used;
}

int culvert_nft_read_answers(const void *buffer, size_t length, uint32_t *acks, uint32_t *tables, int32_t *error) {
    const struct nlmsghdr *message = buffer;
    int remaining = (int)length;
    while (mnl_nlmsg_ok(message, remaining)) {  // bounded: each step consumes at least a header
        if (message->nlmsg_type == NLMSG_ERROR) {
            if (mnl_nlmsg_get_payload_len(message) < sizeof(struct nlmsgerr)) {
                errno = EBADMSG;
                return -1;
            }
            const struct nlmsgerr *answer = mnl_nlmsg_get_payload(message);
            if (answer->error == 0) {
                (*acks)++;
            } else if (*error == 0) {
                *error = -answer->error;
            }
        } else if (message->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) {
            (*tables)++;
        }
        message = mnl_nlmsg_next(message, &remaining);
    }
    if (remaining != 0) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}
