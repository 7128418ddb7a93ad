// Raw x86-64 Linux syscalls for the bundle's freestanding C (no libc, no loader): the prepared exec stage
// (sandbox-exec.c), the launch helper (src/Isolation/Native/sandbox-launch.c) and the guest's spawn (guest-spawn.c).
#ifndef SANDBOX_SYSCALL_H
#define SANDBOX_SYSCALL_H

typedef unsigned long u64;
typedef long s64;

enum { SYS_read = 0, SYS_write = 1, SYS_open = 2, SYS_close = 3, SYS_rt_sigaction = 13, SYS_rt_sigprocmask = 14,
       SYS_dup2 = 33, SYS_execve = 59, SYS_wait4 = 61, SYS_fcntl = 72, SYS_chdir = 80, SYS_setgroups = 116,
       SYS_setresuid = 117, SYS_setresgid = 119, SYS_setsid = 112, SYS_capset = 126, SYS_prctl = 157,
       SYS_exit_group = 231, SYS_unshare = 272, SYS_prlimit64 = 302, SYS_seccomp = 317, SYS_clone3 = 435 };

static inline s64 sys6(s64 n, s64 a, s64 b, s64 c, s64 d, s64 e, s64 f)
{
    register s64 r10 __asm__("r10") = d;
    register s64 r8 __asm__("r8") = e;
    register s64 r9 __asm__("r9") = f;
    s64 ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
    return ret;
}
#define sys(n, a, b, c) sys6(n, (s64)(a), (s64)(b), (s64)(c), 0, 0, 0)

static inline __attribute__((noreturn)) void quit(int code)
{
    for (;;) sys(SYS_exit_group, code, 0, 0);
}

// "PROGRAM: WHAT[ DETAIL][: errno N]" on stderr, then exit with `code` (a stand-alone program's way to fail).
static inline __attribute__((noreturn)) void die(const char* program, int code, const char* what, const char* detail, s64 err)
{
    char line[512];
    u64 n = 0;
    const char* parts[] = { program, ": ", what, detail ? " " : "", detail ? detail : "", err ? ": errno " : "" };
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

#endif
