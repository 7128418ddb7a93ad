using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Isolation;
using Sandbox.SandboxApi.Auth;
using Proto = Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Api;

/// <summary>UpdateSandbox (AIP-134): the TTL and the limits, as the update mask names them.</summary>
public sealed partial class SandboxesService
{
    private static readonly string[] LimitPaths = ["limits.memory_mib", "limits.cpus", "limits.pids", "limits.timeout", "limits.output_bytes"];

    public override async Task<Proto.Sandbox> UpdateSandbox(UpdateSandboxRequest request, ServerCallContext context)
    {
        var principal = CallPrincipal.Get(context);
        var wanted = request.Sandbox ?? throw new SandboxException(SandboxErrorCode.InvalidArgument, "sandbox must be set (sandbox.id names the sandbox)");
        var id = Mapping.ParseId(wanted.Id, "sandbox.id");
        var paths = request.UpdateMask?.Paths.SelectMany(p => p == "limits" ? LimitPaths : [p]).ToHashSet(StringComparer.Ordinal) ?? [];
        if (paths.Count == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "update_mask is empty: name the fields to change (ttl, expire_time, limits, limits.<field>)");
        var unknown = paths.Where(p => p is not ("ttl" or "expire_time") && !LimitPaths.Contains(p)).ToList();
        if (unknown.Count > 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"update_mask: {string.Join(", ", unknown)} cannot be updated (accepted: ttl, expire_time, limits, {string.Join(", ", LimitPaths)})");
        if (paths.Contains("ttl") && paths.Contains("expire_time"))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "update_mask: name ttl or expire_time, not both");

        var entry = sandboxes.Get(principal, id);
        if (paths.Overlaps(LimitPaths))
        {
            var current = entry.Info?.Limits ?? throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {id} has no limits yet (it is being created)");
            var granted = entry.Decision.Resources;
            var l = wanted.Limits ?? new Limits();
            // A masked field left at 0 / unset goes back to what the policy granted (AIP-134: the mask says what changes).
            var limits = current with
            {
                MemoryMiB = !paths.Contains("limits.memory_mib") ? current.MemoryMiB : l.MemoryMib > 0 ? l.MemoryMib : granted.MemoryMiB,
                Cpus = !paths.Contains("limits.cpus") ? current.Cpus : l.Cpus > 0 ? l.Cpus : granted.Vcpus,
                PidsMax = !paths.Contains("limits.pids") ? current.PidsMax : l.Pids > 0 ? l.Pids : granted.Pids,
                WallTime = !paths.Contains("limits.timeout") ? current.WallTime
                    : l.Timeout is { } t ? t.ToTimeSpan() : TimeSpan.FromSeconds(granted.TimeoutSeconds),
                OutputBytes = !paths.Contains("limits.output_bytes") ? current.OutputBytes : l.OutputBytes > 0 ? l.OutputBytes : current.OutputBytes,
            };
            if (l.MemoryMib < 0 || l.Cpus < 0 || double.IsNaN(l.Cpus) || l.Pids < 0 || l.OutputBytes < 0 || l.Timeout is { Seconds: < 0 })
                throw new SandboxException(SandboxErrorCode.InvalidArgument, "sandbox.limits: values must not be negative (0 = what the policy granted)");
            await sandboxes.UpdateLimitsAsync(principal, id, limits, context.CancellationToken);
        }
        if (paths.Contains("ttl"))
        {
            var ttl = wanted.Ttl ?? throw new SandboxException(SandboxErrorCode.InvalidArgument, "sandbox.ttl must be set when update_mask names ttl");
            await sandboxes.SetExpiryAsync(principal, id, DateTimeOffset.UtcNow + ttl.ToTimeSpan(), context.CancellationToken);
        }
        if (paths.Contains("expire_time"))
        {
            var at = wanted.ExpireTime ?? throw new SandboxException(SandboxErrorCode.InvalidArgument, "sandbox.expire_time must be set when update_mask names expire_time");
            await sandboxes.SetExpiryAsync(principal, id, at.ToDateTimeOffset(), context.CancellationToken);
        }
        return Mapping.ToProto(sandboxes.Get(principal, id));
    }
}
