// See CCulvert.h. Hand-written because these kernel interfaces are macros or need struct layouts
// that Swift's importer does not expose; each wrapper is one syscall (or a fixed short sequence).
#define _GNU_SOURCE
#include "CCulvert.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(sizeof(pid_t) == sizeof(int32_t), "pid_t is 32 bits");
_Static_assert(sizeof(uid_t) == sizeof(uint32_t), "uid_t is 32 bits");
_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");

int culvert_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int culvert_peer_groups(int fd, uint32_t *groups, int32_t *count) {
    socklen_t len = (socklen_t)(*count) * sizeof(gid_t);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
        if (errno == ERANGE) *count = (int32_t)(len / sizeof(gid_t));
        return -1;
    }
    *count = (int32_t)(len / sizeof(gid_t));
    return 0;
}

int culvert_peer_pidfd(int fd) {
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, CULVERT_SO_PEERPIDFD, &pidfd, &len) < 0) return -1;
    return pidfd;
}

int culvert_accept(int listener) {
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

static int fill_address(struct sockaddr_un *addr, const char *path, socklen_t *len) {
    size_t n = strlen(path);
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof(addr->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(addr->sun_path, path, n);
    if (path[0] == '@') {
        addr->sun_path[0] = '\0';  // abstract namespace: no trailing NUL counted
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int culvert_unix_listen(const char *path, int backlog, int nonblocking) {
    struct sockaddr_un addr;
    socklen_t len;
    if (fill_address(&addr, path, &len) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int culvert_unix_connect(const char *path, int nonblocking) {
    struct sockaddr_un addr;
    socklen_t len;
    if (fill_address(&addr, path, &len) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&addr, len);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (nonblocking && culvert_set_nonblocking(fd, 1) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int culvert_is_unix_listener(int fd) {
    int type = 0, listening = 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -1;
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) return -1;
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    return (type == SOCK_STREAM && listening && ss.ss_family == AF_UNIX) ? 1 : 0;
}

int culvert_notify_send(const char *path, const void *buf, size_t len) {
    struct sockaddr_un addr;
    socklen_t alen;
    if (fill_address(&addr, path, &alen) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t n = sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

int culvert_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}

int culvert_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, flags);
}

ssize_t culvert_send_nosignal(int fd, const void *buf, size_t len) {
    return send(fd, buf, len, MSG_NOSIGNAL);
}

ssize_t culvert_getrandom(void *buf, size_t len) {
    return getrandom(buf, len, 0);
}

int culvert_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

int culvert_malloc_fix_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

int culvert_malloc_trim(void) {
    return malloc_trim(0);
}

size_t culvert_malloc_bytes_in_use(void) {
    return mallinfo2().uordblks;
}

// TUN devices. <linux/if.h> is included here only, never in a module map (it clashes with Glibc's
// <net/if.h> there).
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

_Static_assert(CULVERT_TUNSETIFF == TUNSETIFF, "TUNSETIFF matches the kernel's");
_Static_assert(CULVERT_IFF_TUN == IFF_TUN, "IFF_TUN matches the kernel's");
_Static_assert(CULVERT_IFF_NO_PI == IFF_NO_PI, "IFF_NO_PI matches the kernel's");
_Static_assert(CULVERT_IFF_MULTI_QUEUE == IFF_MULTI_QUEUE, "IFF_MULTI_QUEUE matches the kernel's");
_Static_assert(CULVERT_IFF_VNET_HDR == IFF_VNET_HDR, "IFF_VNET_HDR matches the kernel's");
_Static_assert(CULVERT_INTERFACE_NAME_MAX == IFNAMSIZ - 1, "interface names fit IFNAMSIZ");

int culvert_tun_create(const char *name, int flags, char *name_out) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (name != NULL) {
        if (strlen(name) > CULVERT_INTERFACE_NAME_MAX) {
            errno = ENAMETOOLONG;
            return -1;
        }
        strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    }
    request.ifr_flags = (short)flags;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    memcpy(name_out, request.ifr_name, IFNAMSIZ);
    name_out[IFNAMSIZ - 1] = '\0';
    return fd;
}

_Static_assert(CULVERT_TUN_F_CSUM == TUN_F_CSUM, "TUN_F_CSUM matches the kernel's");
_Static_assert(CULVERT_TUN_F_TSO4 == TUN_F_TSO4, "TUN_F_TSO4 matches the kernel's");
_Static_assert(CULVERT_TUN_F_TSO6 == TUN_F_TSO6, "TUN_F_TSO6 matches the kernel's");
_Static_assert(CULVERT_TUN_F_TSO_ECN == TUN_F_TSO_ECN, "TUN_F_TSO_ECN matches the kernel's");
#ifdef TUN_F_USO4
_Static_assert(CULVERT_TUN_F_USO4 == TUN_F_USO4, "TUN_F_USO4 matches the kernel's");
_Static_assert(CULVERT_TUN_F_USO6 == TUN_F_USO6, "TUN_F_USO6 matches the kernel's");
#endif

int culvert_tun_set_offload(int fd, unsigned int flags) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags);
}

int culvert_tun_set_vnet_header_size(int fd, int size) {
    return ioctl(fd, TUNSETVNETHDRSZ, &size);
}

// Network namespaces (for tests that must never touch the host's).
#include <sched.h>

int culvert_unshare_network_namespace(void) {
    return unshare(CLONE_NEWNET);
}

int32_t culvert_thread_id(void) {
    return (int32_t)gettid();
}

#include <sys/syscall.h>

// I/O priority: no glibc wrapper, and the constants are in <linux/ioprio.h>, kept out of Swift.
#define CULVERT_IOPRIO_WHO_PROCESS 1
#define CULVERT_IOPRIO_CLASS_SHIFT 13
#define CULVERT_IOPRIO_CLASS_IDLE 3

int culvert_set_thread_io_idle(void) {
    return (int)syscall(SYS_ioprio_set, CULVERT_IOPRIO_WHO_PROCESS, (int)gettid(), CULVERT_IOPRIO_CLASS_IDLE << CULVERT_IOPRIO_CLASS_SHIFT);
}

int culvert_thread_io_class(void) {
    long value = syscall(SYS_ioprio_get, CULVERT_IOPRIO_WHO_PROCESS, (int)gettid());
    return value < 0 ? -1 : (int)(value >> CULVERT_IOPRIO_CLASS_SHIFT);
}

// struct sched_attr as linux/sched/types.h defines it (glibc 2.36 declares neither it nor a wrapper).
struct culvert_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};
#define CULVERT_SCHED_OTHER 0
#define CULVERT_SCHED_FLAG_RESET_ON_FORK 0x01

static int culvert_set_scheduling(int nice, uint64_t slice_ns, uint64_t flags) {
    struct culvert_sched_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.sched_policy = CULVERT_SCHED_OTHER;
    attr.sched_flags = flags;
    attr.sched_nice = nice;
    attr.sched_runtime = slice_ns;  // SCHED_OTHER: the EEVDF slice (Linux 6.12+; older kernels ignore it)
    return (int)syscall(SYS_sched_setattr, 0, &attr, 0);
}

int culvert_thread_enter_control_plane(int nice, uint64_t slice_ns) {
    static __thread int entered;
    if (entered) return 0;
    entered = 1;  // one attempt per thread: a refused call is not retried on every block
    if (culvert_set_scheduling(nice, slice_ns, CULVERT_SCHED_FLAG_RESET_ON_FORK) == 0) return 1;
    if (errno != EPERM) return -1;
    errno = 0;
    int current = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (current == -1 && errno != 0) return -1;
    return culvert_set_scheduling(current, slice_ns, CULVERT_SCHED_FLAG_RESET_ON_FORK) == 0 ? 2 : -1;
}

int culvert_reset_thread_scheduling(void) {
    // Raising the nice value and dropping a custom slice need no privilege.
    if (culvert_set_scheduling(0, 0, 0) < 0 && setpriority(PRIO_PROCESS, 0, 0) < 0) return -1;
    struct rlimit none = {0, 0};
    return setrlimit(RLIMIT_NICE, &none);
}

int culvert_thread_scheduling(int *nice, uint64_t *slice_ns) {
    struct culvert_sched_attr attr;
    memset(&attr, 0, sizeof(attr));
    if (syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) < 0) return -1;
    *nice = attr.sched_nice;
    *slice_ns = attr.sched_runtime;
    return 0;
}

int culvert_write_back_range(int fd, int64_t offset, int64_t length, int wait) {
    unsigned int flags = SYNC_FILE_RANGE_WRITE;
    if (wait) flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    return sync_file_range(fd, offset, length, flags);
}

// Provider processes (culvert_spawn_provider): spawn.c.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int culvert_pidfd_open(int32_t pid) {
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0) return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int culvert_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int culvert_dup2(int from, int to) { return dup2(from, to); }

