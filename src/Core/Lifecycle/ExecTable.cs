using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>A process started through exec, while it runs.</summary>
public sealed record ExecRecord(int Pid, IReadOnlyList<string> Argv, bool Tty, DateTimeOffset StartedAt, SandboxService.RunningProcess Process);

/// <summary>The running execs of one sandbox, by pid (as the sandbox sees it). An exec leaves the table when its
/// process has exited, so a pid found here is never a recycled one that Core did not start.</summary>
public sealed class ExecTable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, ExecRecord> _byPid = [];

    /// <summary>Adds <paramref name="record"/> and removes it once its process completes.</summary>
    internal void Track(ExecRecord record)
    {
        lock (_lock)
            _byPid[record.Pid] = record;
        _ = record.Process.Completion.ContinueWith(_ =>
        {
            lock (_lock)
            {
                if (_byPid.TryGetValue(record.Pid, out var current) && ReferenceEquals(current, record))
                    _byPid.Remove(record.Pid);
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The running execs, oldest first.</summary>
    public IReadOnlyList<ExecRecord> List()
    {
        lock (_lock)
            return [.. _byPid.Values.OrderBy(r => r.StartedAt).ThenBy(r => r.Pid)];
    }

    /// <summary>The running exec with this pid; NotFound naming the pid when there is none.</summary>
    public ExecRecord Get(SandboxId sandbox, int pid)
    {
        lock (_lock)
        {
            return _byPid.TryGetValue(pid, out var r) ? r
                : throw new SandboxException(SandboxErrorCode.NotFound, $"sandbox {sandbox}: no running exec with pid {pid}");
        }
    }
}
