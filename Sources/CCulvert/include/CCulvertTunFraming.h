// How culvertd learns and fixes a TUN's framing: TUNGETIFF (its flags, IFF_VNET_HDR among them, and
// its name) and IFF_TUN_EXCL (create, never attach to an interface that already exists). Kept apart
// from CCulvert.h so the TUN creation shim stays one syscall per function.
#ifndef CCULVERT_TUN_FRAMING_H
#define CCULVERT_TUN_FRAMING_H

/// IFF_TUN_EXCL (<linux/if_tun.h>, pinned in tunframing.c): TUNSETIFF fails with EBUSY if an interface of
/// that name exists, instead of attaching to it.
#define CULVERT_IFF_TUN_EXCL 0x8000

/// ioctl(TUNGETIFF): the flags of the TUN `fd` is attached to (IFF_TUN, IFF_NO_PI, IFF_VNET_HDR, ...)
/// into `flags_out` and its name (NUL-terminated, CULVERT_INTERFACE_NAME_MAX + 1 bytes) into `name_out`.
/// Returns 0, or -1 with errno set (EBADFD: not attached to an interface; ENOTTY/EINVAL: not a TUN).
int culvert_tun_get_interface(int fd, int *flags_out, char *name_out);

#endif
