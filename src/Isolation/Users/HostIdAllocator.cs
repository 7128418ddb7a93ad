namespace Sandbox.Isolation.Users;

/// <summary>Hands each live sandbox its own block of unprivileged host ids: <paramref name="blockCount"/> blocks of
/// <paramref name="blockSize"/> ids from <paramref name="baseId"/>, a block named by its first id: the container tier's
/// 65 536-wide uid range per sandbox (<see cref="UidRange"/>). Two live sandboxes never share a block — also across
/// engine processes (sandboxd, `sandbox run --local`, tests): a block is taken by holding an exclusive lock on
/// <c>{lockDirectory}/{firstId}.lock</c> for as long as this process uses it, so two processes handing out the same
/// ids (one sandbox able to signal and ptrace the other's processes) cannot happen while both are alive. Lock files are
/// never deleted (unlinking a lock file lets two holders lock different inodes of the same name).</summary>
/// <remarks>A sandbox that outlives its owner keeps running while no process holds its locks, until the restarted
/// owner takes them back with <see cref="Reserve"/>; in that gap another engine process sharing the range could be
/// given the same ids. Engines that outlive their owner should have ranges of their own.</remarks>
internal sealed class HostIdAllocator
{
    private readonly int _baseId;
    private readonly int _blockSize;
    private readonly int _blockCount;
    private readonly string? _lockDirectory;
    private readonly string _what;
    private readonly Dictionary<int, FileStream?> _used = [];
    private readonly Lock _lock = new();

    /// <param name="what">What a block is, for errors ("sandbox host uid", "sandbox uid range").</param>
    public HostIdAllocator(int baseId, int blockSize, int blockCount, string? lockDirectory, string what)
    {
        if (baseId < 1 || blockSize < 1 || blockCount < 1 || (long)baseId + (long)blockSize * blockCount > uint.MaxValue - 1)
            throw new ArgumentOutOfRangeException(nameof(baseId),
                $"{what}s: {blockCount} block(s) of {blockSize} from {baseId} must lie in [1, 4294967294)");
        _baseId = baseId;
        _blockSize = blockSize;
        _blockCount = blockCount;
        _lockDirectory = lockDirectory;
        _what = what;
    }

    public int BlockSize => _blockSize;

    /// <summary>The first id of a free block, now held by this process.</summary>
    public int Allocate()
    {
        lock (_lock)
        {
            if (_used.Count >= _blockCount)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"all {_blockCount} {_what}s from {_baseId} are in use");
            var start = Random.Shared.Next(_blockCount);
            for (var i = 0; i < _blockCount; i++)
            {
                var first = _baseId + (start + i) % _blockCount * _blockSize;
                if (!_used.ContainsKey(first) && TryLock(first, out var held))
                {
                    _used[first] = held;
                    return first;
                }
            }
            throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                $"no free {_what} in [{_baseId}, {(long)_baseId + (long)_blockSize * _blockCount}): the others are held by this or other engine processes ({_lockDirectory})");
        }
    }

    /// <summary>Marks a block used that was handed out before a restart (a re-attached sandbox); false if it is taken,
    /// here or by another process, or is not a block of this allocator.</summary>
    public bool Reserve(int first)
    {
        lock (_lock)
        {
            if (first < _baseId || (first - _baseId) % _blockSize != 0 || (first - _baseId) / _blockSize >= _blockCount)
                return false;
            if (_used.ContainsKey(first) || !TryLock(first, out var held))
                return false;
            _used[first] = held;
            return true;
        }
    }

    public void Release(int first)
    {
        lock (_lock)
        {
            if (_used.Remove(first, out var held))
                held?.Dispose();
        }
    }

    private bool TryLock(int first, out FileStream? held)
    {
        held = null;
        if (_lockDirectory is null)
            return true;
        Directory.CreateDirectory(_lockDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            // .NET takes flock(LOCK_EX | LOCK_NB) for FileShare.None on Unix: exclusive across processes, released
            // when this process closes it or dies.
            held = new FileStream(Path.Combine(_lockDirectory, first + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
