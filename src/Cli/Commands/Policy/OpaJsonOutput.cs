using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sandbox.Policy.Rego;

namespace Sandbox.Cli.Commands.Policy;

/// <summary>What <c>opa eval</c> prints: indented JSON (2 spaces), result envelope in OPA's key order.</summary>
public static class OpaJsonOutput
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Format(JsonNode? value) => Write(w => WriteNode(w, value));

    public static string Format(RegoQueryResult result)
    {
        if (result.Solutions.Count == 0) return "{}";
        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("result");
            foreach (var s in result.Solutions)
            {
                w.WriteStartObject();
                w.WriteStartArray("expressions");
                foreach (var e in s.Expressions)
                {
                    w.WriteStartObject();
                    w.WritePropertyName("value");
                    WriteNode(w, e.Value);
                    w.WriteString("text", e.Text);
                    w.WriteStartObject("location");
                    w.WriteNumber("row", e.Location.Row);
                    w.WriteNumber("col", e.Location.Col);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                if (s.Bindings.Count > 0)
                {
                    w.WriteStartObject("bindings");
                    foreach (var (name, value) in s.Bindings.OrderBy(b => b.Key, StringComparer.Ordinal))
                    {
                        w.WritePropertyName(name);
                        WriteNode(w, value);
                    }
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public static string FormatErrors(IReadOnlyList<RegoError> errors) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("errors");
        foreach (var e in errors)
            e.WriteJson(w);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static void WriteNode(Utf8JsonWriter w, JsonNode? node)
    {
        if (node is null) w.WriteNullValue();
        else node.WriteTo(w);
    }

    private static string Write(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, Indented)) write(w);
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
