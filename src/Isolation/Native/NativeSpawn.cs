using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>Starts a program with posix_spawn: no managed code runs between fork and exec (glibc uses
/// clone(CLONE_VM|CLONE_VFORK)). The child gets exactly the descriptors listed in <c>fds</c> at the numbers given, a
/// clean signal mask and default dispositions (.NET ignores SIGPIPE, which exec would otherwise pass on), and every
/// other descriptor is closed whatever its close-on-exec bit.</summary>
internal static unsafe class NativeSpawn
{
    public readonly record struct FdMapping(int SourceFd, int TargetFd);

    public static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp,
        IReadOnlyList<FdMapping> fds, bool newSession)
    {
        var arena = new NativeArena();
        var actions = NativeMemory.AllocZeroed(Libc.PosixSpawnStructSize);
        var attr = NativeMemory.AllocZeroed(Libc.PosixSpawnStructSize);
        var sigset = NativeMemory.AllocZeroed(Libc.SigSetSize);
        try
        {
            Check(Libc.PosixSpawnFileActionsInit(actions), "posix_spawn_file_actions_init");
            Check(Libc.PosixSpawnAttrInit(attr), "posix_spawnattr_init");
            try
            {
                AddFdActions(actions, fds);
                short flags = Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSIGDEF;
                if (newSession)
                    flags |= Libc.POSIX_SPAWN_SETSID;
                Check(Libc.PosixSpawnAttrSetFlags(attr, flags), "posix_spawnattr_setflags");
                Libc.SigEmptySet(sigset);
                Check(Libc.PosixSpawnAttrSetSigMask(attr, sigset), "posix_spawnattr_setsigmask");
                Libc.SigFillSet(sigset);
                Check(Libc.PosixSpawnAttrSetSigDefault(attr, sigset), "posix_spawnattr_setsigdefault");

                var err = Libc.PosixSpawn(out var pid, arena.String(path), actions, attr, arena.StringArray(argv), arena.StringArray(envp));
                if (err != 0)
                    throw new SandboxException(SandboxErrorCode.Unavailable,
                        $"cannot start {path}: {Marshal.GetPInvokeErrorMessage(err)} (errno {err})");
                return pid;
            }
            finally
            {
                Libc.PosixSpawnFileActionsDestroy(actions);
                Libc.PosixSpawnAttrDestroy(attr);
            }
        }
        finally
        {
            NativeMemory.Free(actions);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigset);
            arena.Dispose();
        }
    }

    /// <summary>Source descriptors may sit on the numbers other mappings target, so each source is first copied above
    /// every source and target, then moved to its target; the parking copies are closed, then everything above the
    /// highest target.</summary>
    private static void AddFdActions(void* actions, IReadOnlyList<FdMapping> fds)
    {
        var park = 0;
        foreach (var m in fds)
            park = Math.Max(park, Math.Max(m.SourceFd, m.TargetFd));
        park++;
        for (var i = 0; i < fds.Count; i++)
            Check(Libc.PosixSpawnFileActionsAddDup2(actions, fds[i].SourceFd, park + i), "adddup2");
        var highestTarget = 2;
        for (var i = 0; i < fds.Count; i++)
        {
            Check(Libc.PosixSpawnFileActionsAddDup2(actions, park + i, fds[i].TargetFd), "adddup2");
            highestTarget = Math.Max(highestTarget, fds[i].TargetFd);
        }
        Check(Libc.PosixSpawnFileActionsAddCloseFrom(actions, highestTarget + 1), "addclosefrom_np");
    }

    private static void Check(int err, string what)
    {
        if (err != 0)
            throw new SandboxException(SandboxErrorCode.Internal, $"{what} failed: {Marshal.GetPInvokeErrorMessage(err)}");
    }

    /// <summary>NUL-terminated UTF-8 strings and pointer arrays in native memory, freed together.</summary>
    private sealed class NativeArena : IDisposable
    {
        private readonly List<nint> _blocks = [];

        public byte* String(string s)
        {
            if (s.Contains('\0'))
                throw new SandboxException(SandboxErrorCode.InvalidArgument, "argument or environment string contains a NUL byte");
            var count = Encoding.UTF8.GetByteCount(s);
            var p = (byte*)NativeMemory.Alloc((nuint)count + 1);
            _blocks.Add((nint)p);
            Encoding.UTF8.GetBytes(s, new Span<byte>(p, count));
            p[count] = 0;
            return p;
        }

        public byte** StringArray(IReadOnlyList<string> items)
        {
            var array = (byte**)NativeMemory.AllocZeroed((nuint)(items.Count + 1), (nuint)sizeof(nint));
            _blocks.Add((nint)array);
            for (var i = 0; i < items.Count; i++)
                array[i] = String(items[i]);
            return array;
        }

        public void Dispose()
        {
            foreach (var b in _blocks)
                NativeMemory.Free((void*)b);
            _blocks.Clear();
        }
    }
}
