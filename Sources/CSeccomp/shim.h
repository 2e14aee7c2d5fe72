// libseccomp, imported for CulvertSystem only (SeccompProgram builds the provider filter with it and
// SeccompNotifier names denied syscalls). The SCMP_ACT_* function-like macros do not import into
// Swift; these inline functions stand in for them.
#include <seccomp.h>

static inline uint32_t culvert_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t culvert_scmp_act_notify(void) { return SCMP_ACT_NOTIFY; }
static inline uint32_t culvert_scmp_act_errno(uint16_t error) { return SCMP_ACT_ERRNO(error); }
static inline uint32_t culvert_scmp_arch_native(void) { return SCMP_ARCH_NATIVE; }
