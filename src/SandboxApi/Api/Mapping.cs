using Proto = Sandbox.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Api.V1;
using Sandbox.Isolation;
using Sandbox.Core;
using ProtoTier = Sandbox.Api.V1.Tier;
using SandboxState = Sandbox.Api.V1.SandboxState;

namespace Sandbox.SandboxApi.Api;

/// <summary>Proto ↔ domain, in one place. Parsing throws SandboxException(InvalidArgument) naming the field.</summary>
internal static class Mapping
{
    public const int MaxLabels = 64;

    public static SandboxId ParseId(string value, string field = "id") =>
        SandboxId.TryParse(value, out var id) ? id
            : throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{field} '{(value.Length > 80 ? value[..80] + "..." : value)}' is not a sandbox id (1-64 characters of [a-z0-9-])");

    public static SandboxRequest ToDomain(CreateSandboxRequest r, bool ephemeral = false)
    {
        var errors = new List<string>();
        if (r.Rootfs.Length > 0 && !Path.IsPathFullyQualified(r.Rootfs))
            errors.Add($"rootfs '{r.Rootfs}' must be an absolute host directory (or empty for the host's userland)");
        if (r.Ttl is { } ttl && !IsPositive(ttl))
            errors.Add($"ttl {Describe(ttl)} must be positive (or unset for the server default)");
        if (r.RequestId.Length > 64 || r.RequestId.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_')))
            errors.Add($"request_id '{(r.RequestId.Length > 64 ? r.RequestId[..64] + "..." : r.RequestId)}' must be at most 64 of [A-Za-z0-9_-]");
        if (r.Labels.Count > MaxLabels)
            errors.Add($"labels: {r.Labels.Count} labels, at most {MaxLabels}");
        foreach (var (k, v) in r.Labels)
        {
            if (k.Length is 0 or > 63 || v.Length > 256)
                errors.Add($"labels['{(k.Length > 63 ? k[..63] + "..." : k)}']: keys must be 1-63 characters and values at most 256");
        }
        var res = r.Resources ?? new Resources();
        if (res.MemoryMib < 0 || res.Vcpus < 0 || double.IsNaN(res.Vcpus) || res.Pids < 0 || res.DiskMib < 0 || res.OutputBytes < 0)
            errors.Add("resources: values must not be negative (0 = the policy's default)");
        if (res.Timeout is { } timeout && !IsPositive(timeout))
            errors.Add($"resources.timeout {Describe(timeout)} must be positive (or unset for the policy's default)");
        if (r.CodeProvenance is not ("" or "tenant" or "fork" or "unknown"))
            errors.Add($"code_provenance '{r.CodeProvenance}' is not one of tenant, fork, unknown");
        if (r.SyscallProfile.Length > 64 || r.SyscallProfile.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_')))
            errors.Add($"syscall_profile '{(r.SyscallProfile.Length > 64 ? r.SyscallProfile[..64] + "..." : r.SyscallProfile)}' is not a profile name (at most 64 of [A-Za-z0-9_-])");
        if (r.Workdir.Length > 0 && !r.Workdir.StartsWith('/'))
            errors.Add($"workdir '{r.Workdir}' must be absolute");
        if (r.Network is { } net)
        {
            if (net.Mode is not (Proto.NetworkMode.Unspecified or Proto.NetworkMode.None or Proto.NetworkMode.Egress))
                errors.Add($"network.mode {(int)net.Mode} is not a known mode");
            else if (net.Mode != Proto.NetworkMode.Egress && (net.Egress.Count > 0 || net.Publish.Count > 0))
                errors.Add("network.egress and network.publish need network.mode EGRESS");
            foreach (var entry in net.Egress)
                CollectError(errors, () => Isolation.Network.EgressRule.Parse(entry));
            foreach (var port in net.Publish)
                CollectError(errors, () => Isolation.Network.PublishedPort.Parse(port));
        }
        if (r.NetworkOf.Length > 0)
        {
            if (!SandboxId.TryParse(r.NetworkOf, out _))
                errors.Add($"network_of '{(r.NetworkOf.Length > 80 ? r.NetworkOf[..80] + "..." : r.NetworkOf)}' is not a sandbox id (1-64 characters of [a-z0-9-])");
            if (r.Network is { Mode: Proto.NetworkMode.Egress })
                errors.Add("network_of and network.mode EGRESS exclude each other: a sandbox that joins another's network gets that network, none of its own");
        }
        if (r.LoopbackNames.Count > Isolation.SpecValidator.MaxLoopbackNames)
            errors.Add($"loopback_names: {r.LoopbackNames.Count} names, at most {Isolation.SpecValidator.MaxLoopbackNames}");
        if (r.Tier is not (ProtoTier.Unspecified or ProtoTier.Container or ProtoTier.Microvm))
            errors.Add($"tier {(int)r.Tier} is not a known tier");
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
        return new SandboxRequest
        {
            Tier = r.Tier switch { ProtoTier.Container => SandboxTier.Container, ProtoTier.Microvm => SandboxTier.MicroVm, _ => null },
            Rootfs = r.Rootfs.Length > 0 ? r.Rootfs : null,
            Image = r.Image.Length > 0 ? r.Image : null,
            Resources = new RequestedLimits(
                Positive(res.MemoryMib), res.Vcpus > 0 ? res.Vcpus : null, Positive(res.Pids), Positive(res.DiskMib),
                res.Timeout is { } t && IsPositive(t) ? WholeSeconds(t) : null, Positive(res.OutputBytes)),
            Egress = r.Network is { Mode: Proto.NetworkMode.Egress } n ? [.. n.Egress] : [],
            Publish = r.Network is { Mode: Proto.NetworkMode.Egress } p ? [.. p.Publish] : [],
            NetworkMode = r.Network is { Mode: Proto.NetworkMode.Egress } ? Sandbox.Policy.NetworkModes.Egress : null,
            Env = new Dictionary<string, string>(r.Env),
            Labels = ephemeral ? new Dictionary<string, string>() : new Dictionary<string, string>(r.Labels),
            Ttl = r.Ttl is { } ttlValue && !ephemeral ? ttlValue.ToTimeSpan() : null,
            WorkDir = r.Workdir.Length > 0 ? r.Workdir : null,
            User = r.User.Length > 0 ? r.User : null,
            Syscalls = [.. r.Syscalls],
            // Fail-safe: silence about trust is not trust (Core reads null as untrusted code of unknown provenance).
            Untrusted = r.HasUntrusted ? r.Untrusted : null,
            CodeProvenance = r.CodeProvenance.Length > 0 ? r.CodeProvenance : null,
            SyscallProfile = r.SyscallProfile.Length > 0 ? r.SyscallProfile : null,
            // Core checks the rest: the caller's own tenant's sandbox (another's is NotFound), running, the same tier,
            // and that joining grants nothing the policy would not grant this request itself.
            NetworkOf = r.NetworkOf.Length > 0 ? r.NetworkOf : null,
            LoopbackNames = [.. r.LoopbackNames],
        };
    }

    private static void CollectError(List<string> errors, Action parse)
    {
        try { parse(); }
        catch (SandboxException e) { errors.Add(e.Message); }
    }

    private static long? Positive(long v) => v > 0 ? v : null;

    private static bool IsPositive(Duration d) => d.Seconds > 0 || (d.Seconds == 0 && d.Nanos > 0);

    /// <summary>Whole seconds, rounded up (limits are applied in seconds).</summary>
    private static int WholeSeconds(Duration d) => (int)Math.Min(int.MaxValue, d.Seconds + (d.Nanos > 0 ? 1 : 0));

    private static string Describe(Duration d) => $"{d.Seconds}s{(d.Nanos != 0 ? $"+{d.Nanos}ns" : "")}";

    /// <summary>A Duration from a TimeSpan, null for null (unset on the wire).</summary>
    public static Duration? ToProto(TimeSpan? t) => t is { } v ? Duration.FromTimeSpan(v) : null;
    private static int? Positive(int v) => v > 0 ? v : null;

    public static ProcessSpec ToDomain(ProcessStart? p)
    {
        // An empty argv is the image's Entrypoint + Cmd (Core refuses it for a sandbox without an image).
        if (p is null)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "process is missing: it must name a program (or an empty argv for the image's command)");
        if (p.Argv.Count > 0 && p.Argv[0].Length == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "process.argv[0] is empty: it must name a program");
        if (p.Timeout is { } timeout && !IsPositive(timeout))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"process.timeout {Describe(timeout)} must be positive (or unset for the sandbox's limit)");
        TerminalSize? tty = null;
        if (p.Tty)
        {
            var size = p.WindowSize is { } w ? ToDomain(w, "process.window_size") : TerminalSize.Default;
            tty = size;
        }
        return new ProcessSpec
        {
            Argv = [.. p.Argv],
            Env = new Dictionary<string, string>(p.Env),
            WorkingDirectory = p.Cwd.Length > 0 ? p.Cwd : null,
            Timeout = p.Timeout?.ToTimeSpan(),
            Tty = tty,
            User = p.User.Length > 0 ? p.User : null,
        };
    }

