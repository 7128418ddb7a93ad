namespace Sandbox.SandboxApi.Configuration;

/// <summary>Checks what the configuration means (ranges, duplicates, pairs that go together); every message names
/// its key and the accepted values.</summary>
public static class ConfigValidator
{
    private static readonly string[] s_levels = ["verbose", "debug", "information", "warning", "error", "fatal"];

    public static IReadOnlyList<string> Validate(SandboxdConfig c)
    {
        var errors = new List<string>();
        if (!Path.IsPathFullyQualified(c.Listen.UnixPath))
            errors.Add($"listen.unix_path: '{c.Listen.UnixPath}' must be an absolute path");
        if (c.Listen.Tcp is { } tcp)
        {
            if (!System.Net.IPEndPoint.TryParse(tcp, out var ep) || ep.Port == 0)
                errors.Add($"listen.tcp: '{tcp}' must be address:port (e.g. 0.0.0.0:7443)");
            if (c.Listen.TlsCertificate is null || c.Listen.TlsKey is null)
                errors.Add("listen.tcp: needs listen.tls_certificate and listen.tls_key (bearer tokens are never accepted without TLS)");
        }
        foreach (var (key, file) in new[] { ("listen.tls_certificate", c.Listen.TlsCertificate), ("listen.tls_key", c.Listen.TlsKey), ("listen.tls_client_ca", c.Listen.TlsClientCa) })
        {
            if (file is not null && !File.Exists(file))
                errors.Add($"{key}: file '{file}' does not exist");
        }
        if (c.Listen.TlsClientCa is not null && c.Listen.Tcp is null)
            errors.Add("listen.tls_client_ca: only applies to the TCP listener; set listen.tcp too");
        if (c.Listen.Metrics is { } m && (!System.Net.IPEndPoint.TryParse(m, out var mep) || mep.Port == 0))
            errors.Add($"listen.metrics: '{m}' must be address:port (e.g. 127.0.0.1:9464)");

        var names = new HashSet<string>(StringComparer.Ordinal);
        var uids = new Dictionary<int, string>();
        for (var i = 0; i < c.Tenants.Count; i++)
        {
            var t = c.Tenants[i];
            var at = $"tenants[{i}]";
            if (t.Name.Length is 0 or > 63 || !t.Name.All(ch => ch is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_'))
                errors.Add($"{at}.name: '{t.Name}' must be 1-63 characters of [a-z0-9_-]");
            else if (!names.Add(t.Name))
                errors.Add($"{at}.name: tenant '{t.Name}' is defined twice");
            foreach (var uid in t.Uids)
            {
                if (uid < 0)
                    errors.Add($"{at}.uids: {uid} is not a uid");
                else if (!uids.TryAdd(uid, t.Name))
                    errors.Add($"{at}.uids: uid {uid} is already mapped to tenant '{uids[uid]}'");
            }
            foreach (var hash in t.TokenSha256)
            {
                if (hash.Length != 64 || !hash.All(Uri.IsHexDigit))
                    errors.Add($"{at}.token_sha256: '{hash}' is not a SHA-256 in hex (64 hex digits; sha256sum of the token)");
            }
            if (t.MaxSandboxes is < 1 or > 100_000)
                errors.Add($"{at}.max_sandboxes: {t.MaxSandboxes} is out of range [1, 100000]");
            if (t.MaxMemoryMiB is < 16 or > 1L << 30)
                errors.Add($"{at}.max_memory_mib: {t.MaxMemoryMiB} is out of range [16, 1073741824]");
            if (t.MaxStreams is < 1 or > 100_000)
                errors.Add($"{at}.max_streams: {t.MaxStreams} is out of range [1, 100000]");
            if (t.MaxInflightMiB is < 8 or > 1L << 20)
                errors.Add($"{at}.max_inflight_mib: {t.MaxInflightMiB} is out of range [8, 1048576] (one file transfer reserves 4 MiB)");
        }
        if (c.Policy.Bundle is { } b && !Directory.Exists(b))
            errors.Add($"policy.bundle: directory '{b}' does not exist");
        if (c.Policy.OpaUrl is { } u && (!Uri.TryCreate(u, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            errors.Add($"policy.opa_url: '{u}' must be an http(s) URL");
        if (c.Policy.Bundle is not null && c.Policy.OpaUrl is not null)
            errors.Add("policy: set one of policy.bundle and policy.opa_url, not both");
        var ce = c.Policy.Ceilings;
        if (ce.MemoryMiB < 16) errors.Add($"policy.ceilings.memory_mib: {ce.MemoryMiB} must be at least 16");
        if (ce.Vcpus < 1) errors.Add($"policy.ceilings.vcpus: {ce.Vcpus} must be at least 1");
        if (ce.Pids < 4) errors.Add($"policy.ceilings.pids: {ce.Pids} must be at least 4");
        if (ce.DiskMiB < 1) errors.Add($"policy.ceilings.disk_mib: {ce.DiskMiB} must be at least 1");
        if (ce.TimeoutS < 1) errors.Add($"policy.ceilings.timeout_s: {ce.TimeoutS} must be at least 1");

        if (!Path.IsPathFullyQualified(c.StateDir))
            errors.Add($"state_dir: '{c.StateDir}' must be an absolute path");
        // A configured QEMU must be there and root's (the tier starts it from a jail built as root): a wrong one stops
        // the daemon here rather than leaving the tier unavailable. The tier's own choice may be absent (no tier).
        if (c.MicroVm.Qemu is { } qemu)
        {
            try
            {
                if (!Path.IsPathFullyQualified(qemu))
                    errors.Add($"microvm.qemu: '{qemu}' must be an absolute path");
                else if (!File.Exists(qemu))
                    errors.Add($"microvm.qemu: '{qemu}' does not exist (scripts/install-qemu-backports.sh installs QEMU 10 into /opt/qemu10)");
                else
                    Sandbox.Isolation.MicroVm.QemuInstall.Locate(qemu, checkOwner: true);
            }
            catch (Sandbox.Isolation.SandboxException e)
            {
                errors.Add($"microvm.qemu: {e.Message}");
            }
        }
        if (!Path.IsPathFullyQualified(c.Images.StoreDir))
            errors.Add($"images.store_dir: '{c.Images.StoreDir}' must be an absolute path");
        var s = c.Sandboxes;
        if (s.MaxTtlS < 1) errors.Add($"sandboxes.max_ttl_s: {s.MaxTtlS} must be at least 1");
        if (s.DefaultTtlS < 1 || s.DefaultTtlS > s.MaxTtlS)
            errors.Add($"sandboxes.default_ttl_s: {s.DefaultTtlS} is out of range [1, sandboxes.max_ttl_s = {s.MaxTtlS}]");
        if (s.ReapIntervalMs is < 10 or > 3_600_000)
            errors.Add($"sandboxes.reap_interval_ms: {s.ReapIntervalMs} is out of range [10, 3600000]");

        var k = c.Container;
        if (k.AgentDir is { } a && !Directory.Exists(a))
            errors.Add($"container.agent_dir: directory '{a}' does not exist");
        if (k.CgroupParent.Length == 0 || k.CgroupParent.Contains('/') || k.CgroupParent is "." or "..")
            errors.Add($"container.cgroup_parent: '{k.CgroupParent}' must be a single directory name");
        if (k.UidRangeBase < 100_000 || k.UidRangeCount < 1 || (long)k.UidRangeBase + 65_536L * k.UidRangeCount > uint.MaxValue - 1)
            errors.Add($"container.uid_range_base/uid_range_count: {k.UidRangeCount} range(s) of 65536 from {k.UidRangeBase} must lie in [100000, 4294967294)");
        if (c.MicroVm.CloneTranslationCacheMiB is < 1 or > 2048)
            errors.Add($"microvm.clone_translation_cache_mib: {c.MicroVm.CloneTranslationCacheMiB} is out of range [1, 2048]");
        if (!s_levels.Contains(c.Log.Level))
            errors.Add($"log.level: '{c.Log.Level}' is not one of {string.Join(", ", s_levels)}");
        ValidatePools(c, names, errors);
        return errors;
    }

    private static void ValidatePools(SandboxdConfig c, HashSet<string> tenants, List<string> errors)
    {
        var p = c.Pools;
        if (!(p.MaxRefillPerS > 0 && p.MaxRefillPerS <= 1000))
            errors.Add($"pools.max_refill_per_s: {p.MaxRefillPerS} is out of range (0, 1000]");
        if (p.RefillConcurrency is < 0 or > 64)
            errors.Add($"pools.refill_concurrency: {p.RefillConcurrency} is out of range [0, 64]");
        if (p.TtlS is < 10 or > 86_400)
            errors.Add($"pools.ttl_s: {p.TtlS} is out of range [10, 86400]");
        var shapeNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (p.Shapes?.Count ?? 0); i++)
        {
            var s = p.Shapes![i];
            var at = $"pools.shapes[{i}]";
            if (s.Name.Length is 0 or > 63 || !s.Name.All(ch => ch is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_'))
                errors.Add($"{at}.name: '{s.Name}' must be 1-63 characters of [a-z0-9_-]");
            else if (!shapeNames.Add(s.Name))
                errors.Add($"{at}.name: pool '{s.Name}' is defined twice");
            if (s.Tier is not ("container" or "microvm"))
                errors.Add($"{at}.tier: '{s.Tier}' is not one of container, microvm");
            if (s.Size is < 0 or > 64)
                errors.Add($"{at}.size: {s.Size} is out of range [0, 64] (0 = off)");
            if (s.Tenant is { } t && !tenants.Contains(t))
                errors.Add($"{at}.tenant: '{t}' is not a tenant of tenants[] ({(tenants.Count == 0 ? "none is defined" : string.Join(", ", tenants.Order(StringComparer.Ordinal)))})");
            if (s.Tenant is null && tenants.Count == 0 && s.Size > 0)
                errors.Add($"{at}.tenant: no tenant is defined (tenants[]), so the pool has nobody's decision to follow");
            if (s.Image is not null && s.Rootfs is not null)
                errors.Add($"{at}: set one of image and rootfs, not both");
            if (s.Image is { } image && (image.Length == 0 || Path.IsPathFullyQualified(image)))
                errors.Add($"{at}.image: '{image}' must be an image name NAME:TAG (import a path first: sandbox image import)");
            if (s.Rootfs is { } rootfs && !Path.IsPathFullyQualified(rootfs))
                errors.Add($"{at}.rootfs: '{rootfs}' must be an absolute path");
            if (s.SyscallProfile is { Length: 0 })
                errors.Add($"{at}.syscall_profile: must not be empty (leave it out for the policy's choice)");
            if (s.KvmOnly && s.Tier != "microvm")
                errors.Add($"{at}.kvm_only: applies to tier microvm only");
        }
    }
}
