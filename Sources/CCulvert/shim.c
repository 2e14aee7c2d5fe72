// See CCulvert.h. Hand-written because these kernel interfaces are macros or need struct layouts
// that Swift's importer does not expose; each wrapper is one syscall (or a fixed short sequence).
#define _GNU_SOURCE
#include "CCulvert.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
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

int culvert_malloc_fix_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

int culvert_malloc_trim(void) {
    return malloc_trim(0);
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

// Network namespaces (for tests that must never touch the host's).
#include <sched.h>

int culvert_unshare_network_namespace(void) {
    return unshare(CLONE_NEWNET);
}

int32_t culvert_thread_id(void) {
    return (int32_t)gettid();
}

// Provider processes. See CCulvert.h. Between fork and execve the child makes only
// async-signal-safe calls (raw syscalls, no malloc, no locks): the parent is multi-threaded.
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#endif
#ifndef PR_CAP_AMBIENT_CLEAR_ALL
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/// The first descriptor number the child does not keep (0–2 stdio, 3 TUN, 4 channel).
#define SPAWN_FIRST_CLOSED_FD 5
/// Highest capability number tried when emptying the bounding set (PR_CAPBSET_DROP stops with EINVAL).
#define SPAWN_MAX_CAPABILITY 63
/// "LISTEN_PID=" plus the digits of a pid and a NUL.
#define SPAWN_LISTEN_PID_BYTES 32
/// Highest signal number of the kernel (_NSIG - 1 on Linux).
#define SPAWN_MAX_SIGNAL 64

/// The kernel's struct sigaction for rt_sigaction (asm-generic layout with sa_restorer, as on x86_64
/// and arm64): glibc's differs.
struct spawn_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/// Reports (step, errno) to the parent and exits. Never returns.
__attribute__((noreturn)) static void spawn_child_fail(int report_fd, int step) {
    int32_t report[2] = {step, errno};
    ssize_t ignored = write(report_fd, report, sizeof(report));  // nothing else to do if the parent is gone
    (void)ignored;
    _exit(127);
}

/// Marks every descriptor >= SPAWN_FIRST_CLOSED_FD close-on-exec by walking /proc/self/fd with raw
/// getdents64 (opendir allocates). For kernels without close_range (before 5.9/5.11).
static int spawn_cloexec_by_listing(void) {
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    char buffer[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buffer, sizeof(buffer));
        if (n < 0) {
            int saved = errno;
            close(dir);
            errno = saved;
            return -1;
        }
        if (n == 0) break;
        for (long offset = 0; offset < n;) {
            // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
            unsigned short reclen;
            memcpy(&reclen, buffer + offset + 16, sizeof(reclen));
            const char *name = buffer + offset + 19;
            int fd = 0, digits = 0;
            for (const char *c = name; *c >= '0' && *c <= '9'; c++, digits++) fd = fd * 10 + (*c - '0');
            if (digits > 0 && name[digits] == '\0' && fd >= SPAWN_FIRST_CLOSED_FD && fd != dir) {
                int flags = fcntl(fd, F_GETFD);
                if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
            }
            offset += reclen;
        }
    }
    close(dir);
    return 0;
}

/// Writes "LISTEN_PID=<pid>" into `out` (SPAWN_LISTEN_PID_BYTES bytes) without snprintf.
static void spawn_format_listen_pid(char *out, pid_t pid) {
    static const char prefix[] = "LISTEN_PID=";
    memcpy(out, prefix, sizeof(prefix) - 1);
    char digits[16];
    int count = 0;
    unsigned int value = (unsigned int)pid;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0 && count < (int)sizeof(digits));
    size_t at = sizeof(prefix) - 1;
    while (count > 0) out[at++] = digits[--count];
    out[at] = '\0';
}

