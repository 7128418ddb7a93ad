using Sandbox.SyscallFilter.Tests.Compiling;

namespace Sandbox.SyscallFilter.Tests.Profiles;

public class BuiltInProfileTests
{
    /// <summary>
    /// What a NativeAOT .NET process (our agent) and glibc need in every sandbox: the agent's code paths, and what it
    /// made under strace in the E2E suite's Agent-mode tests (Profiles/Strict/trace_strict.py --parse LOG --image
    /// /run/sandbox/sandbox-agent).
    /// </summary>
    public static readonly string[] AgentNeeds =
    [
        "mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "futex", "set_robust_list", "rseq", "set_tid_address",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "sched_getaffinity", "sched_yield", "membarrier",
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "pipe2", "socketpair", "recvmsg", "sendmsg",
        "recvfrom", "sendto", "getrandom", "prlimit64", "readlink", "readlinkat", "statx", "newfstatat", "fstat",
        "getdents64", "openat", "openat2", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "ioctl", "wait4",
        "waitid", "kill", "tgkill", "getpid", "gettid", "getppid", "uname", "sysinfo", "clock_gettime",
        "clock_nanosleep", "nanosleep", "execve", "exit", "exit_group", "setsid", "setpgid", "umask", "getcwd", "chdir",
        "access", "faccessat", "faccessat2", "pread64", "pwrite64", "readv", "writev", "read", "write", "lseek",
        "ftruncate", "unlink", "unlinkat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "fchmod", "fchmodat",
        "chmod", "fsync", "prctl", "arch_prctl", "getuid", "geteuid", "getgid", "getegid", "connect", "bind", "listen",
        "accept4", "getsockopt", "setsockopt", "shutdown", "poll", "ppoll", "getrusage", "statfs", "getsockname",
        "getpeername", "restart_syscall",
    ];

    public static readonly string[] DefaultDenies =
    [
        "mount", "umount2", "pivot_root", "ptrace", "bpf", "keyctl", "add_key", "request_key", "kexec_load",
        "kexec_file_load", "init_module", "finit_module", "delete_module", "perf_event_open", "userfaultfd", "unshare",
        "setns", "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "settimeofday",
        "clock_settime", "adjtimex", "acct", "lookup_dcookie", "quotactl", "syslog", "iopl", "ioperm", "fanotify_init",
        "process_vm_readv", "process_vm_writev", "kcmp", "io_uring_setup", "io_uring_enter", "io_uring_register", "mbind",
        "move_pages", "set_mempolicy",
    ];

    private const uint Allow = 0x7fff0000;
    private const uint X86_64 = 0xC000003E;

    private static uint Run(BpfProgram program, string name, params ulong[] args)
    {
        var all = new ulong[6];
        args.CopyTo(all, 0);
        return BpfInterpreter.Run(program.Instructions, (uint)SyscallTable.GetNumber(name), X86_64, all);
    }

    [Fact]
    public void Names_AreDefaultAndStrict_AndUnknownNamesListThem()
    {
        Assert.Equal(["default", "strict"], SeccompProfiles.Names);
        var error = Assert.Throws<ArgumentException>(() => SeccompProfiles.GetBuiltIn("unconfined"));
        Assert.Contains("unknown built-in seccomp profile 'unconfined' (known: default, strict)", error.Message);
    }

    [Theory]
    [InlineData("default")]
    [InlineData("strict")]
    public void BuiltIn_Compiles_AndAllowsWhatTheAgentNeeds(string name)
    {
        var profile = SeccompProfiles.GetBuiltIn(name);
        var program = SeccompCompiler.Compile(profile);

        Assert.Equal(name, profile.Name);
        Assert.InRange(program.InstructionCount, 20, 1000);
        BpfInterpreter.CheckStructure(program.Instructions);
        var denied = AgentNeeds.Where(n => Run(program, n, 1) != Allow).ToArray(); // arg0 = 1: AF_UNIX for socketpair
        Assert.True(denied.Length == 0, $"{name} denies what the agent needs: {string.Join(", ", denied)}");
        Assert.Equal(0x50026u, Run(program, "clone3"));                       // errno(ENOSYS): glibc falls back to clone
        Assert.Equal(Allow, Run(program, "clone", 0x003d0f00));               // pthread_create's flags
        Assert.Equal(Allow, Run(program, "clone", 0x01200011));               // fork(): CLONE_CHILD_SETTID|CLEARTID|SIGCHLD
        Assert.Equal(0x50001u, Run(program, "clone", 0x10000011));            // CLONE_NEWUSER
        Assert.Equal(0x50001u, Run(program, "clone", 0x40000000));            // CLONE_NEWNET
        Assert.Equal(0x50001u, Run(program, "ioctl", 0, 0x5412));             // TIOCSTI
        Assert.Equal(0x50001u, Run(program, "ioctl", 0, 0x1_0000_5412));      // TIOCSTI with high garbage
        Assert.Equal(Allow, Run(program, "ioctl", 0, 0x5401));                // TCGETS
        Assert.Equal(0x50026u, Run(program, "get_mempolicy"));
        Assert.Equal(Allow, Run(program, "socket", 1));                       // AF_UNIX
        Assert.Equal(0x80000000u, BpfInterpreter.Run(program.Instructions, 0x40000000 + 39, X86_64, new ulong[6]));
    }

