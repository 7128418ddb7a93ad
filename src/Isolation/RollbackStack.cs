namespace Sandbox.Isolation;

/// <summary>Undo for partial work: disposes what was pushed, in reverse order, unless <see cref="Commit"/> was
/// called (ownership moved to the finished object). The C# form of containerd's <c>defer if retErr != nil</c>.</summary>
internal sealed class RollbackStack : IAsyncDisposable
{
    private readonly Stack<Func<ValueTask>> _undo = new();
    private bool _committed;

    public void Push(IAsyncDisposable item) => _undo.Push(item.DisposeAsync);

    public void Push(IDisposable item) => _undo.Push(() => { item.Dispose(); return ValueTask.CompletedTask; });

    public void Push(Action undo) => _undo.Push(() => { undo(); return ValueTask.CompletedTask; });

    public void Commit() => _committed = true;

    public async ValueTask DisposeAsync()
    {
        if (_committed)
            return;
        List<Exception>? failures = null;
        while (_undo.TryPop(out var undo))
        {
            try
            {
                await undo().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                (failures ??= []).Add(e);
            }
        }
        // The exception that made the start fail is the one the caller must see: throwing here would replace it.
        // What could not be undone is kept for the owner to report (and the cgroup janitor removes what is left).
        Failures = failures ?? [];
    }

    /// <summary>What could not be undone, after a rollback.</summary>
    public IReadOnlyList<Exception> Failures { get; private set; } = [];
}
