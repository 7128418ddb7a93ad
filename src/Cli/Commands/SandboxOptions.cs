using System.CommandLine;
using Sandbox.Cli.Parsing;

namespace Sandbox.Cli.Commands;

/// <summary>The flags that describe a sandbox, shared by `run` and `create` (one definition, so both ask the policy the
/// same question). A new flag is one field here, one line in <see cref="All"/> and one in <see cref="Parse"/>.</summary>
internal sealed class SandboxOptions
{
    public readonly Option<string?> Memory = new("--memory", "-m") { Description = "Memory limit of the whole sandbox (e.g. 256m, 1g; a bare number is bytes, whole MiB only)" };
    public readonly Option<string?> Cpus = new("--cpus") { Description = "CPU quota in CPUs (e.g. 0.5)" };
    public readonly Option<string?> Pids = new("--pids") { Description = "Processes + threads the workload may have" };
    public readonly Option<string?> Disk = new("--disk") { Description = "Size cap of /tmp and of the work dir (e.g. 64m, whole MiB)" };
    public readonly Option<string?> OutputLimit = new("--output-limit") { Description = "Bytes kept of stdout and of stderr each per process (e.g. 1m)" };
    public readonly Option<string?> Timeout = new("--timeout") { Description = "Wall-clock limit per process (e.g. 10s, 2m; a bare number is seconds)" };
    public readonly Option<string?> Profile = new("--profile") { Description = "Seccomp profile wanted: default or strict (granted when at least as strict as yours)" };
    public readonly Option<string?> Rootfs = new("--rootfs") { Description = "A directory to use as the root file system (default: the host's userland, read-only)" };
    public readonly Option<string?> Image = new("--image") { Description = "NAME:TAG of an image in the store (sandbox image ls): its root, read-only under a writable layer capped at --disk; its env, workdir and entrypoint apply" };
    public readonly Option<string?> Workdir = new("--workdir", "-w") { Description = "Working directory inside the sandbox (default /work, a fresh tmpfs)" };
    public readonly Option<string?> User = new("--user", "-u") { Description = "Run as root, UID or UID:GID inside (default: the image's User, else 1000:1000); root inside is an unprivileged host uid without capabilities (container tier) or the guest's root with a few (microVM), so `apt-get install` works in a Debian image" };
    public readonly Option<string[]> Env = RepeatableOption.Create("--env", ["-e"], "Environment variable NAME=VALUE (repeatable)");
    public readonly Option<string?> Tier = new("--tier") { Description = "Tier hint for the policy: auto, container or microvm" };
    public readonly Option<bool> Trusted = new("--trusted") { Description = "The code is your own: ask the policy to trust it (default: untrusted code of unknown provenance)" };
    public readonly Option<string?> Network = new("--network") { Description = "none (loopback only, the default) or egress (what --allow names, if the policy grants it)" };
    public readonly Option<string[]> Allow = RepeatableOption.Create("--allow", [], "Egress destination HOST[:PORT] or IPV4[/PREFIX][:PORT] (repeatable; 127.0.0.1 = the host's loopback, reached at 10.0.2.2)");
    public readonly Option<string[]> Publish = RepeatableOption.Create("--publish", ["-p"], "Publish a TCP port of the sandbox on the host's 127.0.0.1: HOSTPORT:PORT (repeatable)");
    public readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Print the tier and the granted limits on stderr" };

    public IEnumerable<Option> All => [Memory, Cpus, Pids, Disk, OutputLimit, Timeout, Profile, Rootfs, Image, Workdir, User, Env, Tier, Trusted, Network, Allow, Publish, Verbose];

    public void AddTo(Command command)
    {
        foreach (var option in All)
            command.Options.Add(option);
    }

    /// <summary>The flags as given; a malformed value throws <see cref="UsageException"/> naming it.</summary>
    public RunFlags Parse(ParseResult parse)
    {
        var flags = new RunFlags
        {
            MemoryMiB = parse.GetValue(Memory) is { } m ? Units.ParseMiB(m, "--memory", 16) : null,
            Cpus = parse.GetValue(Cpus) is { } c ? Units.ParseCpus(c, "--cpus") : null,
            Pids = parse.GetValue(Pids) is { } p ? Units.ParseCount(p, "--pids", 1) : null,
            DiskMiB = parse.GetValue(Disk) is { } d ? Units.ParseMiB(d, "--disk", 1) : null,
            OutputBytes = parse.GetValue(OutputLimit) is { } o ? Units.ParseBytes(o, "--output-limit") : null,
            Timeout = parse.GetValue(Timeout) is { } t ? Units.ParseDuration(t, "--timeout") : null,
            Profile = parse.GetValue(Profile),
            Rootfs = parse.GetValue(Rootfs) is { } r ? Path.GetFullPath(r) : null,
            Image = parse.GetValue(Image),
            WorkDir = parse.GetValue(Workdir),
            User = parse.GetValue(User),
            Env = Pairs.Parse(parse.GetValue(Env) ?? [], "--env"),
            Tier = parse.GetValue(Tier),
            Trusted = parse.GetValue(Trusted),
            Network = parse.GetValue(Network),
            Allow = parse.GetValue(Allow) ?? [],
            Publish = parse.GetValue(Publish) ?? [],
            Verbose = parse.GetValue(Verbose),
        };
        RunFlags.CheckNetwork(flags.Network, flags.Allow, flags.Publish);
        if (flags.WorkDir is { } w && !w.StartsWith('/'))
            throw new UsageException($"--workdir '{w}' must be an absolute path inside the sandbox");
        RunFlags.ParseTier(flags.Tier);
        if (flags.User is { } u)
        {
            try { Isolation.SandboxUser.Parse(u); }
            catch (Isolation.SandboxException e) { throw new UsageException("--" + e.Message); }
        }
        return flags;
    }
}

/// <summary>NAME=VALUE lists (--env, --label).</summary>
internal static class Pairs
{
    public static Dictionary<string, string> Parse(IEnumerable<string> pairs, string option)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
                throw new UsageException($"{option} '{pair}' must be NAME=VALUE");
            map[pair[..eq]] = pair[(eq + 1)..];
        }
        return map;
    }
}
