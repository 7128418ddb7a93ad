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

typedef unsigned long u64;
typedef long s64;

enum { SYS_read = 0, SYS_write = 1, SYS_open = 2, SYS_close = 3, SYS_dup2 = 33, SYS_execve = 59, SYS_chdir = 80,
       SYS_setgroups = 116, SYS_setresuid = 117, SYS_setresgid = 119, SYS_capset = 126, SYS_prctl = 157,
       SYS_exit_group = 231, SYS_prlimit64 = 302 };
enum { EINTR = 4, ENOENT = 2, ENOTDIR = 20, EINVAL = 22 };
enum { PR_SET_DUMPABLE = 4, PR_CAPBSET_DROP = 24, PR_SET_SECUREBITS = 28, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47,
       PR_CAP_AMBIENT_CLEAR_ALL = 4 };
enum { SECBIT_NOROOT = 1, SECBIT_NOROOT_LOCKED = 2, CAP_LAST_KNOWN = 40, RLIMIT_NPROC = 6 };
enum { HOLD_FD = 3, NOT_RELEASED = 125, CANNOT_RUN = 126, NOT_FOUND = 127 };
// PreparedExec.MaxPayload: the agent never writes more.
#define MAX_PAYLOAD (48 * 1024)

static s64 sys6(s64 n, s64 a, s64 b, s64 c, s64 d, s64 e, s64 f)
{
    register s64 r10 __asm__("r10") = d;
    register s64 r8 __asm__("r8") = e;
    register s64 r9 __asm__("r9") = f;
    s64 ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
    return ret;
}
#define sys(n, a, b, c) sys6(n, (s64)(a), (s64)(b), (s64)(c), 0, 0, 0)

static __attribute__((noreturn)) void quit(int code)
{
    for (;;) sys(SYS_exit_group, code, 0, 0);
}

// "sandbox-agent: WHAT[: errno N]" on stderr (the exec's), as HeldExec reports, then the exit code.
static __attribute__((noreturn)) void fail(int code, const char* what, const char* detail, s64 err)
{
    char line[512];
    u64 n = 0;
    const char* parts[] = { "sandbox-agent: ", what, detail ? " " : "", detail ? detail : "", err ? ": errno " : "" };
    for (u64 p = 0; p < sizeof parts / sizeof *parts; p++)
        for (const char* s = parts[p]; *s && n < sizeof line - 8; s++) line[n++] = *s;
    if (err) {
        char digits[8];
        int d = 0;
        for (u64 v = (u64)-err; v && d < 7; v /= 10) digits[d++] = (char)('0' + v % 10);
        while (d) line[n++] = digits[--d];
    }
    line[n++] = '\n';
    sys(SYS_write, 2, line, n);
    quit(code);
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

// WorkloadCredentials.BecomeUnprivileged: the bounding set emptied and root's exec-time privileges locked off while
// CAP_SETPCAP is still effective; then groups, gid, uid (all three ids); no ambient capability; no_new_privs; no
// effective, permitted or inheritable capability.
static void become_for_good(u64 uid, u64 gid)
{
    for (s64 cap = 0; cap <= CAP_LAST_KNOWN + 24; cap++) {
        s64 rc = sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0);
        if (rc == -EINVAL && cap > CAP_LAST_KNOWN) break;
        if (rc) fail(CANNOT_RUN, "confining the new process: PR_CAPBSET_DROP", 0, rc);
    }
    s64 rc;
    if ((rc = sys(SYS_prctl, PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0)))
        fail(CANNOT_RUN, "confining the new process: PR_SET_SECUREBITS", 0, rc);
    unsigned int group = (unsigned int)gid;
    if ((rc = sys(SYS_setgroups, 1, &group, 0))) fail(CANNOT_RUN, "confining the new process: setgroups", 0, rc);
    if ((rc = sys(SYS_setresgid, gid, gid, gid))) fail(CANNOT_RUN, "confining the new process: setresgid", 0, rc);
    if ((rc = sys(SYS_setresuid, uid, uid, uid))) fail(CANNOT_RUN, "confining the new process: setresuid", 0, rc);
    if ((rc = sys6(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0)))
        fail(CANNOT_RUN, "confining the new process: PR_CAP_AMBIENT_CLEAR_ALL", 0, rc);
    if ((rc = sys6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0))) fail(CANNOT_RUN, "confining the new process: PR_SET_NO_NEW_PRIVS", 0, rc);
    struct { unsigned int version; int pid; } header = { 0x20080522, 0 }; // _LINUX_CAPABILITY_VERSION_3
    struct { unsigned int effective, permitted, inheritable; } data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
    if ((rc = sys(SYS_capset, &header, data, 0))) fail(CANNOT_RUN, "confining the new process: capset(0x0)", 0, rc);
}

static __attribute__((noreturn, used)) void stage(void)
{
    // As the agent: its memory and descriptors are not for anyone else in the sandbox to read.
    sys6(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0);
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
        s64 fd = sys(SYS_open, "/dev/null", 0, 0);
        if (fd < 0) fail(CANNOT_RUN, "/dev/null as stdin", 0, fd);
        s64 rc = sys(SYS_dup2, fd, 0, 0);
        if (rc < 0) fail(CANNOT_RUN, "/dev/null as stdin", 0, rc);
        sys(SYS_close, fd, 0, 0);
    }
    become_for_good(uid, gid);
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
