using Sandbox.Policy.Rego;

namespace Sandbox.Cli.Commands.Policy;

/// <summary>Reads an input document for <c>policy eval|explain</c>: JSON, or YAML by extension; <c>-</c> is stdin.</summary>
public static class PolicyInputFile
{
    /// <summary>Largest input document read from a file, bytes (16 MiB).</summary>
    public const long MaxInputBytes = 16L << 20;

    public static RegoInput Read(string path)
    {
        var text = path == "-" ? Console.In.ReadToEnd() : ReadBounded(path);
        return path.EndsWith(".yaml", StringComparison.Ordinal) || path.EndsWith(".yml", StringComparison.Ordinal)
            ? RegoInput.ParseYaml(text)
            : RegoInput.ParseJson(text);
    }

    private static string ReadBounded(string path)
    {
        if (!File.Exists(path)) throw new RegoException(RegoErrorCodes.InvalidParameter, $"input file '{path}' does not exist");
        if (new FileInfo(path).Length > MaxInputBytes) throw new RegoException(RegoErrorCodes.InvalidParameter, $"input file '{path}' is larger than {MaxInputBytes} bytes");
        return File.ReadAllText(path);
    }
}