    /// <summary>
    /// The compiler's advantage over libseccomp, kept (Compiling/Libseccomp/compare.py measures both): libseccomp 2.5
    /// makes 336 instructions for default (416 as a binary tree, median 15 executed per allowed syscall).
    /// </summary>
    [Theory]
    [InlineData("default", 125, 11)]
    [InlineData("strict", 135, 12)]
    public void BuiltIn_StaysCompact_AndFastOnAllowedSyscalls(string name, int maxInstructions, double maxMedianExecuted)
    {
        var program = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn(name));
        var executed = new List<int>();
        for (var nr = 0u; nr <= SyscallTable.MaxNumber; nr++)
        {
            if (BpfInterpreter.Run(program.Instructions, nr, X86_64, new ulong[6], out var steps) == Allow)
            {
                executed.Add(steps);
            }
        }

        executed.Sort();
        var median = executed.Count % 2 == 1
            ? executed[executed.Count / 2]
            : (executed[executed.Count / 2 - 1] + executed[executed.Count / 2]) / 2.0;
        Assert.InRange(program.InstructionCount, 20, maxInstructions);
        Assert.InRange(median, 1, maxMedianExecuted);
    }

    [Fact]
    public void Default_DeniesTheDangerousSet()
    {
        var program = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("default"));
        var allowed = DefaultDenies.Where(n => Run(program, n) == Allow).ToArray();
        Assert.True(allowed.Length == 0, $"default allows {string.Join(", ", allowed)}");
        Assert.Equal(0x50061u, Run(program, "socket", 40));                    // AF_VSOCK -> EAFNOSUPPORT
        Assert.Equal(0x50061u, Run(program, "socket", 0xffffffff_00000028));   // ... also with high garbage
        Assert.Equal(Allow, Run(program, "socket", 2));                       // AF_INET: the netns decides
        Assert.Equal(Allow, Run(program, "personality", 0xffffffff));
        Assert.Equal(0x50001u, Run(program, "personality", 0x0040000));       // ADDR_NO_RANDOMIZE
        // a syscall newer than the table and a gap in it get the default action
        Assert.Equal(0x50001u, BpfInterpreter.Run(program.Instructions, 400, X86_64, new ulong[6]));
        Assert.Equal(0x50001u, BpfInterpreter.Run(program.Instructions, 0x3fffffff, X86_64, new ulong[6]));
    }

    [Fact]
    public void Strict_IsNarrowerThanDefault()
    {
        var strict = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("strict"));
        var @default = SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("default"));
        Assert.Equal(0x50061u, Run(strict, "socket", 2));                     // AF_INET -> EAFNOSUPPORT
        Assert.Equal(0x50061u, Run(strict, "socketpair", 16));
        foreach (var name in new[] { "memfd_create", "setuid", "shmget", "mknod", "setxattr", "personality", "io_setup" })
        {
            Assert.NotEqual(Allow, Run(strict, name));
        }

        for (var nr = 0u; nr <= SyscallTable.MaxNumber; nr++)
        {
            var args = new ulong[6];
            if (BpfInterpreter.Run(strict.Instructions, nr, X86_64, args) == Allow)
            {
                Assert.Equal(Allow, BpfInterpreter.Run(@default.Instructions, nr, X86_64, args));
            }
        }
    }

    [Fact]
    public void WithAllowedSyscalls_AllowsThem_ReplacingEarlierRules_AndRejectsUnknownNames()
    {
        var profile = SeccompProfiles.GetBuiltIn("default");
        var widened = profile.WithAllowedSyscalls(["ptrace", "clone", "ptrace"]);
        var program = SeccompCompiler.Compile(widened);

        Assert.Equal(Allow, Run(program, "ptrace"));
        Assert.Equal(Allow, Run(program, "clone", 0x10000000));
        Assert.Equal(0x50001u, Run(program, "mount"));
        Assert.NotEqual(SeccompCompiler.Compile(profile).Sha256, program.Sha256);
        Assert.Same(profile, profile.WithAllowedSyscalls([]));

        var error = Assert.Throws<SeccompProfileException>(() => profile.WithAllowedSyscalls(["read", "fooo", "barr"]));
        Assert.Equal(2, error.Errors.Count);
        Assert.Contains("add[1]: unknown syscall 'fooo' for x86_64", error.Message);
        Assert.Contains("add[2]: unknown syscall 'barr' for x86_64", error.Message);
    }

    [Fact]
    public void ShippedFiles_MatchTheEmbeddedResources()
    {
        var root = FindRepositoryRoot();
        foreach (var name in SeccompProfiles.Names)
        {
            var fromFile = SeccompProfileLoader.LoadFile(Path.Combine(root, "policies", "seccomp", $"{name}.yaml"));
            Assert.Equal(SeccompProfiles.GetBuiltIn(name), fromFile);
        }
    }

    [Fact]
    public void SyscallTable_IsComplete()
    {
        Assert.True(SyscallTable.MaxNumber >= 471);
        Assert.Equal(0, SyscallTable.GetNumber("read"));
        Assert.Equal(435, SyscallTable.GetNumber("clone3"));
        Assert.Equal(462, SyscallTable.GetNumber("mseal"));
        Assert.True(SyscallTable.TryGetName(334, out var rseq) && rseq == "rseq");
        Assert.Equal(335, SyscallTable.GetNumber("uretprobe"));   // Linux 6.11; Docker's profile lists it
        Assert.Equal(336, SyscallTable.GetNumber("uprobe"));      // Linux 6.16
        Assert.Equal(471, SyscallTable.GetNumber("rseq_slice_yield"));
        Assert.False(SyscallTable.TryGetName(337, out _)); // the gap up to 424
        Assert.Equal(SyscallTable.Names.Count, SyscallTable.Names.Distinct().Count());
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "policies", "seccomp")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("policies/seccomp not found above the test directory");
    }
}
