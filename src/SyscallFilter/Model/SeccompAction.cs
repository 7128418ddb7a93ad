namespace Sandbox.SyscallFilter;

/// <summary>What the kernel does when a rule (or the default) decides a syscall.</summary>
public enum SeccompActionKind
{
    /// <summary>SECCOMP_RET_ALLOW: run the syscall.</summary>
    Allow,
    /// <summary>SECCOMP_RET_ERRNO: fail the syscall with <see cref="SeccompAction.Errno"/>, without running it.</summary>
    Errno,
    /// <summary>SECCOMP_RET_KILL_PROCESS: kill the whole process with SIGSYS (exit status 128+31 = 159).</summary>
    KillProcess,
    /// <summary>SECCOMP_RET_KILL_THREAD: kill only the calling thread.</summary>
    KillThread,
    /// <summary>SECCOMP_RET_TRAP: deliver SIGSYS to the caller.</summary>
    Trap,
    /// <summary>SECCOMP_RET_LOG: run the syscall and log it to the audit log.</summary>
    Log,
}

/// <summary>An action with its data: <c>allow</c>, <c>errno(N)</c>, <c>kill_process</c>, <c>kill_thread</c>, <c>trap</c>, <c>log</c>.</summary>
public readonly record struct SeccompAction
{
    /// <summary>Largest errno a filter may return (the kernel's MAX_ERRNO).</summary>
    public const int MaxErrno = 4095;

    private SeccompAction(SeccompActionKind kind, int errno)
    {
        Kind = kind;
        Errno = errno;
    }

    public SeccompActionKind Kind { get; }

    /// <summary>The errno returned for <see cref="SeccompActionKind.Errno"/>; 0 for every other kind.</summary>
    public int Errno { get; }

    public static SeccompAction Allow { get; } = new(SeccompActionKind.Allow, 0);
    public static SeccompAction KillProcess { get; } = new(SeccompActionKind.KillProcess, 0);
    public static SeccompAction KillThread { get; } = new(SeccompActionKind.KillThread, 0);
    public static SeccompAction Trap { get; } = new(SeccompActionKind.Trap, 0);
    public static SeccompAction Log { get; } = new(SeccompActionKind.Log, 0);

    /// <summary>errno(N). The range [1, 4095] is checked by validation, not here, so a loader can report every bad value at once.</summary>
    public static SeccompAction FailWith(int errno) => new(SeccompActionKind.Errno, errno);

    /// <summary>The 32-bit SECCOMP_RET_* value a BPF program returns for this action.</summary>
    public uint ToReturnValue() => Kind switch
    {
        SeccompActionKind.Allow => 0x7fff0000u,
        SeccompActionKind.Errno => 0x00050000u | ((uint)Errno & 0xffffu),
        SeccompActionKind.KillProcess => 0x80000000u,
        SeccompActionKind.KillThread => 0x00000000u,
        SeccompActionKind.Trap => 0x00030000u,
        SeccompActionKind.Log => 0x7ffc0000u,
        _ => throw new InvalidOperationException($"unknown seccomp action kind {Kind}"),
    };

    /// <summary>The profile spelling: <c>allow</c>, <c>errno(1)</c>, <c>kill_process</c>...</summary>
    public override string ToString() => Kind switch
    {
        SeccompActionKind.Allow => "allow",
        SeccompActionKind.Errno => $"errno({Errno})",
        SeccompActionKind.KillProcess => "kill_process",
        SeccompActionKind.KillThread => "kill_thread",
        SeccompActionKind.Trap => "trap",
        SeccompActionKind.Log => "log",
        _ => Kind.ToString(),
    };
}
