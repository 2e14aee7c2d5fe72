// Shared between spawn.c (the parent's side of culvert_spawn_provider) and spawn_child.c (the child's).
#ifndef CULVERT_SPAWN_INTERNAL_H
#define CULVERT_SPAWN_INTERNAL_H

#include "CCulvertSpawn.h"

/// The first descriptor number the child does not keep (0–2 stdio, 3 TUN, 4 channel).
#define SPAWN_FIRST_CLOSED_FD 5
/// "LISTEN_PID=" plus the digits of a pid and a NUL.
#define SPAWN_LISTEN_PID_BYTES 32

/// The child's side: steps 1–4 of CCulvertSpawn.h, then execve. Never returns. `join_cgroup` says the
/// child was forked (not cloned into containment->cgroup_dir_fd) and must join that cgroup itself.
__attribute__((noreturn)) void spawn_child(const char *path, char *const argv[], char **envp, char *listen_pid, uint32_t uid,
                                           uint32_t gid, int sources[5], int report_fd,
                                           const struct culvert_spawn_containment *containment, int join_cgroup);

#endif
