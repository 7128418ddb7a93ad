// sandbox_guest_spawn: how a microVM guest's agent starts every workload process (GuestSpawn.cs calls it; linked into
// the agent's own binary, so nothing new lands in the initramfs). One clone3 with CLONE_VM | CLONE_VFORK (posix_spawn's
// way: no page tables copied, the calling thread waits until the child execs or fails) and CLONE_INTO_CGROUP: the child
// is born in the workload's cgroup, so the agent never moves itself (and all its threads) into it and back. The child
// then confines itself, for good, before it runs anything of the workload: signal dispositions to default, its own
// session, the workload's ids and capabilities (confine.h: the steps of WorkloadCredentials), no_new_privs, the
// sandbox's seccomp filter; then its descriptors, working directory and an empty signal mask, and execve. It shares
// the agent's memory until then: raw syscalls only (no libc, no TLS, no stack protector), its own stack, and nothing
// written but the failure slot. The agent's threads keep root and no filter throughout.
// Built by the agent's project (Sandbox.Agent.csproj, target GuestSpawnObject) with clang, linked statically.

#include "confine.h"

enum { SIGKILL = 9, SIGSTOP = 19, SIGCHLD = 17, NSIG = 64, O_RDONLY = 0, O_RDWR = 2, F_SETFD = 2, SECCOMP_SET_MODE_FILTER = 1 };
#define CLONE_VM 0x100UL
#define CLONE_VFORK 0x4000UL
#define CLONE_INTO_CGROUP 0x200000000UL

struct guest_spawn {
    const char* path;
    char* const* argv;
    char* const* envp;
    const char* cwd;
    const char* tty_path;   // non-null: opened as 0, 1 and 2 (the session's controlling terminal); the fds are unused
    int stdin_fd;           // -1: /dev/null
    int stdout_fd;
    int stderr_fd;
    int cgroup_fd;          // the cgroup the child is born in (a directory of cgroup2)
    unsigned int uid;
    unsigned int gid;
    u64 keep_capabilities;  // 0 for any uid but guest root
    const void* seccomp;    // struct sock_filter[seccomp_len]; 0 instructions: none
    unsigned int seccomp_len;
    // Written by the child when it fails (it then exits 127 and this call reaps it): the step, or null for the file
    // actions and execve, whose errno is the call's result as posix_spawn's would be.
    const char* failed_step;
    int error;
};

