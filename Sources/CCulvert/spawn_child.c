// The child's side of culvert_spawn_provider (see CCulvertSpawn.h; the parent's side is spawn.c).
// Hand-written: no library does this sequence. Between clone/fork and execve the child makes only
// async-signal-safe calls (raw syscalls, no malloc, no locks): the parent is multi-threaded.
#define _GNU_SOURCE
#include "spawn_internal.h"
#include "CCulvert.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#endif
#ifndef PR_CAP_AMBIENT_CLEAR_ALL
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/// Highest capability number tried when emptying the bounding set (PR_CAPBSET_DROP stops with EINVAL).
#define SPAWN_MAX_CAPABILITY 63
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

/// Reports (step, errno) to the parent and exits. Never returns. (write and exit_group are allowed by
/// the provider filter, so this works after step 4 too.)
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

/// write(fd, "0", 1): moves the calling process into the cgroup whose cgroup.procs `fd` is.
static int spawn_write_zero(int fd) {
    ssize_t n;
    do n = write(fd, "0", 1);
    while (n < 0 && errno == EINTR);
    if (n == 1) return 0;
    if (n >= 0) errno = EIO;
    return -1;
}

/// Step 1: joins the cgroup2 directory (fork fallback only) and every cgroup v1 file, still as root
/// and before any descriptor is moved (the caller's descriptors are still on their numbers).
static void spawn_child_place(const struct culvert_spawn_containment *containment, int join_cgroup, int report_fd) {
    if (join_cgroup) {
        int procs = openat(containment->cgroup_dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (procs < 0 || spawn_write_zero(procs) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_JOIN_CGROUP);
        close(procs);
    }
    for (int i = 0; i < containment->attach_count; i++) {
        if (spawn_write_zero(containment->attach_fds[i]) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_ATTACH_CGROUP_V1);
    }
}

/// Step 4: installs the filter and sends its listener to the parent (message (0, 0) with SCM_RIGHTS).
/// From here on only allowed syscalls: sendmsg, close, write (a failure report), exit_group.
static void spawn_child_filter(const struct culvert_spawn_containment *containment, int report_fd) {
    struct sock_fprog program = {(unsigned short)containment->filter_instructions, (struct sock_filter *)containment->filter};
    int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
    if (listener < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SECCOMP);
    int32_t message[2] = {0, 0};
    struct iovec vector = {message, sizeof(message)};
    union {
        char bytes[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr header;
    memset(&header, 0, sizeof(header));
    header.msg_iov = &vector;
    header.msg_iovlen = 1;
    header.msg_control = control.bytes;
    header.msg_controllen = sizeof(control.bytes);
    struct cmsghdr *rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(rights), &listener, sizeof(int));
    ssize_t sent;
    do sent = sendmsg(report_fd, &header, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)sizeof(message)) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SEND_LISTENER);
    close(listener);  // close-on-exec anyway; the parent has its own reference now
}

__attribute__((noreturn)) void spawn_child(const char *path, char *const argv[], char **envp, char *listen_pid, uint32_t uid,
                                           uint32_t gid, int sources[5], int report_fd,
                                           const struct culvert_spawn_containment *containment, int join_cgroup) {
    // The report socket must not sit on a number about to be replaced.
    if (report_fd < SPAWN_FIRST_CLOSED_FD) {
        int moved = fcntl(report_fd, F_DUPFD_CLOEXEC, SPAWN_FIRST_CLOSED_FD);
        if (moved < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_DESCRIPTORS);
        report_fd = moved;
    }
    if (containment != NULL) spawn_child_place(containment, join_cgroup, report_fd);
    if (setsid() < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SETSID);
    // The provider starts at the default scheduling — nice 0, the kernel's slice — whatever the
    // culvertd thread that forked it runs at (its control threads run at a raised priority), and with
    // RLIMIT_NICE 0 (culvertd's unit may raise it for itself), so it cannot raise its own priority.
    if (culvert_reset_thread_scheduling() < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SCHEDULING);

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
    if (containment != NULL && containment->filter != NULL) spawn_child_filter(containment, report_fd);
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) < 0) spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_SIGNALS);
    execve(path, argv, envp);
    spawn_child_fail(report_fd, CULVERT_SPAWN_STEP_EXEC);
}

