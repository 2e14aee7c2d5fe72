// See CCulvertContainment.h. Hand-written: the SECCOMP_IOCTL_* numbers and struct seccomp_notif are
// kernel UAPI macros and layouts Swift cannot import.
#define _GNU_SOURCE
#include "CCulvertContainment.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

int culvert_seccomp_notify_receive(int listener, uint64_t *id, int32_t *syscall_number, uint32_t *arch) {
    struct seccomp_notif request;
    memset(&request, 0, sizeof(request));  // the kernel refuses a non-zeroed buffer (EINVAL)
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) < 0) return -1;
    *id = request.id;
    *syscall_number = request.data.nr;
    *arch = request.data.arch;
    return 0;
}

int culvert_seccomp_notify_deny(int listener, uint64_t id, int error) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof(response));
    response.id = id;
    response.error = -error;
    response.val = 0;
    response.flags = 0;  // never SECCOMP_USER_NOTIF_FLAG_CONTINUE
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
}

int culvert_seccomp_notify_pending(int listener) {
    struct pollfd waiter = {listener, POLLIN, 0};
    int ready = poll(&waiter, 1, 0);
    if (ready <= 0) return ready;
    if (waiter.revents & POLLIN) return 1;
    return (waiter.revents & (POLLHUP | POLLERR)) ? 2 : 0;
}

int culvert_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }

int culvert_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
