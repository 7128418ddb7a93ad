using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Sandbox.Isolation.Native;
using Sandbox.SyscallFilter;

namespace Sandbox.Isolation.Container;

/// <summary>Compiled seccomp programs, one per (profile, extra syscalls): compiled once, reused by every sandbox.</summary>
internal static class SeccompPrograms
{
    private static readonly ConcurrentDictionary<string, BpfProgram> s_cache = new();

    /// <summary>Each program's bytes in one sealed memfd, made at its first launch and kept as long as the program (a
    /// cached one for the process's life): every launch then hands bwrap a read-only reopening of it instead of
    /// creating, filling and sealing a memfd of its own (its shmem pages and the copy were ~2 % of a one-shot run's
    /// CPU in perf, bench/sandboxd --sustained-only).</summary>
    private static readonly ConditionalWeakTable<BpfProgram, FileDescriptor> s_memfds = new();

    /// <summary>A descriptor of <paramref name="program"/>'s bytes for bwrap's <c>--seccomp</c>, read from offset 0;
    /// the caller closes it.</summary>
    public static FileDescriptor OpenForBwrap(BpfProgram program) =>
        SealedMemfd.Reopen(s_memfds.GetValue(program, p => SealedMemfd.Create("seccomp", p.ToBytes())));

    /// <param name="narrowing">A profile to intersect with (an OCI bundle's): compiled for this sandbox alone, not cached.</param>
    public static BpfProgram Get(string profileName, IReadOnlyList<string> extraSyscalls, SeccompProfile? narrowing = null)
    {
        if (narrowing is not null)
        {
            var ours = Profile(profileName, extraSyscalls);
            return Compile(() => SeccompIntersection.Intersect(ours, narrowing, $"{ours.Name}-narrowed-by-{narrowing.Name}"));
        }
        var key = profileName + "|" + string.Join(",", extraSyscalls.Order(StringComparer.Ordinal));
        return s_cache.GetOrAdd(key, _ => Compile(() => Profile(profileName, extraSyscalls)));
    }

    private static SeccompProfile Profile(string profileName, IReadOnlyList<string> extraSyscalls) =>
        Guarded(() => extraSyscalls.Count > 0 ? SeccompProfiles.GetBuiltIn(profileName).WithAllowedSyscalls(extraSyscalls) : SeccompProfiles.GetBuiltIn(profileName));

    /// <summary>A profile error is the caller's bad input.</summary>
    private static T Guarded<T>(Func<T> make)
    {
        try
        {
            return make();
        }
        catch (Exception e) when (e is SeccompProfileException or ArgumentException)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, e.Message, e);
        }
    }

    private static BpfProgram Compile(Func<SeccompProfile> make) => Guarded(() => SeccompCompiler.Compile(make()));
}