/// The child's side: never returns.
__attribute__((noreturn)) static void spawn_child(const char *path, char *const argv[], char **envp, char *listen_pid, uint32_t uid, uint32_t gid,
                        int sources[5], int report_fd) {
    // The report pipe must not sit on a number about to be replaced.
    if (report_fd < SPAWN_FIRST_CLOSED_FD) {
        int moved = fcntl(report_fd, F_DUPFD_CLOEXEC, SPAWN_FIRST_CLOSED_FD);
        if (moved < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_DESCRIPTORS);
        report_fd = moved;
    }
    if (setsid() < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SETSID);

    // Every signal to its default (ignored ones stay ignored across execve otherwise). The mask, all
    // blocked by the parent around fork, is emptied just before execve. Raw rt_sigaction, because
    // glibc's sigaction refuses its internal signals 32 and 33, which can arrive here ignored too.
    // EINVAL (SIGKILL, SIGSTOP) is expected.
    struct spawn_kernel_sigaction default_action;
    memset(&default_action, 0, sizeof(default_action));
    default_action.handler = SIG_DFL;
    for (int sig = 1; sig <= SPAWN_MAX_SIGNAL; sig++) {
        if (syscall(SYS_rt_sigaction, sig, &default_action, NULL, sizeof(default_action.mask)) < 0 && errno != EINVAL) {
            spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SIGNALS);
        }
    }

    // Descriptors: copy every source above 4 first, so a source already sitting on 0–4 (even on
    // another source's target) survives, then dup2 onto 0–4 (dup2 clears FD_CLOEXEC).
    int copies[5];
    for (int target = 0; target < 5; target++) {
        copies[target] = fcntl(sources[target], F_DUPFD_CLOEXEC, SPAWN_FIRST_CLOSED_FD);
        if (copies[target] < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_DESCRIPTORS);
    }
    for (int target = 0; target < 5; target++) {
        if (dup2(copies[target], target) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_DESCRIPTORS);
    }
    // Everything from 5 up (the copies, the report pipe, whatever the daemon had open) goes at execve.
    if (syscall(SYS_close_range, SPAWN_FIRST_CLOSED_FD, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        if (errno != ENOSYS && errno != EINVAL) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_CLOSE_DESCRIPTORS);
        if (spawn_cloexec_by_listing() < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_CLOSE_DESCRIPTORS);
    }
    if (chdir("/") < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_CHDIR);

    // Capabilities that can never come back: the bounding set (needs CAP_SETPCAP; without it the
    // set stays, which no_new_privs and the uid change make harmless) and the ambient set.
    for (int cap = 0; cap <= SPAWN_MAX_CAPABILITY; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL || errno == EPERM) break;
            spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_BOUNDING_SET);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_AMBIENT_SET);
    }

    // Identity, by raw syscalls: glibc's wrappers broadcast to all threads, and this child has one.
    if (syscall(SYS_setgroups, 0, NULL) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SETGROUPS);
    if (syscall(SYS_setresgid, gid, gid, gid) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SETRESGID);
    if (syscall(SYS_setresuid, uid, uid, uid) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SETRESUID);
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (syscall(SYS_getresuid, &ruid, &euid, &suid) < 0 || syscall(SYS_getresgid, &rgid, &egid, &sgid) < 0) {
        spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_VERIFY_IDS);
    }
    long groups = syscall(SYS_getgroups, 0, NULL);
    if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid || groups != 0) {
        errno = EPERM;
        spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_VERIFY_IDS);
    }

    // The uid change emptied the permitted and effective sets (no keep-caps); empty the inheritable
    // set too, and check that all three are empty.
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_CAPABILITIES);
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    if (syscall(SYS_capget, &header, data) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_CAPABILITIES);
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        if (data[i].effective != 0 || data[i].permitted != 0 || data[i].inheritable != 0) {
            errno = EPERM;
            spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_CAPABILITIES);
        }
    }

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_NO_NEW_PRIVS);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
        errno = EPERM;
        spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_NO_NEW_PRIVS);
    }

    spawn_format_listen_pid(listen_pid, getpid());
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SIGNALS);
    execve(path, argv, envp);
    spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_EXEC);
}

static void close_if_open(int fd) {
    if (fd >= 0) close(fd);
}

