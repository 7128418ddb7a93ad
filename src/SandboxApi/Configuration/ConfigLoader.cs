using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sandbox.SandboxApi.Configuration;

/// <summary>Reads sandboxd.yaml through YamlDotNet's node model, so every error names its exact key
/// ("tenants[1].max_memory_mib: expected an integer, got 'lots' (line 9, column 21)") and unknown keys are errors,
/// not silently ignored. Then <see cref="ConfigValidator"/> checks meaning. Both collect every problem in one pass.</summary>
public static class ConfigLoader
{
    public static SandboxdConfig LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, [$"cannot read the file: {e.Message}"]);
        }
        return Parse(text, path);
    }

    public static SandboxdConfig Parse(string yaml, string source = "sandboxd.yaml")
    {
        var errors = new List<string>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ConfigException(source, [$"not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.Message}"]);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws these, not a YamlException, for some malformed input (a document-end marker inside
            // a flow mapping; an empty key before a comment; found by tests/Fuzz.Tests): still a bad file, not a crash.
            throw new ConfigException(source, [$"not valid YAML: {e.Message}"]);
        }
        SandboxdConfig config;
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
            config = new SandboxdConfig();
        else
            config = ReadRoot(new Section(stream.Documents[0].RootNode, "", errors));
        errors.AddRange(ConfigValidator.Validate(config));
        if (errors.Count > 0)
            throw new ConfigException(source, errors);
        return config;
    }

    private static SandboxdConfig ReadRoot(Section s)
    {
        var d = new SandboxdConfig();
        s.Known("listen", "tenants", "policy", "state_dir", "sandboxes", "container", "microvm", "images", "log", "pools");
        return new SandboxdConfig
        {
            Listen = s.Child("listen") is { } l ? ReadListen(l) : d.Listen,
            Tenants = s.List("tenants", ReadTenant) ?? d.Tenants,
            Policy = s.Child("policy") is { } p ? ReadPolicy(p) : d.Policy,
            StateDir = s.String("state_dir") ?? d.StateDir,
            Sandboxes = s.Child("sandboxes") is { } b ? ReadSandboxes(b) : d.Sandboxes,
            Container = s.Child("container") is { } c ? ReadContainer(c) : d.Container,
            MicroVm = s.Child("microvm") is { } m ? ReadMicroVm(m) : d.MicroVm,
            Images = s.Child("images") is { } i ? ReadImages(i) : d.Images,
            Log = s.Child("log") is { } g ? ReadLog(g) : d.Log,
            Pools = s.Child("pools") is { } o ? ReadPools(o) : d.Pools,
        };
    }

    private static PoolsConfig ReadPools(Section s)
    {
        var d = new PoolsConfig();
        s.Known("max_refill_per_s", "refill_concurrency", "ttl_s", "shapes");
        return new PoolsConfig
        {
            MaxRefillPerS = s.Double("max_refill_per_s") ?? d.MaxRefillPerS,
            RefillConcurrency = s.Int("refill_concurrency") ?? d.RefillConcurrency,
            TtlS = s.Int("ttl_s") ?? d.TtlS,
            Shapes = s.List("shapes", ReadPoolShape),
        };
    }

    private static PoolShapeConfig ReadPoolShape(Section s)
    {
        var d = new PoolShapeConfig { Name = "", Tier = "" };
        s.Known("name", "tier", "size", "tenant", "trusted", "image", "rootfs", "syscall_profile", "kvm_only");
        return new PoolShapeConfig
        {
            Name = s.String("name") ?? s.Missing("name"),
            Tier = s.String("tier") ?? s.Missing("tier"),
            Size = s.Int("size") ?? d.Size,
            Tenant = s.String("tenant"),
            Trusted = s.Bool("trusted") ?? d.Trusted,
            Image = s.String("image"),
            Rootfs = s.String("rootfs"),
            SyscallProfile = s.String("syscall_profile"),
            KvmOnly = s.Bool("kvm_only") ?? d.KvmOnly,
        };
    }

    private static ListenConfig ReadListen(Section s)
    {
        var d = new ListenConfig();
        s.Known("unix_path", "unix_mode", "unix_group", "tcp", "tls_certificate", "tls_key", "tls_client_ca", "metrics");
        return new ListenConfig
        {
            UnixPath = s.String("unix_path") ?? d.UnixPath,
            UnixMode = s.Octal("unix_mode") is { } m ? (UnixFileMode)m : d.UnixMode,
            UnixGroup = s.String("unix_group"),
            Tcp = s.String("tcp"),
            TlsCertificate = s.String("tls_certificate"),
            TlsKey = s.String("tls_key"),
            TlsClientCa = s.String("tls_client_ca"),
            Metrics = s.String("metrics"),
        };
    }

    private static TenantConfig ReadTenant(Section s)
    {
        var d = new TenantConfig { Name = "" };
        s.Known("name", "uids", "token_sha256", "max_sandboxes", "max_memory_mib", "max_streams", "max_inflight_mib");
        return new TenantConfig
        {
            Name = s.String("name") ?? s.Missing("name"),
            Uids = s.List("uids", i => i.Int() ?? -1) ?? d.Uids,
            TokenSha256 = s.List("token_sha256", i => i.Scalar() ?? "") ?? d.TokenSha256,
            MaxSandboxes = s.Int("max_sandboxes") ?? d.MaxSandboxes,
            MaxMemoryMiB = s.Long("max_memory_mib") ?? d.MaxMemoryMiB,
            MaxStreams = s.Int("max_streams") ?? d.MaxStreams,
            MaxInflightMiB = s.Long("max_inflight_mib") ?? d.MaxInflightMiB,
        };
    }

    private static PolicyConfig ReadPolicy(Section s)
    {
        s.Known("bundle", "opa_url", "ceilings");
        return new PolicyConfig
        {
            Bundle = s.String("bundle"),
            OpaUrl = s.String("opa_url"),
            Ceilings = s.Child("ceilings") is { } c ? ReadCeilings(c) : new CeilingsConfig(),
        };
    }

    private static CeilingsConfig ReadCeilings(Section s)
    {
        var d = new CeilingsConfig();
        s.Known("memory_mib", "vcpus", "pids", "disk_mib", "timeout_s");
        return new CeilingsConfig
        {
            MemoryMiB = s.Long("memory_mib") ?? d.MemoryMiB,
            Vcpus = s.Int("vcpus") ?? d.Vcpus,
            Pids = s.Int("pids") ?? d.Pids,
            DiskMiB = s.Long("disk_mib") ?? d.DiskMiB,
            TimeoutS = s.Int("timeout_s") ?? d.TimeoutS,
        };
    }

    private static ImagesConfig ReadImages(Section s)
    {
        s.Known("store_dir");
        return new ImagesConfig { StoreDir = s.String("store_dir") ?? new ImagesConfig().StoreDir };
    }

    private static SandboxesConfig ReadSandboxes(Section s)
    {
        var d = new SandboxesConfig();
        s.Known("default_ttl_s", "max_ttl_s", "reap_interval_ms");
        return new SandboxesConfig
        {
            DefaultTtlS = s.Int("default_ttl_s") ?? d.DefaultTtlS,
            MaxTtlS = s.Int("max_ttl_s") ?? d.MaxTtlS,
            ReapIntervalMs = s.Int("reap_interval_ms") ?? d.ReapIntervalMs,
        };
    }

    private static MicroVmConfig ReadMicroVm(Section s)
    {
        var d = new MicroVmConfig();
        s.Known("guest_address_randomization", "qemu", "clone_translation_cache_mib", "translation_buffer_huge_pages");
        return new MicroVmConfig
        {
            GuestAddressRandomization = s.Bool("guest_address_randomization") ?? d.GuestAddressRandomization,
            Qemu = s.String("qemu") ?? d.Qemu,
            CloneTranslationCacheMiB = s.Int("clone_translation_cache_mib") ?? d.CloneTranslationCacheMiB,
            TranslationBufferHugePages = s.Bool("translation_buffer_huge_pages") ?? d.TranslationBufferHugePages,
        };
    }

    private static ContainerConfig ReadContainer(Section s)
    {
        var d = new ContainerConfig();
        s.Known("agent_dir", "cgroup_parent", "uid_range_base", "uid_range_count");
        return new ContainerConfig
        {
            AgentDir = s.String("agent_dir"),
            CgroupParent = s.String("cgroup_parent") ?? d.CgroupParent,
            UidRangeBase = s.Int("uid_range_base") ?? d.UidRangeBase,
            UidRangeCount = s.Int("uid_range_count") ?? d.UidRangeCount,
        };
    }

    private static LogConfig ReadLog(Section s)
    {
        var d = new LogConfig();
        s.Known("level", "json_file");
        return new LogConfig { Level = s.String("level") ?? d.Level, JsonFile = s.String("json_file") };
    }

    /// <summary>One YAML node and its key path; reading a value of the wrong shape records an error and yields null.</summary>
    private sealed class Section(YamlNode node, string path, List<string> errors)
    {
        private readonly YamlMappingNode? _map = node as YamlMappingNode;

        private string KeyPath(string key) => path.Length == 0 ? key : $"{path}.{key}";

        private static string Where(YamlNode n) => $"(line {n.Start.Line}, column {n.Start.Column})";

        public void Known(params string[] keys)
        {
            if (_map is null)
            {
                errors.Add($"{(path.Length == 0 ? "(root)" : path)}: expected a mapping {Where(node)}");
                return;
            }
            foreach (var key in _map.Children.Keys)
            {
                var name = (key as YamlScalarNode)?.Value ?? "?";
                if (!keys.Contains(name))
                    errors.Add($"{KeyPath(name)}: unknown key {Where(key)}; known keys here: {string.Join(", ", keys)}");
            }
        }

        private YamlNode? Get(string key) =>
            _map is not null && _map.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is not YamlScalarNode { Value: null or "~" } ? v : null;

        public Section? Child(string key) => Get(key) is { } n ? new Section(n, KeyPath(key), errors) : null;

        public IReadOnlyList<T>? List<T>(string key, Func<Section, T> read)
        {
            if (Get(key) is not { } n)
                return null;
            if (n is not YamlSequenceNode seq)
            {
                errors.Add($"{KeyPath(key)}: expected a list {Where(n)}");
                return null;
            }
            return seq.Children.Select((item, i) => read(new Section(item, $"{KeyPath(key)}[{i}]", errors))).ToList();
        }

        public string Missing(string key)
        {
            errors.Add($"{KeyPath(key)}: required {Where(node)}");
            return "";
        }

        public string? Scalar()
        {
            if (node is YamlScalarNode s)
                return s.Value;
            errors.Add($"{path}: expected a single value {Where(node)}");
            return null;
        }

        public int? Int() => Scalar() is { } v ? ParseInt(v, path, node) : null;

        public string? String(string key)
        {
            if (Get(key) is not { } n)
                return null;
            if (n is YamlScalarNode s)
                return s.Value;
            errors.Add($"{KeyPath(key)}: expected a single value {Where(n)}");
            return null;
        }

        public int? Int(string key) => Get(key) is { } n && String(key) is { } v ? ParseInt(v, KeyPath(key), n) : null;

        public long? Long(string key)
        {
            if (Get(key) is not { } n || String(key) is not { } v)
                return null;
            if (long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
                return l;
            errors.Add($"{KeyPath(key)}: expected an integer, got '{v}' {Where(n)}");
            return null;
        }

        public bool? Bool(string key)
        {
            if (Get(key) is not { } n || String(key) is not { } v)
                return null;
            if (v is "true" or "false")
                return v == "true";
            errors.Add($"{KeyPath(key)}: expected true or false, got '{v}' {Where(n)}");
            return null;
        }

        public double? Double(string key)
        {
            if (Get(key) is not { } n || String(key) is not { } v)
                return null;
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x))
                return x;
            errors.Add($"{KeyPath(key)}: expected a number, got '{v}' {Where(n)}");
            return null;
        }

        public int? Octal(string key)
        {
            if (Get(key) is not { } n || String(key) is not { } v)
                return null;
            // Digits 0-7 only, at most 4 of them: Convert.ToInt32(v, 8) throws ArgumentOutOfRangeException for "" and
            // OverflowException past 32 bits (found by tests/Fuzz.Tests), and accepts a sign.
            if (v.Length is >= 1 and <= 4 && v.All(c => c is >= '0' and <= '7'))
            {
                var mode = v.Aggregate(0, (m, c) => m * 8 + (c - '0'));
                if (mode <= 0x1ff)
                    return mode;
            }
            errors.Add($"{KeyPath(key)}: expected permission bits in octal (e.g. \"0660\"), got '{v}' {Where(n)}");
            return null;
        }

        private int? ParseInt(string v, string keyPath, YamlNode n)
        {
            if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
                return i;
            errors.Add($"{keyPath}: expected an integer, got '{v}' {Where(n)}");
            return null;
        }
    }
}
