using System.Globalization;
using System.Text;

namespace Sandbox.Agent;

/// <summary>
/// What the agent writes to a prepared first stage (<c>src/Agent/Native/sandbox-exec.c</c>, which parses it) when its exec is asked for:
/// NUL-terminated UTF-8 fields, stdin (0|1), uid, gid, nproc, cwd, path, argc, argv..., then the environment to the
/// end. Written in one go into an empty pipe, so it is kept under a pipe's capacity (<see cref="MaxPayload"/>).
/// </summary>
internal sealed record PreparedExec(bool Stdin, uint Uid, uint Gid, ulong Nproc, string Cwd, string Path, string[] Argv, string[] Envp)
{
    /// <summary>The most argv + env a prepared exec takes (a pipe holds 64 KiB); a larger one is spawned held instead.</summary>
    public const int MaxPayload = 48 * 1024;

    public byte[] Encode()
    {
        var fields = new List<string>(8 + Argv.Length + Envp.Length)
        {
            Stdin ? "1" : "0", Uid.ToString(CultureInfo.InvariantCulture), Gid.ToString(CultureInfo.InvariantCulture),
            Nproc.ToString(CultureInfo.InvariantCulture), Cwd, Path, Argv.Length.ToString(CultureInfo.InvariantCulture),
        };
        fields.AddRange(Argv);
        fields.AddRange(Envp);
        var builder = new StringBuilder();
        foreach (var field in fields)
            builder.Append(field).Append('\0');
        return Encoding.UTF8.GetBytes(builder.ToString());
    }
}