    public static TerminalSize ToDomain(WindowSize w, string field) =>
        w.Rows is >= 1 and <= ushort.MaxValue && w.Cols is >= 1 and <= ushort.MaxValue
            ? new TerminalSize((int)w.Rows, (int)w.Cols)
            : throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{field} {w.Rows}x{w.Cols}: rows and cols must be 1..65535");

    public static ProtoTier ToProto(SandboxTier tier) => tier == SandboxTier.MicroVm ? ProtoTier.Microvm : ProtoTier.Container;

    public static Proto.Sandbox ToProto(SandboxEntry e)
    {
        var s = new Proto.Sandbox
        {
            Id = e.Id.Value,
            Tenant = e.Tenant,
            State = e.State switch
            {
                Core.SandboxState.Creating => SandboxState.Creating,
                Core.SandboxState.Running => SandboxState.Running,
                Core.SandboxState.Paused => SandboxState.Paused,
                Core.SandboxState.Stopping => SandboxState.Stopping,
                Core.SandboxState.Exited or Core.SandboxState.Deleted => SandboxState.Stopped,
                _ => SandboxState.Failed,
            },
            Tier = ToProto(e.Tier),
            PolicyDecisionId = e.Decision.DecisionId,
            CreateTime = Timestamp.FromDateTimeOffset(e.CreatedAt),
            StateDetail = e.StateDetail ?? "",
        };
        s.PolicyReasons.AddRange(e.Decision.Reasons);
        foreach (var (k, v) in e.Labels)
            s.Labels[k] = v;
        if (e.ExpiresAt is { } x)
            s.ExpireTime = Timestamp.FromDateTimeOffset(x);
        if (e.Info is { } info)
        {
            s.Accelerator = info.Accelerator switch { Isolation.Accelerator.Kvm => Proto.Accelerator.Kvm, Isolation.Accelerator.Tcg => Proto.Accelerator.Tcg, _ => Proto.Accelerator.Unspecified };
            s.Limits = ToProto(info.Limits);
            s.SyscallProfile = info.SyscallProfile;
            s.SeccompDigest = info.SeccompDigest;
            s.Namespaces.AddRange(info.Namespaces);
            s.NetworkGranted.AddRange(info.Egress);
        }
        return s;
    }

