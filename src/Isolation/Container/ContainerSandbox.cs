using System.Net.Sockets;
using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.IO;

namespace Sandbox.Isolation.Container;

/// <summary>A long-lived container: bwrap runs the agent, which execs processes and serves files on request over a
/// socket pair. Everything the agent answers is checked by <see cref="AgentClient"/>; limits are the cgroup's.</summary>
internal sealed class ContainerSandbox : ISandbox
{
    private const int ChunkBytes = 1 << 20;

    private readonly ContainerInstance _instance;
    private readonly AgentClient _agent;
    private readonly Socket _agentSocket;
    private readonly SandboxSpec _spec;
    private readonly CancellationTokenSource _disposing = new();
    private long _execCounter;
    private int _disposed;

    private readonly Socket _stderr;

    private readonly TailBuffer _stderrTail;

    public ContainerSandbox(ContainerInstance instance, AgentClient agent, Socket agentSocket, SandboxSpec spec, Socket stderr, TailBuffer stderrTail)
    {
        _stderrTail = stderrTail;
        _stderr = stderr;
        _instance = instance;
        _agent = agent;
        _agentSocket = agentSocket;
        _spec = spec;
    }

    public SandboxInfo Info => _instance.Info;

    internal ContainerInstance Instance => _instance;

    public async Task<ISandboxProcess> ExecAsync(ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SpecValidator.Validate(spec);
        AgentCalls.Diagnostics.Value = _stderrTail.ToString;
        var env = DefaultEnvironment.For(_spec, spec);
        var request = new ExecRequest
        {
            ExecId = "e" + Interlocked.Increment(ref _execCounter),
            Cwd = spec.WorkingDirectory ?? _spec.WorkDir,
            Stdin = io.Stdin is not null,
        };
        request.Argv.AddRange(spec.Argv);
        request.Env.AddRange(env.Select(kv => new EnvVar { Name = kv.Key, Value = kv.Value }));
        var oomBefore = _instance.Cgroup.OomKillCount();
        var response = await AgentCalls.RunAsync(() => _agent.ExecAsync(request, cancellationToken)).ConfigureAwait(false);
        return ContainerProcess.Start(_agent, request.ExecId, response.Pid, spec.Timeout ?? _spec.Limits.WallTime, _spec.Limits.OutputBytes,
            io, () => _instance.Cgroup.OomKillCount() > oomBefore, _disposing.Token);
    }

    public async Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken)
    {
        CheckPath(path);
        using var buffer = new MemoryStream();
        while (true)
        {
            var chunk = await AgentCalls.RunAsync(() => _agent.ReadFileAsync(
                new ReadFileRequest { Path = path, Offset = buffer.Length, MaxBytes = ChunkBytes }, cancellationToken)).ConfigureAwait(false);
            if (buffer.Length + chunk.Data.Length > maxBytes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"file '{path}' is larger than the {maxBytes}-byte read limit");
            chunk.Data.WriteTo(buffer);
            if (chunk.Eof || chunk.Data.IsEmpty)
                return buffer.ToArray();
        }
    }

    public async Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken)
    {
        CheckPath(path);
        var offset = 0;
        do
        {
            var length = Math.Min(ChunkBytes, content.Length - offset);
            var request = new WriteFileRequest
            {
                Path = path,
                Offset = offset,
                Data = ByteString.CopyFrom(content.Span.Slice(offset, length)),
                Mode = (uint)mode,
                Truncate = offset == 0,
            };
            await AgentCalls.RunAsync(() => _agent.WriteFileAsync(request, cancellationToken)).ConfigureAwait(false);
            offset += length;
        }
        while (offset < content.Length);
    }

    public Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken) => Task.FromResult(_instance.Cgroup.ReadStats());

    private static void CheckPath(string path)
    {
        var errors = new List<string>();
        SpecValidator.CheckSandboxPath(path, "path", errors);
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await _agent.ShutdownAsync(shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The agent is inside the boundary and may be dead or hostile; the cgroup kill below is what counts.
        }
        await _agent.DisposeAsync().ConfigureAwait(false);
        _agentSocket.Dispose();
        await _instance.DisposeAsync().ConfigureAwait(false);
        _stderr.Dispose();
        _disposing.Dispose();
    }
}
