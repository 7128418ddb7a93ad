using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// An input document parsed once, with the evaluator's limits (JSON depth ≤ 128): what the faces (the Data API
/// server, <c>sandbox policy eval</c>) hand to <see cref="CompiledPolicy"/> without going through JsonNode.
/// </summary>
public sealed class RegoInput
{
    private RegoInput(Value value) => Value = value;

    internal Value Value { get; }

    /// <summary>Parses UTF-8 JSON; throws <see cref="RegoException"/> (<c>invalid_parameter</c>) naming what is wrong.</summary>
    public static RegoInput ParseJson(ReadOnlySpan<byte> utf8) => new(ValueJson.Parse(utf8));

    /// <summary>Parses JSON text; throws <see cref="RegoException"/> naming what is wrong.</summary>
    public static RegoInput ParseJson(string json) => new(ValueJson.Parse(Encoding.UTF8.GetBytes(json)));

    /// <summary>Parses a YAML document (the same reader as bundle <c>data.yaml</c> files).</summary>
    public static RegoInput ParseYaml(string yaml) => new(RegoBundle.FromFiles([("data.yaml", yaml)]).BaseData);

    /// <summary>The member <paramref name="key"/> of an object document (the Data API's <c>{"input": …}</c>), or null.</summary>
    public RegoInput? Member(string key) => Value is ObjectValue o && o.Get(key) is { } v ? new RegoInput(v) : null;

    /// <summary>The document as OPA prints it (compact, sorted keys).</summary>
    public override string ToString() => Value.ToJson();
}
