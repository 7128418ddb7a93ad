// The confinement a workload process takes for good before it execs its program, shared by the container tier's
// prepared first stage (sandbox-exec.c) and the microVM guest's spawn (guest-spawn.c). No libc: both run where libc
// must not be called (a process with no loader; a vfork-style child sharing the agent's memory).
// The steps are WorkloadCredentials.BecomeUnprivileged's (keep = 0) and BecomeGuestRoot's (uid 0, keep = the guest
// root's few capabilities), in the same order: keep the three alike.
#ifndef SANDBOX_CONFINE_H
#define SANDBOX_CONFINE_H

#include "syscall.h"

enum { EINTR = 4, ENOENT = 2, ENOTDIR = 20, EINVAL = 22 };
enum { PR_SET_DUMPABLE = 4, PR_CAPBSET_DROP = 24, PR_SET_SECUREBITS = 28, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47,
       PR_CAP_AMBIENT_CLEAR_ALL = 4 };
enum { SECBIT_NOROOT = 1, SECBIT_NOROOT_LOCKED = 2, CAP_LAST_KNOWN = 40 };

// The calling task becomes uid:gid for good: the bounding set cut to `keep` and, for any uid but root, root's
// exec-time privileges locked off (while CAP_SETPCAP is still effective); then groups, gid and uid (all three ids);
// no ambient capability; no_new_privs; effective and permitted = `keep` (capabilities 0..31), nothing inheritable.
// Raw syscalls act on this task alone (glibc's wrappers would signal every thread of the process to follow).
// Returns 0, or the failed step with its -errno in *err.
// Its two parts, for a caller that knows `keep` before the ids (sandbox-exec: the bounding set goes while it waits for
// its request, off the exec's path): confine_bounding, then confine_ids. Cutting the bounding set first changes nothing
// of the task's own effective capabilities, which the steps after it use (CAP_SETPCAP, CAP_SETUID, CAP_SETGID).
static inline const char* confine_bounding(u64 keep, s64* err)
{
    s64 rc;
    for (s64 cap = 0; cap <= CAP_LAST_KNOWN + 24; cap++) {
        if (cap < 64 && (keep & (1UL << cap))) continue;
        rc = sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0);
        if (rc == -EINVAL && cap > CAP_LAST_KNOWN) break;
        if (rc) return *err = rc, "PR_CAPBSET_DROP";
    }
    return 0;
}

static inline const char* confine_ids(u64 uid, u64 gid, u64 keep, s64* err)
{
    s64 rc;
    if (uid != 0 && (rc = sys(SYS_prctl, PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0)))
        return *err = rc, "PR_SET_SECUREBITS";
    unsigned int group = (unsigned int)gid;
    if ((rc = sys(SYS_setgroups, 1, &group, 0))) return *err = rc, "setgroups";
    if ((rc = sys(SYS_setresgid, gid, gid, gid))) return *err = rc, "setresgid";
    if ((rc = sys(SYS_setresuid, uid, uid, uid))) return *err = rc, "setresuid";
    if ((rc = sys6(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0))) return *err = rc, "PR_CAP_AMBIENT_CLEAR_ALL";
    if ((rc = sys6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0))) return *err = rc, "PR_SET_NO_NEW_PRIVS";
    struct { unsigned int version; int pid; } header = { 0x20080522, 0 }; // _LINUX_CAPABILITY_VERSION_3
    unsigned int low = (unsigned int)keep;
    struct { unsigned int effective, permitted, inheritable; } data[2] = { { low, low, 0 }, { 0, 0, 0 } };
    if ((rc = sys(SYS_capset, &header, data, 0))) return *err = rc, "capset";
    return 0;
}

static inline const char* confine(u64 uid, u64 gid, u64 keep, s64* err)
{
    const char* step = confine_bounding(keep, err);
    return step ? step : confine_ids(uid, gid, keep, err);
}

#endif