    public static Limits ToProto(Isolation.ResourceLimits l) => new()
    {
        MemoryMib = l.MemoryMiB,
        Cpus = l.Cpus,
        Pids = l.PidsMax,
        DiskMib = l.DiskMiB,
        Timeout = ToProto(l.WallTime),
        OutputBytes = l.OutputBytes,
    };

    public static PolicyExplanation ToProto(Sandbox.Policy.PolicyDecision d)
    {
        var e = new PolicyExplanation
        {
            Allow = d.Allow,
            Tier = d.Isolation switch { Sandbox.Policy.IsolationTiers.Container => ProtoTier.Container, Sandbox.Policy.IsolationTiers.MicroVm => ProtoTier.Microvm, _ => ProtoTier.Unspecified },
            Limits = new Limits { MemoryMib = d.Resources.MemoryMiB, Cpus = d.Resources.Vcpus, Pids = d.Resources.Pids, DiskMib = d.Resources.DiskMiB, Timeout = d.Resources.TimeoutSeconds > 0 ? Duration.FromTimeSpan(TimeSpan.FromSeconds(d.Resources.TimeoutSeconds)) : null },
            Network = new Network { Mode = d.Network.Mode == Sandbox.Policy.NetworkModes.Egress ? Proto.NetworkMode.Egress : Proto.NetworkMode.None },
            SyscallProfile = d.SyscallProfile.Name,
            DecisionId = d.DecisionId,
            BundleRevision = d.BundleRevision ?? "",
            RequireHardwareVirtualization = d.RequireHardwareVirtualization,
        };
        e.Network.Egress.AddRange(d.Network.Egress);
        e.Network.Publish.AddRange(d.Network.Publish);
        e.ExtraSyscalls.AddRange(d.SyscallProfile.Add);
        e.Reasons.AddRange(d.Reasons);
        return e;
    }

