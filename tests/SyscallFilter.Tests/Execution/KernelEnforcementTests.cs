namespace Sandbox.SyscallFilter.Tests.Execution;

/// <summary>Installs compiled filters in the real kernel (through bwrap) and watches syscalls succeed or fail.</summary>
[Trait("Category", "Privileged")]
public class KernelEnforcementTests
{
    private const int KilledBySigsys = 128 + 31;

    private static readonly Lazy<BpfProgram> Default = new(() => SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("default")));
    private static readonly Lazy<BpfProgram> Strict = new(() => SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("strict")));

    private static BpfProgram DefaultWith(string yamlRules)
    {
        var extra = SeccompProfileLoader.FromYaml($"default_action: allow\nrules:\n{yamlRules}", "extra.yaml");
        var @base = SeccompProfiles.GetBuiltIn("default");
        var names = extra.Rules.SelectMany(r => r.Names).ToHashSet();
        var kept = @base.Rules.Select(r => r with { Names = r.Names.Where(n => !names.Contains(n)).ToArray() }).Where(r => r.Names.Count > 0);
        return SeccompCompiler.Compile(@base with { Rules = [.. extra.Rules, .. kept] });
    }

    [BwrapFact]
    public void Default_AllowsAShell()
    {
        var result = Bwrap.Run(Default.Value, "/bin/sh", "-c", "echo hi; ls / >/dev/null && cat /proc/self/status | grep -c Seccomp");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.StartsWith("hi\n", result.Stdout);
    }

    [BwrapFact]
    public void Default_ReportsFilterMode2_InProcStatus()
    {
        var result = Bwrap.Run(Default.Value, "/bin/grep", "^Seccomp:", "/proc/self/status");
        Assert.Equal("Seccomp:\t2\n", result.Stdout);
    }

    [BwrapFact]
    public void Default_DeniesUnshare_WithEperm()
    {
        var result = Bwrap.Run(Default.Value, "/usr/bin/unshare", "-U", "/bin/true");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Operation not permitted", result.Stderr);
    }

    [BwrapFact]
    public void Default_DeniesCloneNewUser_AllowsPlainClone_AndClone3IsEnosys()
    {
        const string script = """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            r = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
            if r == 0: os._exit(0)
            print("clone-newuser", r, ctypes.get_errno())
            r = libc.syscall(435, 0, 0)
            print("clone3", r, ctypes.get_errno())
            pid = os.fork()
            if pid == 0: os._exit(7)
            print("fork", os.waitpid(pid, 0)[1] >> 8)
            print("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())
            """;
        var result = Bwrap.Run(Default.Value, Bwrap.Python, "-c", script);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("clone-newuser -1 1\nclone3 -1 38\nfork 7\nmount -1 1\n", result.Stdout);
    }

    [BwrapFact]
    public void CustomErrno_IsWhatTheCallerSees()
    {
        var program = DefaultWith("  - names: [mkdir, mkdirat]\n    action: errno(77)\n");
        const string script = """
            import os
            try:
                os.mkdir("/tmp/never-created-by-seccomp-test")
            except OSError as e:
                print(e.errno)
            """;
        var result = Bwrap.Run(program, Bwrap.Python, "-c", script);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("77\n", result.Stdout);
    }

    [BwrapFact]
    public void KillProcess_KillsWithSigsys()
    {
        var program = DefaultWith("  - names: [uname]\n    action: kill_process\n");
        var result = Bwrap.Run(program, "/bin/uname", "-a");
        Assert.Equal(KilledBySigsys, result.ExitCode);
        Assert.Equal("", result.Stdout);
    }

    [BwrapFact]
    public void X32Syscall_IsKilled()
    {
        var result = Bwrap.Run(Default.Value, Bwrap.Python, "-c", "import ctypes; ctypes.CDLL(None).syscall(0x40000000 + 39); print('survived')");
        Assert.Equal(KilledBySigsys, result.ExitCode);
        Assert.DoesNotContain("survived", result.Stdout);
    }

    [BwrapFact]
    public void ArgumentCondition_SelectsByValue()
    {
        // getpriority(which, who): allowed only for which == PRIO_PROCESS (0); PRIO_USER (2) gets errno 13
        var program = DefaultWith("""
              - names: [getpriority]
                action: allow
                args:
                  - { index: 0, op: eq, value: 0 }
              - names: [getpriority]
                action: errno(EACCES)

            """);
        const string script = """
            import os
            print(os.getpriority(os.PRIO_PROCESS, 0))
            try:
                os.getpriority(os.PRIO_USER, 0)
            except OSError as e:
                print(e.errno)
            """;
        var result = Bwrap.Run(program, Bwrap.Python, "-c", script);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("0\n13\n", result.Stdout);
    }

    [BwrapFact]
    public void Strict_RunsPythonAndShell_ButOnlyUnixSockets()
    {
        const string script = """
            import socket, subprocess, os, json, hashlib, threading
            t = threading.Thread(target=lambda: None); t.start(); t.join()
            a, b = socket.socketpair(socket.AF_UNIX)
            a.send(b"x"); print("unix", b.recv(1).decode())
            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                print("inet", e.errno)
            print(subprocess.run(["/bin/sh", "-c", "echo sh-ok"], capture_output=True, text=True).stdout.strip())
            """;
        var result = Bwrap.Run(Strict.Value, Bwrap.Python, "-c", script);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("unix x\ninet 97\nsh-ok\n", result.Stdout);
    }
}
