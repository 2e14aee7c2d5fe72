// CCulvertSpawn: starting a provider process (ProviderSpawn.swift). Hand-written: no library forks
// into a cgroup, drops credentials, installs a seccomp filter and hands the filter's listener back.
#ifndef CCULVERT_SPAWN_H
#define CCULVERT_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

// culvert_spawn_provider creates the child with clone3(CLONE_INTO_CGROUP | CLONE_PIDFD) when a cgroup2
// directory is given (else, or where the kernel lacks it, fork) and, in the child, makes only
// async-signal-safe raw syscalls before execve, in this order:
//   1. placement: after a fork fallback, "0" written to <cgroup dir>/cgroup.procs; then "0" written to
//      every cgroup v1 `cgroup.procs` in attach_fds (all before anything else, still as root);
//   2. new session, default signal dispositions, stdin from /dev/null, stdout+stderr to a pipe,
//      fd 3 = tun_fd, fd 4 = channel_fd, every other fd close-on-exec, cwd "/";
//   3. bounding and ambient capabilities dropped, no supplementary groups, the given gid/uid
//      (verified), no capabilities left (verified), PR_SET_NO_NEW_PRIVS (verified);
//   4. the seccomp filter (if any) with SECCOMP_FILTER_FLAG_NEW_LISTENER; the listener is sent to the
//      parent over the report socket (SCM_RIGHTS) and closed, the signal mask emptied, execve.
// After step 4 the child calls only sendmsg, close, rt_sigprocmask and execve: the filter must allow
// them (nobody answers a notification until the parent has the listener).
// The environment is PATH, LISTEN_FDS=2, LISTEN_FDNAMES=tun:channel, LISTEN_PID=<child pid> and
// `extra_env`. PR_SET_PDEATHSIG is never set: providers outlive a crashed daemon.
//
// The report channel is a SOCK_SEQPACKET socketpair (close-on-exec). Each message is int32 (step,
// errno): a failed step (the child then exits and is reaped), or step 0 carrying the listener as
// SCM_RIGHTS. End of file means execve succeeded (the child's end closed on exec). Passing the
// listener this way, before execve, means the provider never holds it, and nothing has to reach
// into the child (pidfd_getfd would need the child to wait and ptrace access to it).

/// The most caller-given environment entries culvert_spawn_provider accepts.
#define CULVERT_SPAWN_MAX_EXTRA_ENV 64
/// The most cgroup v1 `cgroup.procs` files the child joins.
#define CULVERT_SPAWN_MAX_ATTACH 8
/// Longest seccomp program, in instructions (BPF_MAXINSNS).
#define CULVERT_SPAWN_MAX_FILTER_INSTRUCTIONS 4096
/// Steps of culvert_spawn_provider, reported in *failed_step. 1–4 happen in the parent, the rest in the child.
#define CULVERT_SPAWN_STEP_PIPE 1
#define CULVERT_SPAWN_STEP_FORK 2
#define CULVERT_SPAWN_STEP_PIDFD_OPEN 3
#define CULVERT_SPAWN_STEP_HANDSHAKE 4
#define CULVERT_SPAWN_STEP_SETSID 10
#define CULVERT_SPAWN_STEP_SIGNALS 11
#define CULVERT_SPAWN_STEP_DESCRIPTORS 12
#define CULVERT_SPAWN_STEP_CLOSE_DESCRIPTORS 13
#define CULVERT_SPAWN_STEP_CHDIR 14
#define CULVERT_SPAWN_STEP_BOUNDING_SET 15
#define CULVERT_SPAWN_STEP_AMBIENT_SET 16
#define CULVERT_SPAWN_STEP_SETGROUPS 17
#define CULVERT_SPAWN_STEP_SETRESGID 18
#define CULVERT_SPAWN_STEP_SETRESUID 19
#define CULVERT_SPAWN_STEP_VERIFY_IDS 20
#define CULVERT_SPAWN_STEP_CAPABILITIES 21
#define CULVERT_SPAWN_STEP_NO_NEW_PRIVS 22
#define CULVERT_SPAWN_STEP_EXEC 23
#define CULVERT_SPAWN_STEP_JOIN_CGROUP 24
#define CULVERT_SPAWN_STEP_ATTACH_CGROUP_V1 25
#define CULVERT_SPAWN_STEP_SECCOMP 26
#define CULVERT_SPAWN_STEP_SEND_LISTENER 27
#define CULVERT_SPAWN_STEP_SCHEDULING 28

/// How the child was placed in the cgroup2 directory (*placement_out).
#define CULVERT_SPAWN_PLACED_NONE 0
/// clone3(CLONE_INTO_CGROUP): the child never existed outside the cgroup.
#define CULVERT_SPAWN_PLACED_CLONE_INTO_CGROUP 1
/// fork, then the child wrote "0" to cgroup.procs as its first act (kernel without CLONE_INTO_CGROUP).
#define CULVERT_SPAWN_PLACED_ATTACHED_IN_CHILD 2

/// What to contain the child in. All descriptors stay the caller's.
struct culvert_spawn_containment {
    /// An O_DIRECTORY descriptor of a cgroup2 directory, or -1.
    int cgroup_dir_fd;
    /// 0 skips clone3 and always takes the fork fallback (tests; kernels where clone3 misbehaves).
    int try_clone_into_cgroup;
    /// Open (O_WRONLY) cgroup v1 `cgroup.procs` files; at most CULVERT_SPAWN_MAX_ATTACH.
    const int *attach_fds;
    int attach_count;
    /// A classic BPF program (struct sock_filter[]), or NULL; at most CULVERT_SPAWN_MAX_FILTER_INSTRUCTIONS.
    const void *filter;
    int filter_instructions;
};

/// Spawns `path` (absolute) with `argv` (NULL-terminated, argv[0] included) and `extra_env`
/// (NULL-terminated "NAME=value" strings, at most CULVERT_SPAWN_MAX_EXTRA_ENV) as uid/gid, contained
/// as `containment` says (NULL: not at all). Waits up to `handshake_timeout_ms` for the exec to happen
/// (the child is killed and reaped past it). On success returns 0 with the child's pid, a pidfd for it
/// (O_CLOEXEC), the read end of its output pipe (O_CLOEXEC|O_NONBLOCK), the seccomp listener
/// (O_CLOEXEC; -1 without a filter) and the placement. On failure returns -1 with *failed_step and
/// *failed_errno set, nothing left open and no child left behind.
int culvert_spawn_provider(const char *path, char *const argv[], char *const extra_env[], uint32_t uid,
                           uint32_t gid, int tun_fd, int channel_fd, int handshake_timeout_ms,
                           const struct culvert_spawn_containment *containment, int32_t *pid_out, int *pidfd_out,
                           int *output_fd_out, int *listener_fd_out, int *placement_out, int *failed_step,
                           int *failed_errno);

#endif
