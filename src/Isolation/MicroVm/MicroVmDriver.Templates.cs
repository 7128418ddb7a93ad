using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.MicroVm.Initramfs;
using Sandbox.Isolation.MicroVm.Kernel;

namespace Sandbox.Isolation.MicroVm;

/// <summary>Snapshot templates: building one, restoring a VM from it, and the cold-boot fallback when none can be had.</summary>
public sealed partial class MicroVmDriver
{
    /// <summary>Builds (or finds) the snapshot template the sandboxes of this spec would restore from; progress and
    /// the outcome go to <paramref name="progress"/>. For `sandbox template build` and ahead-of-time warm-up.</summary>
    public async Task<SnapshotTemplate> BuildTemplateAsync(SandboxSpec spec, Action<string>? progress, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(spec);
        HostMount.Refuse(spec, "are 9p shares, which a snapshot template cannot hold");
        if (spec.ScratchMounts.Count > 0)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, "tmpfs mounts are made at a cold boot's set-up, not in a snapshot template");
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory, _options.MinimalKernel);
        var layout = GuestRootfs.Build(spec.Rootfs, spec.WorkDir, _options.GuestUid, _options.CacheDirectory, _options.MkfsErofsPath);
        var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, AgentBundle.Locate(_options.AgentDirectory), layout.Features);
        var ramMiB = GuestRamMiB(spec.Limits);
        var (key, identity) = TemplateKey(accel.Accelerator, kernel, initrd, ramMiB, layout, spec.WorkDir);
        if (_templates.TryGet(key) is { } existing)
        {
            progress?.Invoke($"template {key} is already built: {existing.Directory}");
            return existing;
        }
        progress?.Invoke($"building template {key} (accel {accel.Accelerator}, {ramMiB} MiB, {_options.VCpus} vCPU): booting the guest...");
        var template = await _templates.GetOrBuildAsync(key, identity,
            (dir, ct) => BuildTemplateIntoAsync(dir, accel.Accelerator, kernel, initrd, ramMiB, layout, spec.WorkDir, progress, ct),
            _options.BootTimeout * 2, cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"template {key} ready: {template.Directory}");
        return template;
    }

    /// <summary>A VM for a sandbox: restored from the snapshot template of its exact machine (built on first use,
    /// under the template's lock) or, when the template cannot be built, cold-booted with the reason logged.</summary>
    /// <param name="setUpBehindPing">The sandbox's set-up call, sent right behind the VM's readiness ping
    /// (<see cref="MicroVmInstance.PendingSetUp"/>), restored or cold-booted.</param>
    private async Task<(MicroVmInstance Vm, string? Template)> StartAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd,
        long ramMiB, GuestRootfs.Layout layout, string workDir, bool persistent, CancellationToken cancellationToken,
        Func<AgentClient, Task>? setUpBehindPing = null)
    {
        if (_options.SnapshotTemplates)
        {
            var (key, identity) = TemplateKey(accel, kernel, initrd, ramMiB, layout, workDir);
            var template = _templates.TryGet(key);
            if (template is null && !RecentlyFailed(key))
            {
                try
                {
                    template = await _templates.GetOrBuildAsync(key, identity,
                        (dir, ct) => BuildTemplateIntoAsync(dir, accel, kernel, initrd, ramMiB, layout, workDir, null, ct),
                        _options.BootTimeout * 2, cancellationToken).ConfigureAwait(false);
                    if (_templates.Prune(_options.TemplateMaxIdle, keep: key) is > 0 and var pruned)
                        MicroVmDriverLog.TemplatesPruned(_logger, pruned, Math.Round(_options.TemplateMaxIdle.TotalDays, 1));
                }
                catch (Exception e) when ((e is SandboxException or IOException or UnauthorizedAccessException) && !cancellationToken.IsCancellationRequested)
                {
                    _templateFailures[key] = (_time.GetUtcNow(), e.Message);
                    MicroVmDriverLog.TemplateBuildFailed(_logger, key, e.Message);
                }
            }
            if (template is not null)
            {
                _templates.Touch(template);
                try
                {
                    var vm = await RestoreAsync(id, template, accel, kernel, initrd, ramMiB, layout, persistent, setUpBehindPing, cancellationToken)
                        .ConfigureAwait(false);
                    return (vm, template.Key);
                }
                catch (SnapshotRestoreException e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A template that cannot be restored (damaged files, a QEMU that changed in place) must not fail
                    // every later sandbox: it is moved aside (clones running from it keep their mappings) and the next
                    // sandbox builds it anew. This one fails, loudly.
                    MicroVmDriverLog.TemplateDiscarded(_logger, template.Key, e.Message);
                    TemplateRam.Forget(template);
                    _templates.Discard(template);
                    throw;
                }
            }
        }
        return (await BootAsync(id, accel, kernel, initrd, ramMiB, layout, null, _options.BootTimeout, cancellationToken, persistent,
            setUpBehindPing: setUpBehindPing).ConfigureAwait(false), null);
    }

    private bool RecentlyFailed(string key)
    {
        if (!_templateFailures.TryGetValue(key, out var failure)) return false;
        var since = _time.GetUtcNow() - failure.At;
        if (since < _options.TemplateRetryInterval)
        {
            MicroVmDriverLog.TemplateRecentlyFailed(_logger, key, Math.Round(since.TotalSeconds), failure.Reason);
            return true;
        }
        _templateFailures.TryRemove(key, out _);
        return false;
    }

    /// <summary>The template's identity: the exact QEMU command line (placeholders for per-VM paths) and, for a
    /// template that sets its root up before the save (<see cref="WarmsRoot"/>), that root (the work dir, the warm-up
    /// commands).</summary>
    private (string Key, string Identity) TemplateKey(Accelerator accel, GuestKernel kernel, string initrd, long ramMiB, GuestRootfs.Layout layout,
        string workDir)
    {
        var identity = CommandLine(accel, kernel, initrd, ramMiB, layout, null, "/qmp.sock", "/agent.sock").Identity();
        if (WarmsRoot(layout))
            identity += $"\nroot-set-up workdir={workDir} writable-image={layout.WritableImage} warm-up={string.Join(";", s_warmUp.Select(c => string.Join(' ', c)))}";
        return (SnapshotTemplates.KeyFor(identity, [_options.QemuPath, kernel.VmlinuxPath, initrd]), identity);
    }

    /// <summary>A root made only of block devices (a directory or image root) is set up in the template itself, and the
    /// commands users run first are run there before the save, so each clone starts with the root mounted and the
    /// guest page cache (and dentries) of the shell, the C library and python3 warm, shared with the template's RAM.
    /// A root with 9p shares (the host's userland) cannot be: QEMU refuses to migrate while a 9p export is mounted.</summary>
    private static bool WarmsRoot(GuestRootfs.Layout layout) => layout.Image is not null && layout.Shares.Count == 0;

    /// <summary>What a template runs before its save (as the workload user, under the default seccomp profile); a
    /// missing program or a failing one is not an error (a root without a shell or python3 is simply not warmed).</summary>
    private static readonly string[][] s_warmUp =
    [
        ["/bin/sh", "-c", "true"],
        ["/bin/sh", "-c", "command -v python3 >/dev/null 2>&1 && exec python3 -c pass; true"],
    ];

    /// <summary>Boots the template machine with its RAM in a shared file, waits for the agent, sets a block-device root
    /// up and warms it (<see cref="WarmsRoot"/>; a 9p root is left for each clone's SetupGuest, as a mounted share
    /// would block migration), and saves the device state next to the RAM file. The RAM file is made before QEMU
    /// starts, writable by the template VM's uid only through that VM's jail (the build directory is root's 0700);
    /// once saved it is root's 0400 and no jail ever binds it again (clones get a sealed memfd copy,
    /// <see cref="TemplateRam"/>).</summary>
    private async Task BuildTemplateIntoAsync(string directory, Accelerator accel, GuestKernel kernel, string initrd, long ramMiB,
        GuestRootfs.Layout layout, string workDir, Action<string>? progress, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var ram = Path.Combine(directory, "ram");
        File.WriteAllBytes(ram, []);
        File.SetUnixFileMode(ram, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        await using var vm = await BootAsync(SandboxId.New(), accel, kernel, initrd, ramMiB, layout,
            new RamFile(ram, Shared: true), _options.BootTimeout, cancellationToken).ConfigureAwait(false);
        if (WarmsRoot(layout))
        {
            progress?.Invoke($"guest ready after {started.Elapsed.TotalSeconds:0.00} s; setting the root up and warming it...");
            await WarmRootAsync(vm, layout, workDir, cancellationToken).ConfigureAwait(false);
        }
        progress?.Invoke($"guest ready after {started.Elapsed.TotalSeconds:0.00} s; saving the device state...");
        await vm.SaveSnapshotAsync(Path.Combine(directory, "state"), cancellationToken).ConfigureAwait(false);
        File.SetUnixFileMode(ram, UnixFileMode.UserRead);
        progress?.Invoke($"saved after {started.Elapsed.TotalSeconds:0.00} s");
    }

    /// <summary>The template's own set-up (SetupGuest with template = true: the clone's set-up keeps this root and
    /// mounts fresh writable dirs) and the warm-up commands, each waited for.</summary>
    private async Task WarmRootAsync(MicroVmInstance vm, GuestRootfs.Layout layout, string workDir, CancellationToken cancellationToken)
    {
        var setup = RootSetup(layout, workDir);
        setup.Template = true;
        setup.DiskBytes = ResourceLimits.Default.DiskMiB << 20;
        setup.Hostname = "template";
        setup.RandomSeed = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(64));
        setup.UnixTimeNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
        setup.MemoryBytes = ResourceLimits.Default.MemoryMiB << 20;
        setup.PidsMax = ResourceLimits.Default.PidsMax;
        setup.Uid = (uint)_options.GuestUid;
        setup.Gid = (uint)_options.GuestUid;
        setup.SeccompProgram = ByteString.CopyFrom(SeccompPrograms.Get(new SandboxSpec().SyscallProfile, []).ToBytes());
        await AgentCalls.RunAsync(() => vm.Agent.SetupGuestAsync(setup, cancellationToken), vm.Console.ToString).ConfigureAwait(false);
        for (var i = 0; i < s_warmUp.Length; i++)
        {
            var exec = new ExecRequest { ExecId = $"template-warm-up-{i}", Cwd = "/" };
            exec.Argv.AddRange(s_warmUp[i]);
            exec.Env.Add(new EnvVar { Name = "PATH", Value = DefaultEnvironment.Path });
            try
            {
                await AgentCalls.RunAsync(() => vm.Agent.ExecAsync(exec, cancellationToken), vm.Console.ToString).ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code is SandboxErrorCode.NotFound or SandboxErrorCode.PermissionDenied or SandboxErrorCode.InvalidArgument)
            {
                continue; // a root without a shell: nothing of it to warm
            }
            // Its exit status does not matter (a root whose python3 fails still got its files read); that it ended does.
            await AgentCalls.RunAsync(() => vm.Agent.WaitAsync(exec.ExecId, cancellationToken), vm.Console.ToString).ConfigureAwait(false);
        }
    }

    /// <summary>A clone of <paramref name="template"/>: QEMU maps the template's RAM copy-on-write from its sealed memfd
    /// (<see cref="TemplateRam"/>; the RAM file itself is not in the clone's jail), then loads the device state.</summary>
    private Task<MicroVmInstance> RestoreAsync(SandboxId id, SnapshotTemplate template, Accelerator accel, GuestKernel kernel, string initrd,
        long ramMiB, GuestRootfs.Layout layout, bool persistent, Func<AgentClient, Task>? setUpBehindPing, CancellationToken cancellationToken)
    {
        Native.FileDescriptor memfd;
        try
        {
            memfd = TemplateRam.Get(template);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SnapshotRestoreException($"the template RAM file {template.RamPath} could not be read: {e.Message}", e);
        }
        var ram = new RamFile(VmmJail.TemplateRamPath, Shared: false);
        return StartJailedAsync(id, accel, kernel, initrd, layout, null, memfd, persistent,
            // The translation cache's size is not part of the migrated state nor of the template's identity.
            (qmp, agent) => CommandLine(accel, kernel, initrd, ramMiB, layout, ram, qmp, agent)
                with
                {
                    IncomingDefer = true, ReconnectSeconds = persistent ? 1 : 0,
                    TcgTranslationCacheMiB = _options.CloneTcgTranslationCacheMiB ?? _options.TcgTranslationCacheMiB,
                },
            HostLimits(ramMiB), _options.BootTimeout, cancellationToken, template.StatePath, setUpBehindPing: setUpBehindPing);
    }
}
