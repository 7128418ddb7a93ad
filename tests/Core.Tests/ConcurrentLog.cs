using System.Collections;

namespace Sandbox.Core.Tests;

/// <summary>A list a fake driver appends to from Core's background loops (the pool fills and replaces sandboxes while a
/// test reads): every read is a snapshot taken under a lock, so a test never enumerates a list being added to.</summary>
internal sealed class ConcurrentLog<T> : IReadOnlyList<T>
{
    private readonly List<T> _items = [];

    public void Add(T item)
    {
        lock (_items)
            _items.Add(item);
    }

    public int Count
    {
        get
        {
            lock (_items)
                return _items.Count;
        }
    }

    public T this[int index]
    {
        get
        {
            lock (_items)
                return _items[index];
        }
    }

    public IEnumerator<T> GetEnumerator()
    {
        T[] snapshot;
        lock (_items)
            snapshot = [.. _items];
        return ((IEnumerable<T>)snapshot).GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
