// Opening one entry of a directory without following a link or crossing a mount point
// (openat2 with RESOLVE_* flags has no glibc wrapper), for removing trees a provider can write,
// and connecting to a socket a provider made without waiting on it.
#ifndef CCULVERT_BENEATH_H
#define CCULVERT_BENEATH_H

/// Opens `name` (one path component) relative to `dirfd` with `flags | O_NOFOLLOW | O_CLOEXEC`,
/// refusing any symlink (ELOOP) and any mount point, bind mounts included (EXDEV): openat2 with
/// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV. On a kernel
/// without openat2 (before 5.6, ENOSYS) it falls back to openat, and the caller's st_dev check is
/// the only mount-point guard. Returns the descriptor, or -1 with errno set.
int culvert_open_beneath(int dirfd, const char *name, int flags);

/// openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC): a handle on the entry itself (a symlink
/// stays a symlink), for fstat and for naming exactly that inode as /proc/self/fd/N. O_PATH is a
/// GNU extension Swift's Glibc module does not import.
int culvert_open_path(int dirfd, const char *name);

/// Connects a new AF_UNIX stream socket (close-on-exec) to `path` without waiting: a listener
/// whose backlog is full fails at once with EAGAIN instead of blocking the caller until it
/// accepts. The returned socket is blocking. Returns the descriptor, or -1 with errno set.
int culvert_unix_connect_without_waiting(const char *path);

#endif
