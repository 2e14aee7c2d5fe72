// CCulvert: the C shim. Only what Swift cannot import directly lives here:
// macros (CMSG_*), variadic or struct-heavy kernel interfaces (ucred, TUNSETIFF) and constants
// newer than Glibc's headers. Every function is prefixed `culvert_` and returns -1 with errno set
// on failure, like the syscall it wraps.
#ifndef CCULVERT_H
#define CCULVERT_H

#include <stdint.h>
#include <sys/types.h>

#include "CCulvertBeneath.h"
#include "CCulvertDatagram.h"
#include "CCulvertDescriptors.h"
#include "CCulvertSpawn.h"
#include "CCulvertContainment.h"
#include "CCulvertTunFraming.h"
#include "CCulvertOffload.h"
#include "CCulvertNftables.h"

/// SO_PEERPIDFD (Linux 6.5+). Absent from Debian 12's Glibc headers.
#define CULVERT_SO_PEERPIDFD 77
/// TUNSETIFF = _IOW('T', 202, int); the macro does not import into Swift.
#define CULVERT_TUNSETIFF 0x400454caUL

/// Peer credentials of a connected AF_UNIX socket (SO_PEERCRED).
int culvert_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
/// Supplementary groups of the peer (SO_PEERGROUPS). On entry *count is the capacity of `groups`;
/// on success it is the number written. Returns -1/ERANGE with *count set to the needed size.
int culvert_peer_groups(int fd, uint32_t *groups, int32_t *count);
/// A pidfd for the peer process (SO_PEERPIDFD); -1/ENOPROTOOPT on kernels without it.
int culvert_peer_pidfd(int fd);
/// accept4 with SOCK_CLOEXEC|SOCK_NONBLOCK.
int culvert_accept(int listener);
/// socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|flags) + bind + listen. Unlinks nothing.
int culvert_unix_listen(const char *path, int backlog, int nonblocking);
/// socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) + connect. Returns the fd.
int culvert_unix_connect(const char *path, int nonblocking);
/// 1 if `fd` is a listening AF_UNIX stream socket, 0 if not, -1 on error.
int culvert_is_unix_listener(int fd);
/// Send `len` bytes on a datagram AF_UNIX socket to `path` (abstract if path starts with '@').
int culvert_notify_send(const char *path, const void *buf, size_t len);
/// Set or clear O_NONBLOCK.
int culvert_set_nonblocking(int fd, int on);
/// Set or clear FD_CLOEXEC.
int culvert_set_cloexec(int fd, int on);
/// send() with MSG_NOSIGNAL: a closed peer is EPIPE, never SIGPIPE. Blocks only on blocking fds.
ssize_t culvert_send_nosignal(int fd, const void *buf, size_t len);

/// Fixes glibc's mmap threshold (disabling its dynamic growth) so large buffers are returned to
/// the kernel when freed. Returns 1 on success.
int culvert_malloc_fix_mmap_threshold(int bytes);
/// malloc_trim(0): gives free heap pages back to the kernel. Returns 1 if memory was released.
int culvert_malloc_trim(void);
/// mallinfo2().uordblks: bytes of heap allocated and not yet freed (tests of allocation-free paths).
size_t culvert_malloc_bytes_in_use(void);
/// libFuzzer's entry for programs that keep their own main (only linked into fuzz builds).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
/// getrandom(2) without flags (blocks only before the pool is initialised at boot).
ssize_t culvert_getrandom(void *buf, size_t len);
/// prctl(PR_SET_NAME, name): names the calling thread (the kernel keeps the first 15 bytes).
int culvert_set_thread_name(const char *name);

/// TUN interface flags for culvert_tun_create (values of <linux/if_tun.h>, pinned in shim.c).
#define CULVERT_IFF_TUN 0x0001
#define CULVERT_IFF_NO_PI 0x1000
#define CULVERT_IFF_MULTI_QUEUE 0x0100
#define CULVERT_IFF_VNET_HDR 0x4000
/// Longest interface name, without the terminating NUL (IFNAMSIZ - 1).
#define CULVERT_INTERFACE_NAME_MAX 15
/// open("/dev/net/tun", O_RDWR|O_CLOEXEC) + ioctl(TUNSETIFF) with `flags` and `name` (NULL or "" lets the
/// kernel choose). On success returns the fd and writes the kernel's name (NUL-terminated) into `name_out`,
/// which holds CULVERT_INTERFACE_NAME_MAX + 1 bytes. Returns -1 with errno set (the fd is closed).
int culvert_tun_create(const char *name, int flags, char *name_out);