struct clone_args {
    u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// long guest_clone3(struct clone_args*, u64 size, int (*child)(void*), void* arg): the child starts on its own stack
// at the syscall's return, calls child(arg) and exits with its result; the parent returns the pid or -errno.
long sandbox_guest_clone3(struct clone_args* args, u64 size, int (*child)(void*), void* arg);
__asm__(".text\n.type sandbox_guest_clone3,@function\nsandbox_guest_clone3:\n"
        " mov %rcx, %r8\n mov $435, %eax\n syscall\n test %rax, %rax\n jz 1f\n ret\n"
        "1: xor %ebp, %ebp\n and $-16, %rsp\n mov %r8, %rdi\n call *%rdx\n mov %rax, %rdi\n mov $231, %eax\n syscall\n hlt\n");

static int fail(struct guest_spawn* s, const char* step, s64 rc)
{
    s->failed_step = step;
    s->error = (int)-rc;
    return 127;
}

// dup2 that also clears close-on-exec when the descriptor is already in place (as posix_spawn's adddup2 does).
static s64 place(int fd, int target)
{
    return fd == target ? sys(SYS_fcntl, fd, F_SETFD, 0) : sys(SYS_dup2, fd, target, 0);
}

static int child(void* arg)
{
    struct guest_spawn* s = arg;
    s64 rc;
    // The agent's handlers are its runtime's, in memory this child shares: none may run here (all signals are blocked
    // until the mask is emptied right before execve, where the kernel resets handlers anyway).
    struct { u64 handler, flags, restorer, mask; } dfl;
    dfl.handler = dfl.flags = dfl.restorer = dfl.mask = 0; // SIG_DFL
    for (s64 sig = 1; sig <= NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) sys6(SYS_rt_sigaction, sig, (s64)&dfl, 0, 8, 0, 0);
    if ((rc = sys(SYS_setsid, 0, 0, 0)) < 0) return fail(s, "setsid", rc);
    const char* step = confine(s->uid, s->gid, s->keep_capabilities, &rc);
    if (step) return fail(s, step, rc);
    if (s->seccomp_len > 0) {
        struct { unsigned short len; const void* filter; } program = { (unsigned short)s->seccomp_len, s->seccomp };
        if ((rc = sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program))) return fail(s, "seccomp(SET_MODE_FILTER)", rc);
    }
    // The file actions, as the confined process (its terminal slave and /dev/null are opened as the workload).
    if (s->tty_path) {
        // Without O_NOCTTY, by a session leader with no terminal yet: it becomes the controlling terminal.
        if ((rc = sys(SYS_open, s->tty_path, O_RDWR, 0)) < 0) return fail(s, 0, rc);
        int fd = (int)rc;
        if ((fd != 0 && (rc = sys(SYS_dup2, fd, 0, 0)) < 0) || (rc = sys(SYS_dup2, 0, 1, 0)) < 0 || (rc = sys(SYS_dup2, 0, 2, 0)) < 0)
            return fail(s, 0, rc);
        if (fd > 2) sys(SYS_close, fd, 0, 0);
    } else {
        if (s->stdin_fd >= 0) rc = place(s->stdin_fd, 0);
        else if ((rc = sys(SYS_open, "/dev/null", O_RDONLY, 0)) >= 0 && rc != 0) {
            int fd = (int)rc;
            rc = sys(SYS_dup2, fd, 0, 0);
            sys(SYS_close, fd, 0, 0);
        }
        if (rc < 0 || (rc = place(s->stdout_fd, 1)) < 0 || (rc = place(s->stderr_fd, 2)) < 0) return fail(s, 0, rc);
    }
    if ((rc = sys(SYS_chdir, s->cwd, 0, 0))) return fail(s, 0, rc);
    u64 empty = 0;
    sys6(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, (s64)&empty, 0, 8, 0, 0);
    rc = sys(SYS_execve, s->path, s->argv, s->envp);
    return fail(s, 0, rc);
}

// Returns 0 with *pid set, or an errno (s->failed_step says whether a confinement step failed). Nothing is left behind
// on failure: a child that failed has exited and is reaped here.
int sandbox_guest_spawn(struct guest_spawn* s, int* pid)
{
    // The child's stack: this frame's, which nothing uses while the caller waits (CLONE_VFORK).
    static const u64 stack_bytes = 32 * 1024;
    char stack[32 * 1024] __attribute__((aligned(16)));
    s->failed_step = 0;
    s->error = 0;
    u64 all = ~0UL, saved = 0;
    sys6(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, (s64)&all, (s64)&saved, 8, 0, 0);
    struct clone_args args;
    args.pidfd = args.child_tid = args.parent_tid = args.tls = args.set_tid = args.set_tid_size = 0;
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.stack = (u64)stack;
    args.stack_size = stack_bytes;
    args.cgroup = (u64)s->cgroup_fd;
    long child_pid = sandbox_guest_clone3(&args, sizeof args, child, s);
    sys6(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, (s64)&saved, 0, 8, 0, 0);
    if (child_pid < 0) return (int)-child_pid;
    if (s->error) {
        // It exited (127) before running anything: reap it here, as glibc's posix_spawn does.
        int status;
        while (sys6(SYS_wait4, child_pid, (s64)&status, 0, 0, 0, 0) == -EINTR) { }
        return s->error;
    }
    *pid = (int)child_pid;
    return 0;
}
