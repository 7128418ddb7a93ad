// sandbox-launch: the container tier's root-run steps before bwrap, in one freestanding process each instead of a chain
// of util-linux and procps programs (Users/SandboxUserNamespace, Container/ContainerLauncher). Two modes:
//   sandbox-launch userns UID GID limit|keep
//     drops root to UID/GID (no supplementary groups; real, effective and saved ids), creates a user namespace owned by
//     UID, and (limit) sets user.max_user_namespaces to 0 inside it with the capabilities it holds there; then exits.
//     The host observes the exit without reaping, opens /proc/PID/ns/user and writes the id maps (was: unshare
//     --setuid → unshare --user --keep-caps → sysctl, three programs).
//   sandbox-launch exec UID GID [--rlimits NOFILE FSIZE] -- PATH ARG...
//     sets RLIMIT_NOFILE and RLIMIT_FSIZE (soft = hard) and RLIMIT_CORE 0 on itself while still root (lowering needs no
//     capability: a root without CAP_SYS_RESOURCE can), drops to UID/GID as above and execs PATH with the given argv and
//     this process's environment (was: prlimit → unshare --setuid, two programs).
// Why C, freestanding: every dynamically linked program costs this kind of host 1.5–3 ms of CPU before main (the
// loader's start, its CPU-feature probing trapped by the hypervisor), and a one-shot sandbox's launch ran five of them
// around bwrap; this one is a few pages and raw syscalls. It never goes back to root once it dropped, never runs as
// uid or gid 0 after the drop (refused), and takes no path from its environment (PATH is not searched).
// Exit codes: 0 done (userns), 125 bad arguments, 126 a step failed (named on stderr); exec's failure 127.
// Built by scripts/build-agent.sh into the agent bundle (x86-64 Linux): clang -static -nostdlib -ffreestanding.

#include "syscall.h" // src/Agent/Native: the bundle's freestanding basics

enum { O_WRONLY = 1, O_CLOEXEC = 02000000, CLONE_NEWUSER = 0x10000000 };
enum { RLIMIT_FSIZE = 1, RLIMIT_CORE = 4, RLIMIT_NOFILE = 7 };
enum { USAGE = 125, FAILED = 126, EXEC_FAILED = 127 };

static __attribute__((noreturn)) void fail(int code, const char* what, const char* detail, s64 err)
{
    die("sandbox-launch", code, what, detail, err);
}

static int equals(const char* a, const char* b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static u64 parse_u64(const char* s, u64 max, const char* what)
{
    u64 v = 0;
    if (!s || !*s) fail(USAGE, "missing", what, 0);
    for (const char* p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (~0UL - 9) / 10) fail(USAGE, "not a number:", what, 0);
        v = v * 10 + (u64)(*p - '0');
    }
    if (v > max) fail(USAGE, "out of range:", what, 0);
    return v;
}

static void set_rlimit(int resource, u64 value, const char* name)
{
    u64 limit[2] = { value, value };
    s64 rc = sys6(SYS_prlimit64, 0, resource, (s64)limit, 0, 0, 0);
    if (rc) fail(FAILED, "setting", name, rc);
}

// As root, setgroups/setresgid/setresuid set every id; the capabilities go with uid 0 (no SECBIT_KEEP_CAPS is set).
static void drop_to(u64 uid, u64 gid)
{
    s64 rc;
    if ((rc = sys(SYS_setgroups, 0, 0, 0))) fail(FAILED, "setgroups(0)", 0, rc);
    if ((rc = sys(SYS_setresgid, gid, gid, gid))) fail(FAILED, "setresgid", 0, rc);
    if ((rc = sys(SYS_setresuid, uid, uid, uid))) fail(FAILED, "setresuid", 0, rc);
}

static __attribute__((noreturn, used)) void launch(s64 argc, char** argv)
{
    char** envp = argv + argc + 1;
    if (argc < 4) fail(USAGE, "usage: userns UID GID limit|keep | exec UID GID [--rlimits NOFILE FSIZE] -- PATH ARG...", 0, 0);
    // Never uid or gid 0: the whole point is to stop being root before anything of the sandbox starts.
    u64 uid = parse_u64(argv[2], 0xfffffffeUL, "UID");
    u64 gid = parse_u64(argv[3], 0xfffffffeUL, "GID");
    if (uid == 0 || gid == 0) fail(USAGE, "refusing to stay root (uid or gid 0)", 0, 0);

    if (equals(argv[1], "userns")) {
        if (argc != 5 || (!equals(argv[4], "limit") && !equals(argv[4], "keep"))) fail(USAGE, "userns UID GID limit|keep", 0, 0);
        drop_to(uid, gid);
        s64 rc = sys(SYS_unshare, CLONE_NEWUSER, 0, 0);
        if (rc) fail(FAILED, "unshare(CLONE_NEWUSER)", 0, rc);
        if (equals(argv[4], "limit")) {
            // Every capability inside the new namespace: its own user.max_user_namespaces may be lowered (only a holder
            // of CAP_SYS_RESOURCE there could raise it again, which nothing in a sandbox is).
            s64 fd = sys(SYS_open, "/proc/sys/user/max_user_namespaces", O_WRONLY | O_CLOEXEC, 0);
            if (fd < 0) fail(FAILED, "open", "/proc/sys/user/max_user_namespaces", fd);
            s64 n = sys(SYS_write, fd, "0\n", 2);
            if (n != 2) fail(FAILED, "write", "/proc/sys/user/max_user_namespaces", n < 0 ? n : 0);
            sys(SYS_close, fd, 0, 0);
        }
        quit(0);
    }
    if (!equals(argv[1], "exec")) fail(USAGE, "unknown mode", argv[1], 0);
    s64 i = 4;
    if (i < argc && equals(argv[i], "--rlimits")) {
        if (i + 2 >= argc) fail(USAGE, "--rlimits NOFILE FSIZE", 0, 0);
        u64 nofile = parse_u64(argv[i + 1], 1UL << 30, "NOFILE");
        u64 fsize = parse_u64(argv[i + 2], ~0UL >> 1, "FSIZE");
        set_rlimit(RLIMIT_NOFILE, nofile, "RLIMIT_NOFILE");
        set_rlimit(RLIMIT_FSIZE, fsize, "RLIMIT_FSIZE");
        set_rlimit(RLIMIT_CORE, 0, "RLIMIT_CORE");
        i += 3;
    }
    if (i + 1 >= argc || !equals(argv[i], "--") || argv[i + 1][0] != '/') fail(USAGE, "exec: -- /ABSOLUTE/PATH ARG... expected", 0, 0);
    drop_to(uid, gid);
    s64 rc = sys(SYS_execve, argv[i + 1], argv + i + 1, envp);
    fail(EXEC_FAILED, "exec", argv[i + 1], rc);
}

// The kernel enters with argc at the stack pointer, then argv, NULL, envp; the call keeps the ABI's 16-byte alignment.
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov (%rsp), %rdi\n lea 8(%rsp), %rsi\n and $-16, %rsp\n call launch\n hlt\n");
