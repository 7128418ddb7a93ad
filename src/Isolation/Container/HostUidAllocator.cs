namespace Sandbox.Isolation.Container;

/// <summary>Hands each live sandbox its own unprivileged host uid, so the host sees sandboxed code as that uid
/// (never root) and two sandboxes never share one — also across engine processes (sandboxd, `sandbox run --local`,
/// tests): a uid is taken by holding an exclusive lock on <c>{lockDirectory}/{uid}.lock</c> for as long as this process
/// uses it, so two processes handing out the same uid (one sandbox able to signal and ptrace the other's processes)
/// cannot happen while both are alive. Lock files are never deleted (unlinking a lock file lets two holders lock
/// different inodes of the same name).</summary>
/// <remarks>A sandbox that outlives its owner keeps running while no process holds its uid's lock, until the
/// restarted owner takes it back with <see cref="Reserve"/>; in that gap another engine process sharing the range could
/// be given the same uid. Engines that outlive their owner should have a uid range of their own.</remarks>
internal sealed class HostUidAllocator(int baseUid, int count, string? lockDirectory = null)
{
    /// <summary>The default lock directory: under /run, so the locks of a previous boot are gone with it.</summary>
    public const string DefaultLockDirectory = "/run/sandbox/uids";

    private readonly Dictionary<int, FileStream?> _used = [];
    private readonly Lock _lock = new();

    public int Allocate()
    {
        lock (_lock)
        {
            if (_used.Count >= count)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"all {count} sandbox host uids from {baseUid} are in use");
            var start = Random.Shared.Next(count);
            for (var i = 0; i < count; i++)
            {
                var uid = baseUid + (start + i) % count;
                if (!_used.ContainsKey(uid) && TryLock(uid, out var held))
                {
                    _used[uid] = held;
                    return uid;
                }
            }
            throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                $"no free sandbox host uid in [{baseUid}, {baseUid + count}): the others are held by this or other engine processes ({lockDirectory})");
        }
    }

    /// <summary>Marks a uid used that was handed out before a restart (a re-attached sandbox); false if it is taken,
    /// here or by another process.</summary>
    public bool Reserve(int uid)
    {
        lock (_lock)
        {
            if (_used.ContainsKey(uid) || !TryLock(uid, out var held))
                return false;
            _used[uid] = held;
            return true;
        }
    }

    public void Release(int uid)
    {
        lock (_lock)
        {
            if (_used.Remove(uid, out var held))
                held?.Dispose();
        }
    }

    private bool TryLock(int uid, out FileStream? held)
    {
        held = null;
        if (lockDirectory is null)
            return true;
        Directory.CreateDirectory(lockDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            // .NET takes flock(LOCK_EX | LOCK_NB) for FileShare.None on Unix: exclusive across processes, released
            // when this process closes it or dies.
            held = new FileStream(Path.Combine(lockDirectory, uid + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
