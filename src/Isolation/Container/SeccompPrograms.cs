using System.Collections.Concurrent;
using Sandbox.SyscallFilter;

namespace Sandbox.Isolation.Container;

/// <summary>Compiled seccomp programs, one per (profile, extra syscalls): compiled once, reused by every sandbox.</summary>
internal static class SeccompPrograms
{
    private static readonly ConcurrentDictionary<string, BpfProgram> s_cache = new();

    public static BpfProgram Get(string profileName, IReadOnlyList<string> extraSyscalls)
    {
        var key = profileName + "|" + string.Join(",", extraSyscalls.Order(StringComparer.Ordinal));
        return s_cache.GetOrAdd(key, _ =>
        {
            SeccompProfile profile;
            try
            {
                profile = SeccompProfiles.GetBuiltIn(profileName);
                if (extraSyscalls.Count > 0)
                    profile = profile.WithAllowedSyscalls(extraSyscalls);
            }
            catch (Exception e) when (e is SeccompProfileException or ArgumentException)
            {
                throw new SandboxException(SandboxErrorCode.InvalidArgument, e.Message, e);
            }
            return SeccompCompiler.Compile(profile);
        });
    }
}
