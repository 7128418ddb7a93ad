namespace Sandbox.Isolation.MicroVm;

/// <summary>The probe's verdict: the accelerator the tier uses here and why.</summary>
public sealed record AcceleratorProbeResult(Accelerator Accelerator, string Reason);

/// <summary>
/// KVM is used only where a real guest boots under it: /dev/kvm alone proves nothing (a nested PVM host exposes one
/// that cannot run a stock kernel). Without /dev/kvm, or without a vmx/svm CPU flag, the probe boot is skipped; else
/// the real guest is booted under -accel kvm with a short limit and must reach "agent ready". The verdict is cached
/// for the process and in a small file (keyed by host kernel, QEMU and guest kernel) so repeated CLI calls are quick.
/// </summary>
public sealed class AcceleratorProbe(Func<TimeSpan, CancellationToken, Task> kvmBoot, string cacheFile, string cacheKey, TimeSpan timeout)
{
    private readonly Lock _gate = new();
    private Task<AcceleratorProbeResult>? _running;
    private AcceleratorProbeResult? _result;

    /// <summary>One probe per process: concurrent callers share it; a caller's cancellation stops only its wait.</summary>
    public Task<AcceleratorProbeResult> RunAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _result) is { } known) return Task.FromResult(known);
        lock (_gate)
            _running ??= RunOnceAsync();
        return _running.WaitAsync(cancellationToken);
    }

    private async Task<AcceleratorProbeResult> RunOnceAsync()
    {
        var result = ReadCache() ?? await ProbeAsync(CancellationToken.None).ConfigureAwait(false);
        WriteCache(result);
        Volatile.Write(ref _result, result);
        return result;
    }

    /// <summary>Why KVM cannot be used without booting anything, or null when a probe boot must decide.</summary>
    public static string? StaticReason()
    {
        if (!File.Exists("/dev/kvm"))
            return "no /dev/kvm";
        var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        var words = flags.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries);
        if (!words.Contains("vmx") && !words.Contains("svm"))
            return "/dev/kvm exists but /proc/cpuinfo has no vmx/svm flag (nested PVM host?): probe boot skipped";
        return null;
    }

    private async Task<AcceleratorProbeResult> ProbeAsync(CancellationToken cancellationToken)
    {
        if (StaticReason() is { } why)
            return new(Accelerator.Tcg, why);
        var started = Environment.TickCount64;
        try
        {
            await kvmBoot(timeout, cancellationToken).ConfigureAwait(false);
            return new(Accelerator.Kvm, $"a guest booted under KVM to agent ready in {(Environment.TickCount64 - started) / 1000.0:0.00} s");
        }
        catch (SandboxException e)
        {
            var message = e.Message.Length > 300 ? e.Message[..300] + "..." : e.Message;
            return new(Accelerator.Tcg, $"probe boot under KVM failed: {message}");
        }
    }

    private AcceleratorProbeResult? ReadCache()
    {
        try
        {
            var lines = File.ReadAllLines(cacheFile);
            if (lines.Length >= 3 && lines[0] == cacheKey && Enum.TryParse<Accelerator>(lines[1], out var accel))
                return new(accel, lines[2] + " (cached)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    private void WriteCache(AcceleratorProbeResult result)
    {
        if (result.Reason.EndsWith(" (cached)", StringComparison.Ordinal)) return;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(cacheFile)!);
            var temp = cacheFile + "." + Environment.ProcessId + ".tmp";
            File.WriteAllLines(temp, [cacheKey, result.Accelerator.ToString(), result.Reason.ReplaceLineEndings(" ")]);
            File.Move(temp, cacheFile, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only cache only costs a probe per process.
        }
    }
}
