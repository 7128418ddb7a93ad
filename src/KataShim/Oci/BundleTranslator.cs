using System.Text.Json;
using Sandbox.Core;
using Sandbox.Isolation;

namespace Sandbox.KataShim.Oci;

/// <summary>What a bundle asks for, in the engine's terms: the request Core hands to the policy, and the init process.
/// <paramref name="PodFiles"/>: the binds among <paramref name="Binds"/> that are CRI's generated /etc files of the pod
/// (left out on the microVM tier, see <see cref="CriMounts"/>); <paramref name="Notes"/>: what was accepted in another
/// form than asked (the shim logs each).</summary>
internal sealed record ContainerPlan(SandboxRequest Request, ProcessSpec Init, string RootfsPath, IReadOnlyDictionary<string, string> Annotations,
    IReadOnlyList<Rootfs.BindMount> Binds, IReadOnlyList<Rootfs.BindMount> PodFiles, IReadOnlyList<string> Notes)
{
    /// <summary>The CRI pod's labels (from containerd, not the bundle); empty for other containers.</summary>
    public IReadOnlyDictionary<string, string> PodLabels { get; init; } = new Dictionary<string, string>();
}

/// <summary>OCI bundle → Core request and process spec, in one pass that lists every problem. The rule: a field the
/// engine honours is carried over; a field whose effect the engine already has, or exceeds in strictness (fewer
/// capabilities, no device nodes, a read-only root, /proc and /sys paths masked), is accepted; anything else is an
/// error naming the field — never silently ignored. docs/shim.md lists each case.</summary>
internal static class BundleTranslator
{
    /// <summary>Mounts the engine provides itself (or leaves out, which hides more): destination → type.</summary>
    private static readonly Dictionary<string, string> EngineMounts = new(StringComparer.Ordinal)
    {
        ["/proc"] = "proc",
        ["/dev"] = "tmpfs",
        ["/dev/pts"] = "devpts",
        ["/dev/shm"] = "tmpfs",
        ["/dev/mqueue"] = "mqueue",
        ["/sys"] = "sysfs",
        ["/sys/fs/cgroup"] = "cgroup",
        ["/run"] = "tmpfs",
    };

    private static readonly HashSet<string> KnownNamespaces = ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"];

    /// <summary>Namespaces a bundle may ask to join (CRI: a pod's containers join the pause container's ipc and uts)
    /// that the sandbox gets as its own instead: stricter (nothing is shared with another container), and the path
    /// is never opened — under the shim it names a pid of the sandbox's view, not a host process.</summary>
    private static readonly HashSet<string> JoinableAsOwn = ["pid", "ipc", "uts", "cgroup"];

    public static OciSpec Read(string bundle)
    {
        var path = Path.Combine(bundle, "config.json");
        try
        {
            using var file = File.OpenRead(path);
            return JsonSerializer.Deserialize(file, OciJson.Default.OciSpec)
                ?? throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{path}: empty document");
        }
        catch (JsonException e)
        {
            // Disallowed (unknown) members land here too: the message names the member and its JSON path.
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{path}: {e.Message}");
        }
        catch (IOException e)
        {
            throw new SandboxException(SandboxErrorCode.NotFound, $"{path}: {e.Message}");
        }
    }

