using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>What a microVM guest's workload process is born with: the cgroup it starts in (a descriptor of its
/// directory), the identity it takes (<see cref="WorkloadCredentials"/>: none, or guest root's few capabilities) and
/// the sandbox's seccomp program. <see cref="SpawnConfinement.Spawn{T}"/> hands one to the spawn; null outside a guest.</summary>
internal sealed record GuestBirth(int CgroupFd, WorkloadUser User, byte[] Seccomp);

/// <summary>
/// A guest's spawn (<c>src/Agent/Native/guest-spawn.c</c>, linked into the agent): one clone3 with CLONE_VM, CLONE_VFORK
/// and CLONE_INTO_CGROUP, whose child confines itself (ids, capabilities, no_new_privs, seccomp) before its file
/// actions and execve. Instead of the agent moving all its threads into the workload cgroup and back around a
/// posix_spawn from a thread that took the workload's identity: under TCG those moves and that thread were ~5 ms of an
/// exec (docs/microvm-bench.md, fifth round), and no agent thread ever changes its credentials now.
/// </summary>
internal static unsafe partial class GuestSpawn
{
    /// <summary>The library name the agent's project binds to the object it links in (DirectPInvoke).</summary>
    private const string Library = "sandbox-guest-spawn";

    /// <summary>struct guest_spawn (guest-spawn.c): keep the two alike.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Request
    {
        public byte* Path;
        public byte** Argv;
        public byte** Envp;
        public byte* Cwd;
        public byte* TtyPath;
        public int StdinFd;
        public int StdoutFd;
        public int StderrFd;
        public int CgroupFd;
        public uint Uid;
        public uint Gid;
        public ulong KeepCapabilities;
        public byte* Seccomp;
        public uint SeccompLength;
        public byte* FailedStep;
        public int Error;
    }

    [LibraryImport(Library, EntryPoint = "sandbox_guest_spawn")]
    private static partial int sandbox_guest_spawn(Request* request, int* pid);

    /// <summary>Starts <paramref name="path"/> as <paramref name="birth"/> says. Returns 0 with <paramref name="pid"/>
    /// set, or an errno value of the file actions or the exec (as posix_spawn would); a confinement step that fails
    /// throws.</summary>
    /// <param name="ttyPath">The pty slave the child opens as 0, 1 and 2 (its controlling terminal); null: the fds.</param>
    /// <param name="stdinFd">-1: /dev/null.</param>
    public static int Run(GuestBirth birth, byte* path, byte** argv, byte** envp, byte* cwd, byte* ttyPath, int stdinFd, int stdoutFd, int stderrFd, int* pid)
    {
        fixed (byte* seccomp = birth.Seccomp)
        {
            var request = new Request
            {
                Path = path, Argv = argv, Envp = envp, Cwd = cwd, TtyPath = ttyPath,
                StdinFd = stdinFd, StdoutFd = stdoutFd, StderrFd = stderrFd, CgroupFd = birth.CgroupFd,
                Uid = birth.User.Uid, Gid = birth.User.Gid,
                KeepCapabilities = birth.User.Uid == 0 ? WorkloadCredentials.GuestRootMask : 0,
                Seccomp = seccomp, SeccompLength = (uint)(birth.Seccomp.Length / GuestConfinement.SockFilterBytes),
            };
            int rc = sandbox_guest_spawn(&request, pid);
            if (rc != 0 && request.FailedStep is not null)
                throw new TtrpcException(StatusCode.Internal,
                    $"confining the new process: {Marshal.PtrToStringUTF8((nint)request.FailedStep)}: {Errno.Name(rc)}");
            return rc;
        }
    }
}
