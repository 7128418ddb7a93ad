namespace Sandbox.SandboxApi.Hosting;

/// <summary>systemd socket activation (sd_listen_fds): when LISTEN_PID is this process and LISTEN_FDS ≥ 1, the
/// listening socket is fd 3 (SD_LISTEN_FDS_START). The variables are then removed so children do not inherit them.</summary>
internal static class SystemdSocket
{
    private const int ListenFdsStart = 3;

    public static int? TryGetListenFd()
    {
        var pid = Environment.GetEnvironmentVariable("LISTEN_PID");
        var fds = Environment.GetEnvironmentVariable("LISTEN_FDS");
        if (pid is null || fds is null || !int.TryParse(pid, out var p) || p != Environment.ProcessId || !int.TryParse(fds, out var n) || n < 1)
            return null;
        Environment.SetEnvironmentVariable("LISTEN_PID", null);
        Environment.SetEnvironmentVariable("LISTEN_FDS", null);
        Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);
        return ListenFdsStart;
    }
}
