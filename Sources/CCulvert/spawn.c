// The parent's side of culvert_spawn_provider (see CCulvertSpawn.h; the child's side is spawn_child.c).
// Hand-written: no library clones into a cgroup and collects a seccomp listener from the child.
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/// clone3 flags (<linux/sched.h>, pinned: that header clashes with glibc's <sched.h>).
#define SPAWN_CLONE_PIDFD 0x00001000ULL
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

/// struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7).
struct spawn_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
_Static_assert(sizeof(struct spawn_clone_args) == 88, "CLONE_ARGS_SIZE_VER2");

static void close_if_open(int fd) {
    if (fd >= 0) close(fd);
}

static int spawn_fail(int step, int code, int *failed_step, int *failed_errno) {
    *failed_step = step;
    *failed_errno = code;
    errno = code;
    return -1;
}

/// Milliseconds on CLOCK_MONOTONIC.
static int64_t spawn_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/// Creates the child: clone3 into the cgroup where asked and available, else fork. Returns the pid
/// (0 in the child) with *pidfd set (-1 after fork) and *join_in_child set when the child must join
/// the cgroup itself.
static pid_t spawn_create(const struct culvert_spawn_containment *containment, int *pidfd, int *join_in_child) {
    *pidfd = -1;
    *join_in_child = 0;
    int has_cgroup = containment != NULL && containment->cgroup_dir_fd >= 0;
    if (has_cgroup && containment->try_clone_into_cgroup) {
        struct spawn_clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = SPAWN_CLONE_INTO_CGROUP | SPAWN_CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)containment->cgroup_dir_fd;
        pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        // ENOSYS: no clone3; E2BIG: no `cgroup` field; EINVAL: no CLONE_INTO_CGROUP. Anything else is real.
        if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) return pid;
        *pidfd = -1;
    }
    *join_in_child = has_cgroup;
    return fork();
}

/// Waits for the child's end of the report socket: 0 once it is closed (execve happened), else the
/// failed step with *code set. A listener message stores the descriptor in *listener.
static int spawn_await_exec(int report, int expect_listener, int timeout_ms, int *listener, int *code) {
    int64_t deadline = spawn_now_ms() + timeout_ms;
    for (;;) {
        int64_t remaining = deadline - spawn_now_ms();
        struct pollfd waiter = {report, POLLIN, 0};
        int ready = remaining > 0 ? poll(&waiter, 1, (int)remaining) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            *code = ready == 0 ? ETIMEDOUT : errno;
            return CULVERT_SPAWN_STEP_HANDSHAKE;
        }
        int32_t message[2] = {0, 0};
        struct iovec vector = {message, sizeof(message)};
        union {
            char bytes[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } control;
        struct msghdr header;
        memset(&header, 0, sizeof(header));
        header.msg_iov = &vector;
        header.msg_iovlen = 1;
        header.msg_control = control.bytes;
        header.msg_controllen = sizeof(control.bytes);
        ssize_t n = recvmsg(report, &header, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return 0;
        int received = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&header); n > 0 && c != NULL; c = CMSG_NXTHDR(&header, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (received < 0) received = fd;
                else close(fd);
            }
        }
        int wellformed = n == (ssize_t)sizeof(message) && (header.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) == 0;
        if (wellformed && message[0] == 0 && received >= 0 && expect_listener && *listener < 0) {
            *listener = received;
            continue;
        }
        close_if_open(received);
        if (wellformed && message[0] != 0) {
            *code = message[1];
            return message[0];
        }
        *code = n < 0 ? errno : EPROTO;
        return CULVERT_SPAWN_STEP_HANDSHAKE;
    }
}

int culvert_spawn_provider(const char *path, char *const argv[], char *const extra_env[], uint32_t uid,
                           uint32_t gid, int tun_fd, int channel_fd, int handshake_timeout_ms,
                           const struct culvert_spawn_containment *containment, int32_t *pid_out, int *pidfd_out,
                           int *output_fd_out, int *listener_fd_out, int *placement_out, int *failed_step,
                           int *failed_errno) {
    if (containment != NULL &&
        (containment->attach_count < 0 || containment->attach_count > CULVERT_SPAWN_MAX_ATTACH ||
         (containment->attach_count > 0 && containment->attach_fds == NULL) ||
         (containment->filter != NULL &&
          (containment->filter_instructions <= 0 || containment->filter_instructions > CULVERT_SPAWN_MAX_FILTER_INSTRUCTIONS)))) {
        return spawn_fail(CULVERT_SPAWN_STEP_FORK, EINVAL, failed_step, failed_errno);  // the caller checks first
    }
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
            return spawn_fail(CULVERT_SPAWN_STEP_EXEC, E2BIG, failed_step, failed_errno);
        }
        envp[count++] = extra_env[i];
    }
    envp[count] = NULL;

    int output[2] = {-1, -1}, report[2] = {-1, -1};
    int null_fd = -1;
    if (pipe2(output, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, report) < 0 ||
        (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || fcntl(output[0], F_SETFL, O_NONBLOCK) < 0) {
        int saved = errno;
        close_if_open(output[0]);
        close_if_open(output[1]);
        close_if_open(report[0]);
        close_if_open(report[1]);
        close_if_open(null_fd);
        return spawn_fail(CULVERT_SPAWN_STEP_PIPE, saved, failed_step, failed_errno);
    }

    // Block every signal across the clone so no handler of this process runs in the child before the
    // child has reset the dispositions.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int pidfd = -1, join_in_child = 0;
    pid_t pid = spawn_create(containment, &pidfd, &join_in_child);
    if (pid == 0) {
        int sources[5] = {null_fd, output[1], output[1], tun_fd, channel_fd};
        spawn_child(path, argv, envp, listen_pid, uid, gid, sources, report[1], containment, join_in_child);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(output[1]);
    close(report[1]);
    close(null_fd);
    if (pid < 0) {
        close(output[0]);
        close(report[0]);
        return spawn_fail(CULVERT_SPAWN_STEP_FORK, fork_errno, failed_step, failed_errno);
    }

    // After fork the child is ours and unreaped, so its pid cannot be reused before this pidfd refers to it.
    int step = 0, code = 0, listener = -1;
    if (pidfd < 0) pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        step = CULVERT_SPAWN_STEP_PIDFD_OPEN;
        code = errno;
    } else {
        int expect_listener = containment != NULL && containment->filter != NULL;
        step = spawn_await_exec(report[0], expect_listener, handshake_timeout_ms, &listener, &code);
        if (step == 0 && expect_listener && listener < 0) {
            step = CULVERT_SPAWN_STEP_HANDSHAKE;  // exec'd without sending the listener: cannot happen
            code = EPROTO;
        }
    }
    close(report[0]);
    if (step != 0) {
        // The child has exited or is killed here: reap it so no zombie is left.
        kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        close_if_open(pidfd);
        close_if_open(listener);
        close(output[0]);
        return spawn_fail(step, code, failed_step, failed_errno);
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    *output_fd_out = output[0];
    *listener_fd_out = listener;
    *placement_out = containment == NULL || containment->cgroup_dir_fd < 0 ? CULVERT_SPAWN_PLACED_NONE
                     : join_in_child                                       ? CULVERT_SPAWN_PLACED_ATTACHED_IN_CHILD
                                                                           : CULVERT_SPAWN_PLACED_CLONE_INTO_CGROUP;
    return 0;
}