int culvert_spawn_provider(const char *path, char *const argv[], char *const extra_env[], uint32_t uid,
                           uint32_t gid, int tun_fd, int channel_fd, int handshake_timeout_ms, int32_t *pid_out,
                           int *pidfd_out, int *output_fd_out, int *failed_step, int *failed_errno) {
    // The environment is assembled here, before fork: the child only fills in LISTEN_PID.
    char listen_pid[SPAWN_LISTEN_PID_BYTES];
    memset(listen_pid, 0, sizeof(listen_pid));
    char path_variable[] = "PATH=/usr/bin:/bin";
    char listen_fds[] = "LISTEN_FDS=2";
    char listen_fdnames[] = "LISTEN_FDNAMES=tun:channel";
    char *envp[4 + CULVERT_SPAWN_MAX_EXTRA_ENV + 1];
    int count = 0;
    envp[count++] = path_variable;
    envp[count++] = listen_fds;
    envp[count++] = listen_fdnames;
    envp[count++] = listen_pid;
    for (int i = 0; extra_env != NULL && extra_env[i] != NULL; i++) {
        if (i >= CULVERT_SPAWN_MAX_EXTRA_ENV) {  // the caller checks first; this keeps envp in bounds
            *failed_step = CULVERT_SPAWN_STEP_EXEC;
            *failed_errno = E2BIG;
            errno = E2BIG;
            return -1;
        }
        envp[count++] = extra_env[i];
    }
    envp[count] = NULL;

    int output[2] = {-1, -1}, report[2] = {-1, -1};
    int null_fd = -1;
    if (pipe2(output, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0 ||
        (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || fcntl(output[0], F_SETFL, O_NONBLOCK) < 0) {
        int saved = errno;
        close_if_open(output[0]);
        close_if_open(output[1]);
        close_if_open(report[0]);
        close_if_open(report[1]);
        close_if_open(null_fd);
        *failed_step = CULVERT_SPAWN_STEP_PIPE;
        *failed_errno = saved;
        errno = saved;
        return -1;
    }

    // Block every signal across fork so no handler of this process runs in the child before the
    // child has reset the dispositions.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = fork();
    if (pid == 0) {
        int sources[5] = {null_fd, output[1], output[1], tun_fd, channel_fd};
        spawn_child(path, argv, envp, listen_pid, uid, gid, sources, report[1]);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(output[1]);
    close(report[1]);
    close(null_fd);
    if (pid < 0) {
        close(output[0]);
        close(report[0]);
        *failed_step = CULVERT_SPAWN_STEP_FORK;
        *failed_errno = fork_errno;
        errno = fork_errno;
        return -1;
    }

    // The child is ours and unreaped, so its pid cannot be reused before this pidfd refers to it.
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int step = 0, code = 0;
    if (pidfd < 0) {
        step = CULVERT_SPAWN_STEP_PIDFD_OPEN;
        code = errno;
        kill(pid, SIGKILL);
    } else {
        // EOF on the report pipe: execve happened (the pipe was close-on-exec). A report: a step failed.
        struct pollfd waiter = {report[0], POLLIN, 0};
        int ready;
        do ready = poll(&waiter, 1, handshake_timeout_ms);
        while (ready < 0 && errno == EINTR);
        if (ready <= 0) {
            step = CULVERT_SPAWN_STEP_HANDSHAKE;
            code = ready == 0 ? ETIMEDOUT : errno;
            kill(pid, SIGKILL);
        } else {
            int32_t message[2] = {0, 0};
            ssize_t n;
            do n = read(report[0], message, sizeof(message));
            while (n < 0 && errno == EINTR);
            if (n == (ssize_t)sizeof(message)) {
                step = message[0];
                code = message[1];
            } else if (n != 0) {
                step = CULVERT_SPAWN_STEP_HANDSHAKE;
                code = n < 0 ? errno : EPROTO;
                kill(pid, SIGKILL);
            }
        }
    }
    close(report[0]);
    if (step != 0) {
        // The child has exited or was just killed: reap it so no zombie is left.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        close_if_open(pidfd);
        close(output[0]);
        *failed_step = step;
        *failed_errno = code;
        errno = code;
        return -1;
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    *output_fd_out = output[0];
    return 0;
}

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
