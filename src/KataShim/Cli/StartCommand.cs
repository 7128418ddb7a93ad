using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;

namespace Sandbox.KataShim.Cli;

/// <summary>`start`: containerd reads everything this prints (stdout and stderr together) as the address to dial, and
/// waits for EOF on that pipe. So: find or spawn the daemon of the container's group, write `address` into the bundle,
/// print only the address, in the form the caller understands (<see cref="StartOutput"/>), exit 0; the daemon never inherits containerd's pipe (all three of its
/// standard streams are our own pipes).</summary>
internal static class StartCommand
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(ShimArguments args)
    {
        // The runtime options (an Any, or 2.3's BootstrapParams) arrive on stdin; they come again in
        // CreateTaskRequest.options. Bounded: nothing there is large.
        var stdin = new MemoryStream();
        await Console.OpenStandardInput().CopyToAsync(stdin).ConfigureAwait(false);
        if (stdin.Length > 1 << 20)
        {
            await Console.Error.WriteAsync($"start: {stdin.Length} bytes of options on stdin (at most 1 MiB)").ConfigureAwait(false);
            return 1;
        }
        var bundle = args.Bundle.Length > 0 ? args.Bundle : Directory.GetCurrentDirectory();
        var group = ShimSocketAddress.GroupId(args.Id, ReadAnnotations(bundle));
        var socket = ShimSocketAddress.For(args.Address, args.Namespace, group);
        if (!await IsServingAsync(socket).ConfigureAwait(false))
        {
            if (File.Exists(socket))
                File.Delete(socket); // stale: its daemon is gone
            var failure = await SpawnDaemonAsync(args, socket, bundle).ConfigureAwait(false);
            // Two containers of one pod started at once: the other start's daemon won the socket.
            if (failure is not null && !await IsServingAsync(socket).ConfigureAwait(false))
            {
                await Console.Error.WriteAsync($"shim daemon did not start: {failure}").ConfigureAwait(false);
                return 1;
            }
        }
        var address = "unix://" + socket;
        var temp = Path.Combine(bundle, ".address");
        await File.WriteAllTextAsync(temp, address).ConfigureAwait(false);
        File.Move(temp, Path.Combine(bundle, "address"), overwrite: true);
        var environment = new Dictionary<string, string?> { ["MAX_SHIM_VERSION"] = Environment.GetEnvironmentVariable("MAX_SHIM_VERSION") };
        await Console.Out.WriteAsync(StartOutput.Format(address, environment, stdin.GetBuffer().AsSpan(0, (int)stdin.Length), args.Id, args.Namespace))
            .ConfigureAwait(false);
        return 0;
    }

    /// <summary>Spawns the daemon and waits for its one line; null when it said "ok", else what went wrong.</summary>
    private static async Task<string?> SpawnDaemonAsync(ShimArguments args, string socket, string bundle)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath ?? throw new InvalidOperationException("the shim's own path is unknown"))
        {
            WorkingDirectory = bundle,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-namespace", args.Namespace, "-id", args.Id, "-address", args.Address, "-publish-binary", args.PublishBinary, "-socket", socket })
            info.ArgumentList.Add(a);
        if (args.Debug)
            info.ArgumentList.Add("-debug");
        using var daemon = Process.Start(info) ?? throw new InvalidOperationException("the shim daemon did not start");
        daemon.StandardInput.Close();
        string? line;
        try
        {
            line = await daemon.StandardOutput.ReadLineAsync().WaitAsync(ReadyTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            daemon.Kill();
            return $"no answer within {ReadyTimeout.TotalSeconds:0} s";
        }
        if (line == "ok")
            return null;
        if (!daemon.HasExited)
            daemon.Kill();
        return line ?? "it exited before saying it was ready";
    }

    private static async Task<bool> IsServingAsync(string path)
    {
        if (!File.Exists(path))
            return false;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(path)).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Only the annotations (the group); the whole spec is read, strictly, by Create.</summary>
    private static Dictionary<string, string> ReadAnnotations(string bundle)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(bundle, "config.json")));
            if (doc.RootElement.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object)
            {
                foreach (var a in annotations.EnumerateObject())
                {
                    if (a.Value.ValueKind == JsonValueKind.String)
                        result[a.Name] = a.Value.GetString()!;
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            // No readable spec: the container is its own group; Create reports the spec's problem.
        }
        return result;
    }
}
