using System.Text;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tools;

/// <summary>Indented JSON as <c>opa eval</c> prints it (2 spaces, sorted object keys, sets as sorted arrays).</summary>
internal static class PrettyJson
{
    public static string Format(Value v)
    {
        var sb = new StringBuilder();
        Write(sb, v, 0);
        return sb.ToString();
    }

    public static void Write(StringBuilder sb, Value v, int indent)
    {
        switch (v)
        {
            case ArrayValue a: WriteSeq(sb, a.Items, indent); break;
            case SetValue s: WriteSeq(sb, s.Sorted, indent); break;
            case ObjectValue o:
                if (o.Count == 0)
                {
                    sb.Append("{}");
                    return;
                }
                sb.Append("{\n");
                var first = true;
                foreach (var k in o.SortedKeys)
                {
                    if (!first) sb.Append(",\n");
                    first = false;
                    sb.Append(' ', indent + 2);
                    Value.WriteJsonString(sb, k is StringValue ks ? ks.V : k.ToJson());
                    sb.Append(": ");
                    Write(sb, o.Map[k], indent + 2);
                }
                sb.Append('\n').Append(' ', indent).Append('}');
                break;
            default: v.WriteJson(sb); break;
        }
    }

    private static void WriteSeq(StringBuilder sb, IReadOnlyList<Value> items, int indent)
    {
        if (items.Count == 0)
        {
            sb.Append("[]");
            return;
        }
        sb.Append("[\n");
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(",\n");
            sb.Append(' ', indent + 2);
            Write(sb, items[i], indent + 2);
        }
        sb.Append('\n').Append(' ', indent).Append(']');
    }

    /// <summary>An object whose keys keep the given order (OPA's result envelope is not sorted).</summary>
    public static void WriteOrdered(StringBuilder sb, IReadOnlyList<(string Key, Action<StringBuilder, int> Write)> fields, int indent)
    {
        sb.Append("{\n");
        for (var i = 0; i < fields.Count; i++)
        {
            if (i > 0) sb.Append(",\n");
            sb.Append(' ', indent + 2);
            Value.WriteJsonString(sb, fields[i].Key);
            sb.Append(": ");
            fields[i].Write(sb, indent + 2);
        }
        sb.Append('\n').Append(' ', indent).Append('}');
    }

    public static void WriteList<T>(StringBuilder sb, IReadOnlyList<T> items, Action<StringBuilder, T, int> write, int indent)
    {
        sb.Append("[\n");
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(",\n");
            sb.Append(' ', indent + 2);
            write(sb, items[i], indent + 2);
        }
        sb.Append('\n').Append(' ', indent).Append(']');
    }
}
