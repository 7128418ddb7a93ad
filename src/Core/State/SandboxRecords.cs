namespace Sandbox.Core;

/// <summary>Registry entry → its state record.</summary>
internal static class SandboxRecords
{
    public static SandboxRecord From(SandboxEntry e) => new()
    {
        Id = e.Id.Value,
        Tenant = e.Tenant,
        Tier = TierNames.ToPolicy(e.Tier),
        CreatedAt = e.CreatedAt,
        ExpiresAt = e.ExpiresAt,
        CgroupPath = e.Info?.CgroupPath,
        HostUid = e.Info?.HostUid ?? -1,
        DecisionId = e.Decision.DecisionId,
        Labels = e.Labels,
        Decision = e.Decision,
        Attachment = e.Sandbox?.Attachment,
    };
}
