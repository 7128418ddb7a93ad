using System.Diagnostics;

namespace Sandbox.Shim.Tests;

/// <summary>`ctr events` in the background: the topics containerd published, in order. ctr prints one line per event:
/// date, time, zone offset, zone, namespace, topic, payload.</summary>
public sealed class EventRecorder : IDisposable
{
    private readonly Process _ctr;
    private readonly List<string[]> _events = [];
    private readonly SemaphoreSlim _arrived = new(0);

    public EventRecorder(ContainerdFixture fixture)
    {
        var info = new ProcessStartInfo("/usr/bin/ctr") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--address", fixture.Socket, "-n", ContainerdFixture.Namespace, "events" })
            info.ArgumentList.Add(a);
        _ctr = Process.Start(info)!;
        _ctr.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Split(' ', 7, StringSplitOptions.RemoveEmptyEntries) is { Length: 7 } fields)
            {
                lock (_events)
                    _events.Add(fields);
                _arrived.Release();
            }
        };
        _ctr.BeginOutputReadLine();
        _ctr.BeginErrorReadLine();
    }

    /// <summary>The task topics that name the container, once <paramref name="last"/> arrived for it (events reach
    /// containerd after the RPC that caused them has answered), waiting at most <paramref name="timeout"/>.</summary>
    public Task<IReadOnlyList<string>> TaskTopicsUntilAsync(string containerId, string last, TimeSpan timeout) =>
        TaskTopicsUntilAsync(containerId, last, 1, timeout);

    /// <summary>As above, once <paramref name="last"/> arrived <paramref name="count"/> times.</summary>
    public async Task<IReadOnlyList<string>> TaskTopicsUntilAsync(string containerId, string last, int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (Topics(containerId).Count(t => t == last) < count)
        {
            try
            {
                await _arrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return Topics(containerId);
    }

    private List<string> Topics(string containerId)
    {
        lock (_events)
            return _events.Where(f => f[5].StartsWith("/tasks/", StringComparison.Ordinal) && f[6].Contains($"\"{containerId}\"", StringComparison.Ordinal))
                .Select(f => f[5]).ToList();
    }

    public void Dispose()
    {
        if (!_ctr.HasExited)
        {
            _ctr.Kill();
            _ctr.WaitForExit();
        }
        _ctr.Dispose();
        _arrived.Dispose();
    }
}
