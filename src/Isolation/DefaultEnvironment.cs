namespace Sandbox.Isolation;

/// <summary>The environment every sandboxed process starts from; the spec's and the process's entries override it.</summary>
public static class DefaultEnvironment
{
    public const string Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static Dictionary<string, string> For(SandboxSpec spec, ProcessSpec? process)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = Path,
            ["HOME"] = spec.WorkDir,
            ["USER"] = "sandbox",
            ["LOGNAME"] = "sandbox",
            ["LANG"] = "C.UTF-8",
            ["HOSTNAME"] = spec.Hostname,
            ["TMPDIR"] = "/tmp",
        };
        foreach (var (k, v) in spec.Env)
            env[k] = v;
        if (process is not null)
        {
            foreach (var (k, v) in process.Env)
                env[k] = v;
        }
        return env;
    }

    public static List<string> ToEnvp(Dictionary<string, string> env) => [.. env.Select(kv => kv.Key + "=" + kv.Value)];
}
