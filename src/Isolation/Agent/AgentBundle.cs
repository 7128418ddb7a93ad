namespace Sandbox.Isolation.Agent;

/// <summary>The agent as it is mounted into every long-lived sandbox: the NativeAOT binary and the glibc files it
/// needs (lib/ holds the dynamic loader and libraries), so it runs on any rootfs, with or without glibc of its own.
/// Built by scripts/build-agent.sh.</summary>
public sealed record AgentBundle(string Directory)
{
    /// <summary>Where the bundle appears inside the sandbox (read-only).</summary>
    public const string MountPoint = "/run/sandbox";

    /// <summary>The variable the faces (the CLI, sandboxd, tests) read to fill the drivers' <c>AgentDirectory</c>
    /// option; the engine itself never reads the environment.</summary>
    public const string EnvironmentVariable = "SANDBOX_AGENT_DIR";

    public static readonly string[] SearchPath =
    [
        Path.Combine(AppContext.BaseDirectory, "agent"),
        "/usr/local/lib/sandbox/agent",
        "/usr/lib/sandbox/agent",
    ];

    /// <summary>The file name of the container tier's launch helper in the bundle (src/Isolation/Native/sandbox-launch.c):
    /// a host-side program, run as root before bwrap, never inside a sandbox.</summary>
    public const string LaunchHelperName = "sandbox-launch";

    /// <summary>The bundle's <see cref="LaunchHelperName"/> (its resolved path); a bundle built before it existed is
    /// refused, naming the file, and so is one that anyone but root could replace (<see cref="RootOwnedProgram"/>).</summary>
    public string LaunchHelper()
    {
        var path = Path.Combine(Directory, LaunchHelperName);
        return File.Exists(path) ? RootOwnedProgram.Check(path)
            : throw new SandboxException(SandboxErrorCode.Unavailable,
                $"the agent bundle at {Directory} has no {LaunchHelperName}, which starts every container: rebuild it with scripts/build-agent.sh");
    }

    public static AgentBundle? TryLocate(string? configured)
    {
        foreach (var dir in Candidates(configured))
        {
            if (File.Exists(Path.Combine(dir, "sandbox-agent")) && File.Exists(Path.Combine(dir, "lib", "ld-linux-x86-64.so.2")))
                return new AgentBundle(dir);
        }
        return null;
    }

    public static AgentBundle Locate(string? configured) => TryLocate(configured)
        ?? throw new SandboxException(SandboxErrorCode.Unavailable,
            $"the sandbox agent was not found (looked in {string.Join(", ", Candidates(configured))}); build it with scripts/build-agent.sh and configure its directory ({EnvironmentVariable} for the CLI and tests)");

    private static IEnumerable<string> Candidates(string? configured) =>
        string.IsNullOrEmpty(configured) ? SearchPath : [configured];

    /// <summary>The agent's command line inside the sandbox: started through the bundled loader.</summary>
    /// <param name="listening">The descriptor is a listening socket (agent --listen-fd: host connections come and go,
    /// the agent stays) rather than a connected one (--fd: the agent exits when it closes).</param>
    public IReadOnlyList<string> Command(int socketFd, bool listening = false) =>
    [
        MountPoint + "/lib/ld-linux-x86-64.so.2", "--library-path", MountPoint + "/lib",
        MountPoint + "/sandbox-agent", listening ? "--listen-fd" : "--fd", socketFd.ToString(),
    ];
}