int culvert_memfd_create(const char *name) { return (int)syscall(SYS_memfd_create, name, 1u /* MFD_CLOEXEC */); }

int culvert_execve(const char *path, char *const argv[], char *const envp[]) { return execve(path, argv, envp); }

int culvert_pidfd_wait(int pidfd, int nohang, int *how, int *value) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED | (nohang ? WNOHANG : 0), NULL) < 0) return -1;
    if (info.si_pid == 0) {
        *how = 0;
        *value = 0;
        return 0;
    }
    switch (info.si_code) {
    case CLD_EXITED:
        *how = 1;
        break;
    case CLD_DUMPED:
        *how = 3;
        break;
    default:
        *how = 2;
        break;
    }
    *value = info.si_status;
    return 0;
}

int culvert_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int culvert_unshare_descriptor_table(void) {
    return unshare(CLONE_FILES);
}

#include <spawn.h>

int culvert_spawn_helper(const char *path, char *const argv[], char *const envp[], int32_t *pid_out, int *pidfd_out,
                         int *stderr_fd_out) {
    int error_pipe[2] = {-1, -1};
    if (pipe2(error_pipe, O_CLOEXEC) < 0) return errno;
    if (fcntl(error_pipe[0], F_SETFL, O_NONBLOCK) < 0) {
        int saved = errno;
        close(error_pipe[0]);
        close(error_pipe[1]);
        return saved;
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        close(error_pipe[0]);
        close(error_pipe[1]);
        return rc;
    }
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        close(error_pipe[0]);
        close(error_pipe[1]);
        return rc;
    }
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, error_pipe[1], 2);
    // Everything else culvertd holds (listener, TUNs, channels) must not reach the helper, even a
    // descriptor some library opened without O_CLOEXEC.
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &none);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    if (rc == 0) rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(error_pipe[1]);
    if (rc != 0) {
        close(error_pipe[0]);
        return rc;
    }
    // The child is ours and unreaped (even if it has already exited), so its pid cannot be reused
    // before this pidfd refers to it.
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        int saved = errno;
        kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        close(error_pipe[0]);
        return saved;
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    *stderr_fd_out = error_pipe[0];
    return 0;
}