/// TUNSETOFFLOAD flags (values of <linux/if_tun.h>, pinned in shim.c): what the kernel may hand a TUN
/// with IFF_VNET_HDR unfinished — checksums, TCP super-packets (v4, v6, with ECN) and UDP ones (USO, 6.2+).
#define CULVERT_TUN_F_CSUM 0x01
#define CULVERT_TUN_F_TSO4 0x02
#define CULVERT_TUN_F_TSO6 0x04
#define CULVERT_TUN_F_TSO_ECN 0x08
#define CULVERT_TUN_F_USO4 0x20
#define CULVERT_TUN_F_USO6 0x40
/// ioctl(TUNSETOFFLOAD, flags): EINVAL for a flag this kernel does not know.
int culvert_tun_set_offload(int fd, unsigned int flags);
/// ioctl(TUNSETVNETHDRSZ, &size): the virtio_net_hdr length (10, or 12 with num_buffers); EINVAL under 10.
int culvert_tun_set_vnet_header_size(int fd, int size);

/// unshare(CLONE_NEWNET): moves the calling thread (only) into a new, empty network namespace.
int culvert_unshare_network_namespace(void);
/// gettid(): the calling thread's kernel id (for /proc/<pid>/task/<tid>/ns/net).
int32_t culvert_thread_id(void);
/// ioprio_set(IOPRIO_WHO_PROCESS, gettid(), IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)): the calling
/// thread's disk I/O is served only when no other I/O waits (schedulers that honour priorities).
int culvert_set_thread_io_idle(void);
/// The calling thread's I/O priority class (ioprio_get; 0 = none set, 3 = idle), or -1 with errno.
int culvert_thread_io_class(void);
/// sched_setattr(0, {SCHED_OTHER, nice, sched_runtime = slice_ns}, 0) for the calling thread, once per
/// thread (a thread-local flag; later calls return 0 at once), with SCHED_FLAG_RESET_ON_FORK so a child
/// forked from it starts at nice >= 0 with the default slice. If the nice value is refused (EPERM: no
/// CAP_SYS_NICE, RLIMIT_NICE too low) the slice is set alone at the thread's current nice. Returns 1 if
/// both applied, 2 if only the slice, 0 if already done, -1 with errno if neither.
int culvert_thread_enter_control_plane(int nice, uint64_t slice_ns);
/// Back to the defaults for a new process (async-signal-safe, for a forked child): nice 0 and the
/// kernel's slice (sched_setattr, or setpriority where that is refused), and RLIMIT_NICE 0 (no raising
/// it again). Returns 0, or -1 with errno.
int culvert_reset_thread_scheduling(void);
/// The calling thread's sched_attr (sched_getattr): its nice value and slice in nanoseconds (0: the
/// kernel's default). Returns 0, or -1 with errno.
int culvert_thread_scheduling(int *nice, uint64_t *slice_ns);
/// sync_file_range(fd, offset, length, flags): start (and with wait, finish) writeback of a range.
int culvert_write_back_range(int fd, int64_t offset, int64_t length, int wait);

// Provider processes: CCulvertSpawn.h (spawning) and CCulvertContainment.h (seccomp notifications, dumpability).

/// waitid(P_PIDFD, pidfd, WEXITED [|WNOHANG]). Returns 0 with *how = 0 when not exited yet (nohang),
/// 1 exited (*value = exit code), 2 killed by signal *value, 3 killed by *value with a core dump.
int culvert_pidfd_wait(int pidfd, int nohang, int *how, int *value);
/// pidfd_send_signal(pidfd, sig, NULL, 0).
int culvert_pidfd_send_signal(int pidfd, int sig);
/// pidfd_open(pid, 0), made close-on-exec: a handle on a process that is not our child (re-adoption).
int culvert_pidfd_open(int32_t pid);
/// pipe2(fds, O_CLOEXEC). fds[0] is the read end.
int culvert_pipe(int fds[2]);
/// dup2(from, to) for a fixed target number (the new descriptor is not close-on-exec).
int culvert_dup2(int from, int to);
/// memfd_create(name, MFD_CLOEXEC): an anonymous file (the state a re-exec carries).
int culvert_memfd_create(const char *name);
/// execve(path, argv, envp); returns only on failure.
int culvert_execve(const char *path, char *const argv[], char *const envp[]);
// Root helper commands (HelperCommand.swift), e.g. resolvectl. Unlike providers they keep culvertd's
// credentials; posix_spawn (vfork semantics, so the parent resumes only after execve or its failure)
// with a new session, default signal dispositions and an empty mask, stdin and stdout on /dev/null,
// stderr to a pipe, every descriptor from 3 up closed, and exactly `envp` as the environment.

/// Spawns `path` (absolute) with `argv` and `envp` (both NULL-terminated). On success returns 0 with the
/// child's pid, a pidfd for it (O_CLOEXEC) and the read end of its stderr pipe (O_CLOEXEC|O_NONBLOCK).
/// On failure returns the errno (posix_spawn's convention: ENOENT/EACCES for an unusable executable)
/// with nothing left open and no child left behind.
int culvert_spawn_helper(const char *path, char *const argv[], char *const envp[], int32_t *pid_out, int *pidfd_out,
                         int *stderr_fd_out);
/// unshare(CLONE_FILES): gives the calling thread a private copy of the descriptor table (tests use it to
/// put descriptors on fixed numbers without disturbing the rest of the process).
int culvert_unshare_descriptor_table(void);

#endif