    /// <param name="podSandboxPid">The pid this shim reported for the CRI pod's sandbox (pause) container, when the
    /// bundle is an app container of a pod this shim runs: its network namespace path names that pid.</param>
    /// <param name="podNetworkNamespace">The network namespace path the pod's sandbox container joined (CNI's), when it
    /// joined one: an app container naming the pod's network joins that one.</param>
    public static ContainerPlan Translate(OciSpec spec, string bundle, int? podSandboxPid = null, string? podNetworkNamespace = null)
    {
        var errors = new List<string>();
        var notes = new List<string>();
        var annotations = spec.Annotations ?? new Dictionary<string, string>();
        var process = spec.Process;
        if (process is null)
            errors.Add("process is missing");
        var init = process is null ? null : ToProcess(process, "process", errors, notes);
        var rootfs = spec.Root is { Path.Length: > 0 } root
            ? (Path.IsPathRooted(root.Path) ? root.Path : Path.GetFullPath(Path.Combine(bundle, root.Path)))
            : null;
        if (rootfs is null)
            errors.Add("root.path is missing");
        if (!string.IsNullOrEmpty(spec.Domainname))
            errors.Add($"domainname '{spec.Domainname}' is not supported (the sandbox has its own UTS namespace with the hostname only)");
        if (spec.Hooks is { ValueKind: JsonValueKind.Object } hooks && hooks.EnumerateObject().Any(h => h.Value.ValueKind == JsonValueKind.Array && h.Value.GetArrayLength() > 0))
            errors.Add("hooks are not supported (no host code runs on the container's behalf)");
        var (binds, podFiles, scratch) = CheckMounts(spec.Mounts, annotations.GetValueOrDefault(ShimAnnotations.CriSandboxId), errors, notes);
        var (resources, netns) = CheckLinux(spec.Linux, podSandboxPid, podNetworkNamespace, errors, notes);
        var seccomp = ReadSeccomp(spec.Linux?.Seccomp, errors);
        var hostname = string.IsNullOrEmpty(spec.Hostname) ? null : spec.Hostname;
        if (errors.Count > 0 || init is null || rootfs is null)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"config.json: {string.Join("; ", errors)}");
        var request = new SandboxRequest
        {
            Rootfs = rootfs,
            Resources = resources,
            Hostname = hostname,
            Tier = TierHint(annotations),
            NarrowingSyscallProfile = seccomp,
            NetworkNamespace = netns,
            ScratchMounts = scratch,
            // CRI passes the pod's labels only as annotations it was configured to forward (pod_annotations):
            // they reach the policy there.
        };
        return new ContainerPlan(request, init, rootfs, annotations, binds, podFiles, notes);
    }

    /// <summary>The annotation <c>io.sandbox.tier</c> (microvm | container) is a hint the policy sees; anything else
    /// there is an error naming it.</summary>
    public static SandboxTier? TierHint(IReadOnlyDictionary<string, string> annotations) =>
        annotations.TryGetValue(ShimAnnotations.Tier, out var hint)
            ? hint switch
            {
                "container" => SandboxTier.Container,
                "microvm" => SandboxTier.MicroVm,
                "auto" or "" => null,
                _ => throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"annotation {ShimAnnotations.Tier}='{hint}' is not one of auto, container, microvm"),
            }
            : null;

    /// <summary>An OCI process (the init's, or an exec's JSON) → the engine's process spec; what is accepted in another
    /// form than asked goes to <paramref name="notes"/>.</summary>
    public static ProcessSpec ToProcess(OciProcess process, string where, List<string> errors, List<string> notes)
    {
        if (process.Args is not { Count: > 0 } args)
        {
            errors.Add($"{where}.args is empty: name the program to run");
            args = [];
        }
        if (!string.IsNullOrEmpty(process.CommandLine))
            errors.Add($"{where}.commandLine is Windows-only");
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in process.Env ?? [])
        {
            var eq = entry.IndexOf('=');
            if (eq <= 0)
                errors.Add($"{where}.env entry '{entry}' is not NAME=value");
            else
                env[entry[..eq]] = entry[(eq + 1)..];
        }
        foreach (var rlimit in process.Rlimits ?? [])
        {
            // The engine sets RLIMIT_NOFILE from its own limit (1024) and RLIMIT_CORE to 0; a lower bound asked for
            // is not granted, so only NOFILE at or above the engine's value is accepted.
            if (rlimit.Type != "RLIMIT_NOFILE")
                errors.Add($"{where}.rlimits {rlimit.Type} is not supported (the engine sets RLIMIT_NOFILE, RLIMIT_FSIZE and RLIMIT_CORE itself)");
            else if (rlimit.Soft < 1024 || rlimit.Hard < 1024)
                errors.Add($"{where}.rlimits RLIMIT_NOFILE {rlimit.Soft}/{rlimit.Hard} is below the engine's 1024");
        }
        if (!string.IsNullOrEmpty(process.ApparmorProfile))
            errors.Add($"{where}.apparmorProfile '{process.ApparmorProfile}' is not supported (the engine's seccomp filter and namespaces apply)");
        if (!string.IsNullOrEmpty(process.SelinuxLabel))
            errors.Add($"{where}.selinuxLabel is not supported");
        // CRI asks -998 for every pod's pause container and kubelet's values for the others. Like an unprivileged
        // runtime (root in a user namespace cannot lower it either), the value is not applied: the sandbox's processes
        // keep the shim's oom_score_adj, so a sandbox never makes itself harder to OOM-kill than its shim. Said in
        // the shim's log rather than refused, so pods run unchanged.
        if (process.OomScoreAdj is { } adj && adj != 0)
            notes.Add($"{where}.oomScoreAdj {adj} is not applied: the sandbox keeps the shim's oom_score_adj (a sandbox may not make itself harder to OOM-kill)");
        if (process.IoPriority is not null)
            errors.Add($"{where}.ioPriority is not supported");
        if (process.Scheduler is not null)
            errors.Add($"{where}.scheduler is not supported");
        if (process.ExecCPUAffinity is not null)
            errors.Add($"{where}.execCPUAffinity is not supported");
        if (process.User is { AdditionalGids.Count: > 0 } user && user.AdditionalGids.Any(g => g != user.Gid && g != 0))
            errors.Add($"{where}.user.additionalGids [{string.Join(", ", user.AdditionalGids)}] is not supported (the sandbox user has no supplementary groups)");
        if (!string.IsNullOrEmpty(process.Cwd) && process.Cwd[0] != '/')
            errors.Add($"{where}.cwd '{process.Cwd}' must be absolute");
        TerminalSize? tty = null;
        if (process.Terminal)
        {
            tty = process.ConsoleSize is { Height: > 0 and <= ushort.MaxValue, Width: > 0 and <= ushort.MaxValue } size
                ? new TerminalSize((int)size.Height, (int)size.Width)
                : TerminalSize.Default;
        }
        return new ProcessSpec
        {
            Argv = args,
            Env = env,
            WorkingDirectory = string.IsNullOrEmpty(process.Cwd) ? "/" : process.Cwd,
            Tty = tty,
            // containerd's processes run until they end or are killed: no wall-clock limit of our own beyond the
            // policy's grant (the engine clamps to it).
            Timeout = null,
        };
    }

    private static (List<Rootfs.BindMount> Binds, List<Rootfs.BindMount> PodFiles, List<ScratchMount> Scratch) CheckMounts(List<OciMount>? mounts, string? podId,
        List<string> errors, List<string> notes)
    {
        var binds = new List<Rootfs.BindMount>();
        var podFiles = new List<Rootfs.BindMount>();
        var scratch = new List<ScratchMount>();
        if (mounts is null)
            return (binds, podFiles, scratch);
        for (var i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            if (EngineMounts.TryGetValue(m.Destination, out var type) && (m.Type == type || (m.Type is null && m.Destination == "/sys/fs/cgroup")))
                continue; // the engine's own /proc, /dev, /dev/pts, tmpfs mounts; /sys and mqueue are left out
            var cri = CriMounts.Classify(m, i, podId, errors, notes);
            if (cri is CriMountHandling.ProvidedByEngine or CriMountHandling.Refused)
                continue;
            var errorsBefore = errors.Count;
            if (TmpfsMounts.Check(m, i, errors) is { } tmpfs)
                scratch.Add(tmpfs);
            else if (errors.Count > errorsBefore)
                continue;
            else if (Rootfs.BindMounts.Check(m, i, errors) is { } bind)
            {
                binds.Add(bind);
                if (cri == CriMountHandling.PodFile)
                    podFiles.Add(bind);
            }
            else if (errors.Count == errorsBefore)
                errors.Add($"mounts[{i}] ({m.Type} {m.Source} → {m.Destination}) is not supported: the engine provides /proc, /dev, /dev/pts, /dev/shm and /run itself and takes bind and tmpfs mounts besides");
        }
        return (binds, podFiles, scratch);
    }

    /// <summary>linux.seccomp, compiled by SyscallFilter: the sandbox runs under the intersection of the policy's
    /// profile and this one (a call passes only when both allow it), so the bundle can take syscalls away, never add.</summary>
    private static SyscallFilter.SeccompProfile? ReadSeccomp(JsonElement? seccomp, List<string> errors)
    {
        if (seccomp is not { ValueKind: JsonValueKind.Object } profile)
            return null;
        try
        {
            return SyscallFilter.SeccompProfileLoader.FromOciJson(profile.GetRawText(), "linux.seccomp");
        }
        catch (SyscallFilter.SeccompProfileException e)
        {
            errors.Add(e.Message);
            return null;
        }
    }

    /// <summary>linux.* → the limits asked of the policy and the network namespace to join (null: one of its own).</summary>
    private static (RequestedLimits Limits, string? Netns) CheckLinux(OciLinux? linux, int? podSandboxPid, string? podNetns,
        List<string> errors, List<string> notes)
    {
        if (linux is null)
            return (Unlimited(null, null, null), null);
        if (linux.UidMappings is { ValueKind: JsonValueKind.Array } um && um.GetArrayLength() > 0)
            errors.Add("linux.uidMappings is not supported (the engine maps the sandbox user to its own unprivileged host uid)");
        if (linux.GidMappings is { ValueKind: JsonValueKind.Array } gm && gm.GetArrayLength() > 0)
            errors.Add("linux.gidMappings is not supported (the engine maps the sandbox group to its own unprivileged host gid)");
        if (linux.Sysctl is { Count: > 0 } sysctl)
            errors.Add($"linux.sysctl ({string.Join(", ", sysctl.Keys)}) is not supported");
        if (linux.Devices is { ValueKind: JsonValueKind.Array } devices && devices.GetArrayLength() > 0)
            errors.Add("linux.devices is not supported (the sandbox's /dev holds null, zero, full, random, urandom, tty and its own pts only)");
        if (!string.IsNullOrEmpty(linux.RootfsPropagation))
            errors.Add($"linux.rootfsPropagation '{linux.RootfsPropagation}' is not supported");
        if (!string.IsNullOrEmpty(linux.MountLabel))
            errors.Add("linux.mountLabel is not supported");
        if (linux.IntelRdt is not null)
            errors.Add("linux.intelRdt is not supported");
        if (linux.Personality is not null)
            errors.Add("linux.personality is not supported");
        if (linux.TimeOffsets is not null)
            errors.Add("linux.timeOffsets is not supported");
        string? netns = null;
        var namespaces = linux.Namespaces ?? [];
        for (var i = 0; i < namespaces.Count; i++)
        {
            var ns = namespaces[i];
            if (!KnownNamespaces.Contains(ns.Type))
                errors.Add($"linux.namespaces[{i}] type '{ns.Type}' is not supported");
            else if (ns.Type == "network" && podSandboxPid is { } pod && ns.Path == $"/proc/{pod}/ns/net")
            {
                // CRI joins every app container to its pod's network namespace, named through the pause container's
                // pid as this shim reported it (a pid of the sandbox's view: the path is never opened). When the pod
                // joined an orchestrator's namespace (CNI), the container asks to join that same one (the policy
                // decides again, for this container); otherwise the pause container has the network the policy gave
                // it, and the app container gets its own the same way, sharing nothing (stricter).
                if (podNetns is not null)
                {
                    netns = podNetns;
                    notes.Add($"linux.namespaces[{i}] (network) path '{ns.Path}' is the pod's: the container joins the pod's network namespace {podNetns}");
                }
                else
                    notes.Add($"linux.namespaces[{i}] (network) path '{ns.Path}' is the pod's: the container gets the network namespace the policy gives it instead");
            }
            else if (ns.Type == "network" && ns.Path?.StartsWith("/proc/", StringComparison.Ordinal) == true)
                errors.Add($"linux.namespaces[{i}] (network) path '{ns.Path}' is not supported: a process's namespace is joined only as the pod's "
                    + "(its sandbox container's pid under this shim); name an orchestrator's network namespace mount instead");
            else if (ns.Type == "network" && !string.IsNullOrEmpty(ns.Path))
            {
                // An orchestrator's namespace (CRI: /var/run/netns/cni-… for the pod's sandbox container, set up by
                // CNI): the policy decides whether to join it, the engine checks it is a network namespace's own
                // mount and not the host's.
                if (netns is not null)
                    errors.Add($"linux.namespaces[{i}] (network) is given twice");
                netns = ns.Path;
            }
            else if (!string.IsNullOrEmpty(ns.Path) && !JoinableAsOwn.Contains(ns.Type))
                errors.Add($"linux.namespaces[{i}] ({ns.Type}) path '{ns.Path}' is not supported: every sandbox gets a {ns.Type} namespace of its own");
        }
        return (CheckResources(linux.Resources, "linux.resources", errors), netns);
    }

    /// <summary>linux.resources → the limits asked of the policy (which clamps them to the tenant's grant).</summary>
    public static RequestedLimits CheckResources(OciResources? r, string where, List<string> errors)
    {
        if (r is null)
            return Unlimited(null, null, null);
        // Device cgroup rules: the engine's /dev has a fixed handful of nodes and no process can create others (no
        // CAP_MKNOD), which is at least as strict as any rule list.
        if (r.BlockIO is { ValueKind: JsonValueKind.Object } bio && bio.EnumerateObject().Any())
            errors.Add($"{where}.blockIO is not supported");
        if (r.HugepageLimits is { ValueKind: JsonValueKind.Array } hp && hp.GetArrayLength() > 0)
            errors.Add($"{where}.hugepageLimits is not supported");
        if (r.Network is { ValueKind: JsonValueKind.Object } net && net.EnumerateObject().Any())
            errors.Add($"{where}.network is not supported");
        if (r.Rdma is { ValueKind: JsonValueKind.Object } rdma && rdma.EnumerateObject().Any())
            errors.Add($"{where}.rdma is not supported");
        if (r.Unified is { Count: > 0 } unified)
            errors.Add($"{where}.unified ({string.Join(", ", unified.Keys)}) is not supported");
        long? memoryMiB = null;
        if (r.Memory is { } m)
        {
            if (m.Limit is > 0 and var limit)
                memoryMiB = Math.Max(16, (limit + (1 << 20) - 1) >> 20);
            if (m.Reservation is > 0)
                errors.Add($"{where}.memory.reservation is not supported");
            if (m.Kernel is > 0 || m.KernelTCP is > 0)
                errors.Add($"{where}.memory.kernel/kernelTCP is not supported");
            if (m.DisableOOMKiller is true)
                errors.Add($"{where}.memory.disableOOMKiller is not supported");
            // swap: the engine turns swap off, which is stricter than any swap limit.
        }
        double? vcpus = null;
        if (r.Cpu is { } c)
        {
            if (c.Quota is > 0 and var quota)
                vcpus = (double)quota / (c.Period is > 0 and var p ? p : 100_000UL);
            if (!string.IsNullOrEmpty(c.Cpus) || !string.IsNullOrEmpty(c.Mems))
                errors.Add($"{where}.cpu.cpus/mems (cpuset) is not supported");
            if (c.RealtimeRuntime is > 0 || c.RealtimePeriod is > 0)
                errors.Add($"{where}.cpu.realtimeRuntime/realtimePeriod is not supported");
            // shares and burst are weights within the quota the policy grants: the quota applies.
        }
        int? pids = r.Pids is { Limit: > 0 } pl ? (int)Math.Min(pl.Limit, int.MaxValue) : null;
        return Unlimited(memoryMiB, vcpus, pids);
    }

    /// <summary>containerd's processes run until they end: the longest wall time and all the output the policy allows.</summary>
    private static RequestedLimits Unlimited(long? memoryMiB, double? vcpus, int? pids) =>
        new(MemoryMiB: memoryMiB, Vcpus: vcpus, Pids: pids, TimeoutS: ShimAnnotations.ContainerWallTimeS, OutputBytes: long.MaxValue / 4);
}
