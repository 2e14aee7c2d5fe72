// openat2 for CulvertSystem's TreeRemoval and a connect that never waits: see CCulvertBeneath.h.
#define _GNU_SOURCE
#include "CCulvertBeneath.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int culvert_open_beneath(int dirfd, const char *name, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) return openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
    return (int)fd;
}

int culvert_open_path(int dirfd, const char *name) { return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC); }

int culvert_unix_connect_without_waiting(const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(addr.sun_path, path, length);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1));
    } while (rc < 0 && errno == EINTR);
    int flags = rc == 0 ? fcntl(fd, F_GETFL) : -1;
    if (rc < 0 || flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
