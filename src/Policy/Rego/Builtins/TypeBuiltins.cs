using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>is_*, type_name, to_number.</summary>
internal static class TypeBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("is_number", 1, (a, _) => Value.Bool(a[0] is NumberValue));
        t.Register("is_string", 1, (a, _) => Value.Bool(a[0] is StringValue));
        t.Register("is_boolean", 1, (a, _) => Value.Bool(a[0] is BoolValue));
        t.Register("is_array", 1, (a, _) => Value.Bool(a[0] is ArrayValue));
        t.Register("is_set", 1, (a, _) => Value.Bool(a[0] is SetValue));
        t.Register("is_object", 1, (a, _) => Value.Bool(a[0] is ObjectValue));
        t.Register("is_null", 1, (a, _) => Value.Bool(a[0] is NullValue));
        t.Register("type_name", 1, (a, _) => Value.String(Value.TypeName(a[0])));
        t.Register("to_number", 1, (a, _) => a[0] switch
        {
            NumberValue n => n,
            NullValue => Value.Number(0),
            BoolValue b => Value.Number(b.V ? 1 : 0),
            StringValue s when NumberValue.Parse(s.V.AsSpan()) is { } n => n,
            StringValue s => throw new BuiltinException($"to_number: invalid syntax: \"{s.V}\""),
            _ => throw new BuiltinTypeException($"to_number: operand 1 must be one of {{boolean, null, number, string}} but got {Value.TypeName(a[0])}"),
        });
    }
}