    public static LifecycleEvent ToProto(SandboxEvent e)
    {
        var proto = new LifecycleEvent
        {
            Kind = e.Kind switch
            {
                SandboxEventKind.Created => LifecycleEvent.Types.Kind.Created,
                SandboxEventKind.Started => LifecycleEvent.Types.Kind.Started,
                SandboxEventKind.Exited => LifecycleEvent.Types.Kind.Exited,
                SandboxEventKind.Oom => LifecycleEvent.Types.Kind.Oom,
                SandboxEventKind.Paused => LifecycleEvent.Types.Kind.Paused,
                SandboxEventKind.Resumed => LifecycleEvent.Types.Kind.Resumed,
                SandboxEventKind.Deleted => LifecycleEvent.Types.Kind.Deleted,
                _ => LifecycleEvent.Types.Kind.Unspecified,
            },
            SandboxId = e.Id.Value,
            Tier = ToProto(e.Tier),
            EventTime = Timestamp.FromDateTimeOffset(e.Time),
            Detail = e.Detail ?? "",
        };
        if (e.Status is { } status)
            proto.Exit = ToProto(status);
        return proto;
    }

    public static FileEntry ToProto(SandboxFileEntry e) => new()
    {
        Name = e.Name,
        Kind = e.Kind switch
        {
            SandboxFileKind.File => FileEntry.Types.Kind.File,
            SandboxFileKind.Directory => FileEntry.Types.Kind.Directory,
            SandboxFileKind.Symlink => FileEntry.Types.Kind.Symlink,
            _ => FileEntry.Types.Kind.Other,
        },
        Size = e.Size,
        Mode = (uint)e.Mode,
        ModifyTime = Timestamp.FromDateTimeOffset(e.Modified),
        SymlinkTarget = e.SymlinkTarget ?? "",
    };

    public static Exit ToProto(ExitStatus s) => new()
    {
        ExitCode = s.ExitCode,
        Signal = s.Signal,
        OomKilled = s.OomKilled,
        TimedOut = s.TimedOut,
        Truncated = s.OutputTruncated,
        CpuTime = Duration.FromTimeSpan(s.Usage.CpuTime),
        PeakMemoryBytes = s.Usage.PeakMemoryBytes,
        Duration = Duration.FromTimeSpan(s.Duration),
    };
}
