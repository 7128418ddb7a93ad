namespace Sandbox.Isolation.Container;

/// <summary>Hands each live sandbox its own unprivileged host uid, so the host sees sandboxed code as that uid
/// (never root) and two sandboxes never share one. Tracks the uids of this process only; the range is large and the
/// start random, so concurrent engine processes rarely meet.</summary>
internal sealed class HostUidAllocator(int baseUid, int count)
{
    private readonly HashSet<int> _used = [];
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
                if (_used.Add(uid))
                    return uid;
            }
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, "no free sandbox host uid");
        }
    }

    /// <summary>Marks a uid used that was handed out before a restart (a re-attached sandbox); false if it is taken.</summary>
    public bool Reserve(int uid)
    {
        lock (_lock)
            return _used.Add(uid);
    }

    public void Release(int uid)
    {
        lock (_lock)
            _used.Remove(uid);
    }
}
