using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// QEMU asks for transparent huge pages on its TCG translation buffer and its guest RAM (MADV_HUGEPAGE): a cold boot's
/// anonymous guest RAM would then be taken in 2 MiB pages (memory the guest never touched), so QEMUs that boot are
/// spawned with THP off; a restored clone's may keep it for its translation buffer
/// (<see cref="MicroVmOptions.TranslationBufferHugePages"/>: its guest RAM is the template's memfd). PR_SET_THP_DISABLE is
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
