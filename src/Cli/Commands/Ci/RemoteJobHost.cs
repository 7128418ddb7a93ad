using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.CiRunner.Execution;
using Sandbox.Core;
using Sandbox.Isolation;
using ProtoTier = Sandbox.Api.V1.Tier;
using NetworkMode = Sandbox.Api.V1.NetworkMode;
using Accelerator = Sandbox.Api.V1.Accelerator;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>Job sandboxes from sandboxd (the default path of `sandbox ci`): the same request Core would get, sent over
/// the API; files cross as streams (WriteArchive/ReadArchive tar streams in 1 MiB messages, ReadFile chunks), never as
/// whole-file buffers; process output arrives as it is printed. sandboxd's own policy and tenant decide.</summary>
internal sealed class RemoteJobHost(Sandboxes.SandboxesClient client) : IJobSandboxHost
{
    private const int ChunkBytes = 1 << 20;

    public async Task<SandboxDecisionSummary> ExplainAsync(SandboxRequest request, CancellationToken cancellationToken)
    {
        var e = await Call(() => client.ExplainPolicyAsync(ToProto(request), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return new SandboxDecisionSummary(e.Allow, TierName(e.Tier), e.Network?.Mode == NetworkMode.Egress ? "egress" : "none", [.. e.Network?.Egress ?? []],
            e.Limits?.MemoryMib ?? 0, e.Limits?.Cpus ?? 0, e.Limits?.Pids ?? 0, (long)(e.Limits?.Timeout?.ToTimeSpan().TotalSeconds ?? 0), e.SyscallProfile, [.. e.Reasons]);
    }

    public async Task<IJobSandbox> CreateAsync(SandboxRequest request, CancellationToken cancellationToken)
    {
        var sandbox = await Call(() => client.CreateSandboxAsync(ToProto(request), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return new RemoteJobSandbox(client, sandbox);
    }

    private static CreateSandboxRequest ToProto(SandboxRequest r)
    {
        var p = new CreateSandboxRequest
        {
            Tier = r.Tier switch { SandboxTier.Container => ProtoTier.Container, SandboxTier.MicroVm => ProtoTier.Microvm, _ => ProtoTier.Unspecified },
            Image = r.Image ?? "",
            Workdir = r.WorkDir ?? "",
            CodeProvenance = r.CodeProvenance ?? "",
            Resources = new Resources(),
        };
        if (r.Untrusted is { } u) p.Untrusted = u;
        if (r.User is { } user) p.User = user;
        if (r.NetworkOf is { } of) p.NetworkOf = of;
        p.LoopbackNames.AddRange(r.LoopbackNames);
        if (r.Resources.MemoryMiB is { } m) p.Resources.MemoryMib = m;
        if (r.Resources.Vcpus is { } c) p.Resources.Vcpus = c;
        if (r.Resources.DiskMiB is { } d) p.Resources.DiskMib = d;
        if (r.Resources.TimeoutS is { } t) p.Resources.Timeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(t));
        if (r.Ttl is { } ttl) p.Ttl = Duration.FromTimeSpan(ttl);
        if (r.Egress.Count > 0)
        {
            p.Network = new Network { Mode = NetworkMode.Egress };
            p.Network.Egress.AddRange(r.Egress);
        }
        foreach (var (k, v) in r.Env) p.Env[k] = v;
        foreach (var (k, v) in r.Labels) p.Labels[k] = v;
        return p;
    }

    private static string TierName(ProtoTier tier) => tier == ProtoTier.Microvm ? "microvm" : "container";

    /// <summary>sandboxd's errors as the engine's: the CI runner reports them on the job like Core's.</summary>
    internal static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw new SandboxException(e.StatusCode switch
            {
                StatusCode.NotFound => SandboxErrorCode.NotFound,
                StatusCode.InvalidArgument => SandboxErrorCode.InvalidArgument,
                StatusCode.ResourceExhausted => SandboxErrorCode.ResourceExhausted,
                StatusCode.FailedPrecondition => SandboxErrorCode.FailedPrecondition,
                StatusCode.PermissionDenied => SandboxErrorCode.PermissionDenied,
                StatusCode.Unavailable => SandboxErrorCode.Unavailable,
                StatusCode.Unimplemented => SandboxErrorCode.Unimplemented,
                _ => SandboxErrorCode.Internal,
            }, $"sandboxd: {e.Status.Detail}", e);
        }
        catch (RpcException e)
        {
            throw new OperationCanceledException(e.Status.Detail, e);
        }
    }

    private sealed class RemoteJobSandbox(Sandboxes.SandboxesClient client, Api.V1.Sandbox sandbox) : IJobSandbox
    {
        private int _disposed;

        public string Id => sandbox.Id;

        public string TierDescription => sandbox.Tier == ProtoTier.Microvm
            ? $"microvm ({(sandbox.Accelerator == Accelerator.Kvm ? "kvm" : "tcg")})"
            : "container";

        public IReadOnlyList<string> NetworkGranted => sandbox.NetworkGranted;

        public Task<ExitStatus> RunAsync(ProcessSpec process, Stream stdout, Stream stderr, CancellationToken cancellationToken) => Call(async () =>
        {
            var start = new ProcessStart { Cwd = process.WorkingDirectory ?? "" };
            start.Argv.AddRange(process.Argv);
            foreach (var (k, v) in process.Env) start.Env[k] = v;
            if (process.Timeout is { } t) start.Timeout = Duration.FromTimeSpan(t);
            using var call = client.Exec(cancellationToken: CancellationToken.None);
            await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = sandbox.Id, Process = start } }, cancellationToken).ConfigureAwait(false);
            // Cancelling kills the process (SIGKILL) and still reads its exit, as Core's ExecAsync does.
            await using var kill = cancellationToken.Register(() => _ = call.RequestStream.WriteAsync(new ExecRequest { Signal = new Api.V1.Signal { Number = 9 } }));
            while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                var ev = call.ResponseStream.Current;
                switch (ev.EventCase)
                {
                    case ExecEvent.EventOneofCase.Stdout: await stdout.WriteAsync(ev.Stdout.Memory, CancellationToken.None).ConfigureAwait(false); break;
                    case ExecEvent.EventOneofCase.Stderr: await stderr.WriteAsync(ev.Stderr.Memory, CancellationToken.None).ConfigureAwait(false); break;
                    case ExecEvent.EventOneofCase.Exit:
                        var x = ev.Exit;
                        cancellationToken.ThrowIfCancellationRequested();
                        return new ExitStatus
                        {
                            ExitCode = x.ExitCode,
                            Signal = x.Signal,
                            OomKilled = x.OomKilled,
                            TimedOut = x.TimedOut,
                            OutputTruncated = x.Truncated,
                            Duration = x.Duration?.ToTimeSpan() ?? TimeSpan.Zero,
                        };
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            throw new SandboxException(SandboxErrorCode.Internal, $"sandboxd ended the exec in sandbox {sandbox.Id} without an exit status");
        });

