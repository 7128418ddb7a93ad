using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// QEMU asks for transparent huge pages on its TCG translation buffer (MADV_HUGEPAGE), which TCG splits into regions
/// and touches at each region's start: on a host whose THP mode is "madvise" or "always" every touched region then
/// costs a whole 2 MiB page, 16 MiB of private memory per idle VM here, most of it never used. PR_SET_THP_DISABLE is
/// kept across fork and execve, so it is set on this process while QEMU's jail is spawned (and cleared when no spawn
/// is under way): bwrap, setpriv and QEMU start with huge pages off. It is process-wide: a container spawned in the
/// same instant starts without THP too, which changes nothing but its page size.
/// </summary>
internal static class NoTransparentHugePages
{
    private static readonly Lock s_lock = new();
    private static int s_spawning;

    public static async Task<T> AroundSpawnAsync<T>(Func<Task<T>> spawn)
    {
        lock (s_lock)
        {
            if (s_spawning++ == 0)
                Libc.Prctl(Libc.PR_SET_THP_DISABLE, 1, 0, 0, 0); // EINVAL on a kernel without THP: nothing to turn off
        }
        try
        {
            return await spawn().ConfigureAwait(false);
        }
        finally
        {
            lock (s_lock)
            {
                if (--s_spawning == 0)
                    Libc.Prctl(Libc.PR_SET_THP_DISABLE, 0, 0, 0, 0);
            }
        }
    }
}
