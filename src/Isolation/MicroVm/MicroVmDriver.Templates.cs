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
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory);
        var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, AgentBundle.Locate(_options.AgentDirectory));
        var layout = GuestRootfs.Build(spec.Rootfs, spec.WorkDir, _options.GuestUid, _options.CacheDirectory, _options.MkfsErofsPath);
        var ramMiB = GuestRamMiB(spec.Limits);
        var (key, identity) = TemplateKey(accel.Accelerator, kernel, initrd, ramMiB, layout);
        if (_templates.TryGet(key) is { } existing)
        {
            progress?.Invoke($"template {key} is already built: {existing.Directory}");
            return existing;
        }
        progress?.Invoke($"building template {key} (accel {accel.Accelerator}, {ramMiB} MiB, {_options.VCpus} vCPU): booting the guest...");
        var template = await _templates.GetOrBuildAsync(key, identity,
            (dir, ct) => BuildTemplateIntoAsync(dir, accel.Accelerator, kernel, initrd, ramMiB, layout, progress, ct),
            _options.BootTimeout * 2, cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"template {key} ready: {template.Directory}");
        return template;
    }

    /// <summary>A VM for a sandbox: restored from the snapshot template of its exact machine (built on first use,
    /// under the template's lock) or, when the template cannot be built, cold-booted with the reason logged.</summary>
    private async Task<(MicroVmInstance Vm, string? Template)> StartAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd,
        long ramMiB, GuestRootfs.Layout layout, bool persistent, CancellationToken cancellationToken)
    {
        if (_options.SnapshotTemplates)
        {
            var (key, identity) = TemplateKey(accel, kernel, initrd, ramMiB, layout);
            var template = _templates.TryGet(key);
            if (template is null && !RecentlyFailed(key))
            {
                try
                {
                    template = await _templates.GetOrBuildAsync(key, identity,
                        (dir, ct) => BuildTemplateIntoAsync(dir, accel, kernel, initrd, ramMiB, layout, null, ct),
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
                    var vm = await RestoreAsync(id, template, accel, kernel, initrd, ramMiB, layout, persistent, cancellationToken).ConfigureAwait(false);
                    return (vm, template.Key);
                }
                catch (SnapshotRestoreException e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A template that cannot be restored (damaged files, a QEMU that changed in place) must not fail
                    // every later sandbox: it is moved aside (clones running from it keep their mappings) and the next
                    // sandbox builds it anew. This one fails, loudly.
                    MicroVmDriverLog.TemplateDiscarded(_logger, template.Key, e.Message);
                    _templates.Discard(template);
                    throw;
                }
            }
        }
        return (await BootAsync(id, accel, kernel, initrd, ramMiB, layout, null, _options.BootTimeout, cancellationToken, persistent).ConfigureAwait(false), null);
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

    private (string Key, string Identity) TemplateKey(Accelerator accel, GuestKernel kernel, string initrd, long ramMiB, GuestRootfs.Layout layout)
    {
        var identity = CommandLine(accel, kernel, initrd, ramMiB, layout, null, "/qmp.sock", "/agent.sock").Identity();
        return (SnapshotTemplates.KeyFor(identity, [_options.QemuPath, kernel.VmlinuxPath, initrd]), identity);
    }

    /// <summary>Boots the template machine with its RAM in a shared file, waits for the agent (before SetupGuest: no
    /// share is mounted, which would block migration), and saves the device state next to the RAM file. The RAM file
    /// is made before QEMU starts, writable by every VM's uid: QEMU 7.2 opens it read-write even to map it private. It
    /// is reachable only through the jails' binds (the template directory is root's 0700).</summary>
    private async Task BuildTemplateIntoAsync(string directory, Accelerator accel, GuestKernel kernel, string initrd, long ramMiB,
        GuestRootfs.Layout layout, Action<string>? progress, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var ram = Path.Combine(directory, "ram");
        File.WriteAllBytes(ram, []);
        File.SetUnixFileMode(ram, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        await using var vm = await BootAsync(SandboxId.New(), accel, kernel, initrd, ramMiB, layout,
            new RamFile(ram, Shared: true), _options.BootTimeout, cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"guest ready after {started.Elapsed.TotalSeconds:0.00} s; saving the device state...");
        await vm.SaveSnapshotAsync(Path.Combine(directory, "state"), cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"saved after {started.Elapsed.TotalSeconds:0.00} s");
    }

    private Task<MicroVmInstance> RestoreAsync(SandboxId id, SnapshotTemplate template, Accelerator accel, GuestKernel kernel, string initrd,
        long ramMiB, GuestRootfs.Layout layout, bool persistent, CancellationToken cancellationToken) =>
        StartJailedAsync(id, accel, kernel, initrd, layout, new RamFile(template.RamPath, Shared: false), persistent,
            (qmp, agent) => CommandLine(accel, kernel, initrd, ramMiB, layout, new RamFile(template.RamPath, Shared: false), qmp, agent)
                with { IncomingDefer = true, ReconnectSeconds = persistent ? 1 : 0 },
            HostLimits(ramMiB), _options.BootTimeout, cancellationToken, template.StatePath);
}
