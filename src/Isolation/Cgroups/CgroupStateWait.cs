namespace Sandbox.Isolation.Cgroups;

/// <summary>Waits for a cgroup state the kernel reaches on its own (FROZEN after FREEZING): cgroup v1 has no event for
/// it, so it is polled, briefly and with a bound.</summary>
internal static class CgroupStateWait
{
    /// <param name="detail">What the error adds when the state is not reached (what the cgroup's tasks are doing).</param>
    public static async Task UntilAsync(Func<bool> reached, string what, TimeSpan timeout, CancellationToken cancellationToken,
        Func<string>? detail = null)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var delay = 1;
        while (!reached())
        {
            if (Environment.TickCount64 > deadline)
                throw new SandboxException(SandboxErrorCode.Unavailable,
                    $"{what} did not happen within {timeout.TotalSeconds:0.#} s{(detail?.Invoke() is { Length: > 0 } d ? "; " + d : "")}");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 20);
        }
    }
}