        public async Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken)
        {
            using var ms = new MemoryStream();
            await ReadFileToAsync(path, ms, maxBytes, cancellationToken).ConfigureAwait(false);
            return ms.ToArray();
        }

        public Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken) => Call(async () =>
        {
            using var call = client.ReadFile(new ReadFileRequest { SandboxId = sandbox.Id, Path = path }, cancellationToken: cancellationToken);
            long total = 0;
            while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                var data = call.ResponseStream.Current.Data;
                total += data.Length;
                if (total > maxBytes)
                    throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{path} is larger than {maxBytes} bytes");
                await destination.WriteAsync(data.Memory, cancellationToken).ConfigureAwait(false);
            }
            return total;
        });

        public async Task<SandboxFileEntry?> StatAsync(string path, CancellationToken cancellationToken)
        {
            try
            {
                var e = await Call(() => client.StatFileAsync(new StatFileRequest { SandboxId = sandbox.Id, Path = path }, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
                var kind = e.Kind switch
                {
                    FileEntry.Types.Kind.File => SandboxFileKind.File,
                    FileEntry.Types.Kind.Directory => SandboxFileKind.Directory,
                    FileEntry.Types.Kind.Symlink => SandboxFileKind.Symlink,
                    _ => SandboxFileKind.Other,
                };
                return new SandboxFileEntry(e.Name, kind, e.Size, (int)e.Mode, e.ModifyTime?.ToDateTimeOffset() ?? default, e.SymlinkTarget.Length > 0 ? e.SymlinkTarget : null);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound)
            {
                return null;
            }
        }

        public Task ImportTarAsync(string directory, Stream tar, CancellationToken cancellationToken) => Call(async () =>
        {
            using var call = client.WriteArchive(cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new WriteArchiveRequest { Header = new WriteArchiveHeader { SandboxId = sandbox.Id, Path = directory } }, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[ChunkBytes];
            int n;
            while ((n = await tar.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                await call.RequestStream.WriteAsync(new WriteArchiveRequest { Data = ByteString.CopyFrom(buffer, 0, n) }, cancellationToken).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return await call.ResponseAsync.ConfigureAwait(false);
        });

        public Task ExportTarAsync(string directory, Stream tar, CancellationToken cancellationToken) => Call(async () =>
        {
            using var call = client.ReadArchive(new ReadArchiveRequest { SandboxId = sandbox.Id, Path = directory }, cancellationToken: cancellationToken);
            while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                await tar.WriteAsync(call.ResponseStream.Current.Data.Memory, cancellationToken).ConfigureAwait(false);
            return true;
        });

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            await Call(() => client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sandbox.Id, AllowMissing = true }).ResponseAsync).ConfigureAwait(false);
        }
    }
}
