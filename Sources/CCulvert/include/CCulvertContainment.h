// CCulvertContainment: the seccomp user-notification ioctls (SeccompNotifier.swift) and dumpability
// (ProcessImage.markNonDumpable). Hand-written: the ioctl numbers are macros Swift does not import.
#ifndef CCULVERT_CONTAINMENT_H
#define CCULVERT_CONTAINMENT_H

#include <stdint.h>

/// SECCOMP_IOCTL_NOTIF_RECV: takes the next pending notification of `listener` (blocks if there is
/// none; poll for POLLIN first). Returns 0 with its id, syscall number and AUDIT_ARCH_* value;
/// -1/ENOENT if the caller vanished before it could be received.
int culvert_seccomp_notify_receive(int listener, uint64_t *id, int32_t *syscall_number, uint32_t *arch);
/// SECCOMP_IOCTL_NOTIF_SEND: makes the notified call fail with `error` (never lets it run).
/// -1/ENOENT if the caller has gone (killed while waiting).
int culvert_seccomp_notify_deny(int listener, uint64_t id, int error);
/// poll(listener, POLLIN, 0): 1 if a notification is pending, 0 if not, 2 if the listener is dead
/// (POLLHUP: every filtered task has exited), -1 on error.
int culvert_seccomp_notify_pending(int listener);
/// prctl(PR_SET_DUMPABLE, dumpable): 0 forbids core dumps, ptrace attach and /proc/PID access by
/// anyone but root (and makes /proc/PID/* root-owned).
int culvert_set_dumpable(int dumpable);
/// prctl(PR_GET_DUMPABLE).
int culvert_get_dumpable(void);

#endif
