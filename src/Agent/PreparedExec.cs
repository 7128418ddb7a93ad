using System.Globalization;
using System.Text;

namespace Sandbox.Agent;

/// <summary>
/// What the agent writes to a prepared first stage (<see cref="HeldExec.RunPrepared"/>) when its exec is asked for:
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

    /// <summary>Null when <paramref name="payload"/> is not one <see cref="Encode"/> wrote.</summary>
    public static PreparedExec? Decode(byte[] payload)
    {
        if (payload.Length == 0 || payload[^1] != 0)
            return null;
        var fields = Encoding.UTF8.GetString(payload, 0, payload.Length - 1).Split('\0');
        if (fields.Length < 8 || fields[0] is not ("0" or "1")
            || !uint.TryParse(fields[1], CultureInfo.InvariantCulture, out var uid) || !uint.TryParse(fields[2], CultureInfo.InvariantCulture, out var gid)
            || !ulong.TryParse(fields[3], CultureInfo.InvariantCulture, out var nproc)
            || !int.TryParse(fields[6], CultureInfo.InvariantCulture, out var argc) || argc < 1 || 7 + argc > fields.Length)
            return null;
        return new PreparedExec(fields[0] == "1", uid, gid, nproc, fields[4], fields[5], fields[7..(7 + argc)], fields[(7 + argc)..]);
    }
}
