namespace Sandbox.Policy.Rego;

/// <summary>count, sum, product, max, min, sort.</summary>
internal static class AggregateBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("count", 1, (a, _) => Value.Number(a[0] switch
        {
            ArrayValue arr => arr.Items.Length,
            SetValue s => s.Count,
            ObjectValue o => o.Count,
            StringValue str => str.V.EnumerateRunes().Count(),
            _ => throw new BuiltinTypeException($"count: operand 1 must be one of {{array, object, set, string}} but got {Value.TypeName(a[0])}"),
        }));
        t.Register("sum", 1, (a, _) => Numbers(a, "sum").Aggregate(new NumberValue(0), NumberArithmetic.Add));
        t.Register("product", 1, (a, _) => Numbers(a, "product").Aggregate(new NumberValue(1), NumberArithmetic.Mul));
        t.Register("max", 1, (a, _) =>
        {
            var e = BuiltinTable.Elems(a, 0, "max");
            return e.Count == 0 ? null : e.Max();
        });
        t.Register("min", 1, (a, _) =>
        {
            var e = BuiltinTable.Elems(a, 0, "min");
            return e.Count == 0 ? null : e.Min();
        });
        t.Register("sort", 1, (a, _) =>
        {
            var e = BuiltinTable.Elems(a, 0, "sort").ToArray();
            Array.Sort(e);
            return new ArrayValue(e);
        });
    }

    private static IEnumerable<NumberValue> Numbers(Value[] a, string fn) =>
        BuiltinTable.Elems(a, 0, fn).Select(v => v is NumberValue n ? n : throw new BuiltinTypeException($"{fn}: operand 1 must be a collection of numbers but contains {Value.TypeName(v)}"));
}
