using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Sandbox.Policy.Rego;

/// <summary>
/// yaml.marshal: a value as block YAML, keys sorted, sets as sequences (emitted event by event: no reflection, so
/// NativeAOT-safe). A string that YAML would read back as another type (<c>"true"</c>, <c>"1"</c>, <c>""</c>,
/// <c>"null"</c>) is double-quoted, so yaml.unmarshal gives the value back.
/// </summary>
internal static class YamlMarshalBuiltin
{
    public static void Register(BuiltinTable t) => t.Register("yaml.marshal", 1, (a, _) =>
    {
        var w = new StringWriter();
        var e = new Emitter(w);
        e.Emit(new StreamStart());
        e.Emit(new DocumentStart(null, null, true));
        Emit(e, a[0], 0);
        e.Emit(new DocumentEnd(true));
        e.Emit(new StreamEnd());
        return Value.String(w.ToString());
    });

    private static void Emit(IEmitter e, Value v, int depth)
    {
        if (depth > ValueJson.DefaultMaxDepth) throw new BuiltinException("yaml.marshal: value nested too deeply");
        switch (v)
        {
            case ObjectValue o:
                e.Emit(new MappingStart(null, null, true, o.Map.Count == 0 ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var k in o.SortedKeys)
                {
                    Str(e, k is StringValue ks ? ks.V : k.ToJson());
                    Emit(e, o.Get(k)!, depth + 1);
                }
                e.Emit(new MappingEnd());
                break;
            case ArrayValue or SetValue:
                var items = v is ArrayValue a ? a.Items : ((SetValue)v).Sorted;
                e.Emit(new SequenceStart(null, null, true, items.Any() ? SequenceStyle.Block : SequenceStyle.Flow));
                foreach (var i in items) Emit(e, i, depth + 1);
                e.Emit(new SequenceEnd());
                break;
            case StringValue s:
                Str(e, s.V);
                break;
            default:
                e.Emit(new Scalar(null, null, v.ToJson(), ScalarStyle.Plain, true, false));
                break;
        }
    }

    private static void Str(IEmitter e, string s)
    {
        bool ambiguous;
        try
        {
            ambiguous = s.Length == 0 || s != s.Trim() || RegoBundle.YamlToValue(s) is not StringValue back || back.V != s;
        }
        catch (Exception ex) when (ex is RegoException or YamlException or InvalidOperationException or ArgumentException)
        {
            ambiguous = true;
        }
        e.Emit(new Scalar(null, null, s, ambiguous ? ScalarStyle.DoubleQuoted : ScalarStyle.Any, true, true));
    }
}
