// sandbox-exec: a prepared exec's first stage (container tier; a held exec's, for terminals and large argv, is the
// agent's own binary: HeldExec). The agent starts it ahead of the exec's request with its own identity, the exec's pipes as
// 0, 1 and 2 and the request pipe as 3; the host moves it into the exec's own cgroup; an Exec then writes the program
// (PreparedExec.Encode: NUL-terminated fields stdin, uid, gid, nproc, cwd, path, argc, argv..., env...) and closes the
// pipe. This process then becomes the workload user for good (the steps of WorkloadCredentials.BecomeUnprivileged,
// which held execs take, in the same order: keep the two alike), sets its RLIMIT_NPROC, enters the working directory
// and execs the program. EOF with nothing written (the sandbox going away) ends it without running anything.
// Why C, freestanding: it starts once per exec, and the NativeAOT runtime's start (GC heap, statics, the loader and
// glibc) cost 3.5x the `true` it then runs on this host (perf, bench/sandboxd --exec-only). Raw syscalls, no libc, no
// loader: a few pages mapped and nothing else before it waits. It inherits the sandbox's seccomp filter like any
// process the agent starts. Exit codes as HeldExec: 125 never released, 126 cannot run, 127 not found.
// Built by scripts/build-agent.sh (x86-64 Linux): clang -static -nostdlib -ffreestanding.

#include "confine.h"

enum { RLIMIT_NPROC = 6, O_RDONLY = 0, O_CLOEXEC = 02000000 };
enum { HOLD_FD = 3, NOT_RELEASED = 125, CANNOT_RUN = 126, NOT_FOUND = 127 };
// PreparedExec.MaxPayload: the agent never writes more.
#define MAX_PAYLOAD (48 * 1024)

static __attribute__((noreturn)) void fail(int code, const char* what, const char* detail, s64 err)
{
    die("sandbox-agent", code, what, detail, err);
}

static int parse_u64(const char* s, u64* out)
{
    u64 v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (~0UL - 9) / 10) return 0;
        v = v * 10 + (u64)(*s - '0');
    }
    *out = v;
    return 1;
}

static char payload[MAX_PAYLOAD + 1];
// Every field is at least its NUL: at most MAX_PAYLOAD of them, plus the two NULL terminators.
static char* fields[MAX_PAYLOAD + 2];

static __attribute__((noreturn, used)) void stage(void)
{
    // As the agent: its memory and descriptors are not for anyone else in the sandbox to read.
    sys6(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0);
    // What does not depend on the request is done before it comes, off the exec's path: the bounding set (confine.h:
    // the agent's effective capabilities, which the steps after the request use, stay) and /dev/null for a stdin that
    // is not asked for. A failure is reported as the exec's, once it comes.
    s64 bounding_err = 0;
    const char* bounding_step = confine_bounding(0, &bounding_err);
    s64 dev_null = sys(SYS_open, "/dev/null", O_RDONLY | O_CLOEXEC, 0);
    u64 size = 0;
    for (;;) {
        s64 n = sys(SYS_read, HOLD_FD, payload + size, MAX_PAYLOAD + 1 - size);
        if (n == -EINTR) continue;
        if (n < 0) quit(NOT_RELEASED);
        if (n == 0) break;
        size += (u64)n;
        if (size > MAX_PAYLOAD) fail(CANNOT_RUN, "prepared exec: request too large", 0, 0);
    }
    sys(SYS_close, HOLD_FD, 0, 0);
    if (size == 0) quit(NOT_RELEASED);
    if (payload[size - 1] != 0) fail(CANNOT_RUN, "prepared exec: malformed request", 0, 0);
    u64 count = 0;
    for (u64 start = 0, i = 0; i < size; i++) {
        if (payload[i]) continue;
        fields[count++] = payload + start;
        start = i + 1;
    }
    // stdin, uid, gid, nproc, cwd, path, argc, then argc arguments (at least one), then the environment.
    u64 uid, gid, nproc, argc;
    if (count < 8 || (fields[0][0] != '0' && fields[0][0] != '1') || fields[0][1] || !parse_u64(fields[1], &uid) || uid > 0xffffffffUL
        || !parse_u64(fields[2], &gid) || gid > 0xffffffffUL || !parse_u64(fields[3], &nproc) || !parse_u64(fields[6], &argc)
        || argc < 1 || argc > count - 7)
        fail(CANNOT_RUN, "prepared exec: malformed request", 0, 0);
    char* cwd = fields[4];
    char* path = fields[5];
    char** argv = fields + 7;
    // The environment runs to the end; argv needs its own NULL: the environment moves up one slot.
    char** envp = fields + 7 + argc + 1;
    for (u64 i = count; i > 7 + argc; i--) fields[i] = fields[i - 1];
    fields[7 + argc] = 0;
    fields[count + 1] = 0;
    if (fields[0][0] == '0') {
        // No stdin asked for: /dev/null, as a spawned exec gets.
        if (dev_null < 0) fail(CANNOT_RUN, "/dev/null as stdin", 0, dev_null);
        s64 rc = sys(SYS_dup2, dev_null, 0, 0);
        if (rc < 0) fail(CANNOT_RUN, "/dev/null as stdin", 0, rc);
    }
    if (dev_null >= 0) sys(SYS_close, dev_null, 0, 0);
    // WorkloadCredentials.BecomeUnprivileged's steps (confine.h), the bounding set's already taken.
    if (bounding_step) fail(CANNOT_RUN, "confining the new process:", bounding_step, bounding_err);
    s64 err;
    const char* step = confine_ids(uid, gid, 0, &err);
    if (step) fail(CANNOT_RUN, "confining the new process:", step, err);
    if (nproc > 0) {
        u64 limit[2] = { nproc, nproc };
        s64 rc = sys6(SYS_prlimit64, 0, RLIMIT_NPROC, (s64)limit, 0, 0, 0);
        if (rc) fail(CANNOT_RUN, "RLIMIT_NPROC", 0, rc);
    }
    s64 rc = sys(SYS_chdir, cwd, 0, 0);
    if (rc) fail(CANNOT_RUN, "chdir", cwd, rc);
    rc = sys(SYS_execve, path, argv, envp);
    fail(rc == -ENOENT || rc == -ENOTDIR ? NOT_FOUND : CANNOT_RUN, "exec", path, rc);
}

// The kernel enters here with the stack 16-byte aligned; a call keeps the ABI's alignment for stage().
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n and $-16, %rsp\n call stage\n hlt\n");
