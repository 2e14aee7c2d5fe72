// See CCulvertTunFraming.h. Hand-written because TUNGETIFF fills a struct ifreq, which does not import
// into Swift usefully.
#include "CCulvertTunFraming.h"

#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>

_Static_assert(CULVERT_IFF_TUN_EXCL == IFF_TUN_EXCL, "IFF_TUN_EXCL matches the kernel's");

int culvert_tun_get_interface(int fd, int *flags_out, char *name_out) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (ioctl(fd, TUNGETIFF, &request) < 0) return -1;
    *flags_out = (unsigned short)request.ifr_flags;
    memcpy(name_out, request.ifr_name, IFNAMSIZ);
    name_out[IFNAMSIZ - 1] = '\0';
    return 0;
}
