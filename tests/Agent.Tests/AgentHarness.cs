using System.Diagnostics;
using Sandbox.Isolation.Agent;
using Sandbox.Ttrpc;

namespace Sandbox.Agent.Tests;

/// <summary>An agent (in-process service, or a real sandbox-agent process) plus a client, with a temp root dir.</summary>
public abstract class AgentHarness : IAsyncDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("agent-root-").FullName;
    public AgentClient Client { get; protected set; } = null!;

    /// <summary>A raw ttrpc client on a second connection, to send what AgentClient refuses to (in-process only).</summary>
    public abstract TtrpcClient? RawClient { get; }

    public virtual async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        GC.SuppressFinalize(this);
    }
}

public sealed class InProcessAgent : AgentHarness
{
    private readonly AgentService _service;
    private readonly List<(Task Serving, Stream Stream)> _connections = [];
    private readonly TtrpcServer _server = new();
    private TtrpcClient? _raw;

    public InProcessAgent()
    {
        AgentLog.Quiet = true;
        _service = new AgentService(new AgentOptions { Root = Root, ReapAllChildren = false });
        _service.Register(_server);
        Client = AgentClient.Create(Connect());
    }

    private Stream Connect()
    {
        var (a, b) = Native.SocketPair();
        var serverStream = Native.Stream(b);
        _connections.Add((_server.ServeConnectionAsync(serverStream), serverStream));
        return Native.Stream(a);
    }

    public override TtrpcClient RawClient => _raw ??= new TtrpcClient(Connect());

    public override async ValueTask DisposeAsync()
    {
        if (_raw is not null) await _raw.DisposeAsync();
        await base.DisposeAsync();
        foreach (var (serving, stream) in _connections)
        {
            await serving.WaitAsync(TimeSpan.FromSeconds(60));
            await stream.DisposeAsync();
        }
        _service.Dispose();
    }
}

/// <summary>
/// The built agent as a real process: the native binary from env SANDBOX_AGENT when set, else the JIT build output
/// (sandbox-agent.dll) through `dotnet exec`. It gets one end of a socketpair as an inherited fd.
/// </summary>
public sealed class OutOfProcessAgent : AgentHarness
{
    public Process Process { get; }

    public OutOfProcessAgent()
    {
        var (mine, theirs) = Native.SocketPair(inheritB: true);
        var psi = new ProcessStartInfo { UseShellExecute = false, RedirectStandardError = false };
        string? native = Environment.GetEnvironmentVariable("SANDBOX_AGENT");
        if (!string.IsNullOrEmpty(native))
        {
            psi.FileName = native;
        }
        else
        {
            psi.FileName = Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath : "dotnet";
            psi.ArgumentList.Add("exec");
            psi.ArgumentList.Add(FindAgentDll());
        }
        foreach (var a in new[] { "--fd", theirs.ToString(), "--root", Root, "--quiet" }) psi.ArgumentList.Add(a);
        try
        {
            Process = Process.Start(psi)!;
        }
        finally
        {
            Native.close(theirs); // the child has its copy
        }
        Client = AgentClient.Create(Native.Stream(mine));
    }

    public override TtrpcClient? RawClient => null;

    internal static string FindAgentDll()
    {
        // The referenced project's output is copied next to the tests; its runtimeconfig may not be: prefer the
        // agent project's own output folder, same configuration.
        var baseDir = AppContext.BaseDirectory;
        string config = baseDir.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        for (var dir = new DirectoryInfo(baseDir); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Agent", "bin", config, "net10.0", "sandbox-agent.dll");
            if (File.Exists(candidate) && File.Exists(Path.ChangeExtension(candidate, ".runtimeconfig.json"))) return candidate;
        }
        var local = Path.Combine(baseDir, "sandbox-agent.dll");
        if (File.Exists(Path.ChangeExtension(local, ".runtimeconfig.json"))) return local;
        throw new FileNotFoundException("sandbox-agent.dll (with its runtimeconfig.json) not found; build src/Agent first");
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        // Generous: a JIT-compiled agent exiting on a loaded, shared 2-core host has taken seconds.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await Process.WaitForExitAsync(cts.Token); // the agent exits when the host closes the connection
        }
        catch (OperationCanceledException)
        {
            Process.Kill();
            throw new TimeoutException("the agent did not exit after the connection closed");
        }
        finally
        {
            Process.Dispose();
        }
    }
}
