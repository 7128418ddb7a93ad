namespace Sandbox.Policy.Rego;

/// <summary>Infix operators: comparison, arithmetic, set union/intersection/difference and membership.</summary>
internal static class OperatorBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("equal", 2, (a, _) => Value.Bool(a[0].Equals(a[1])));
        t.Register("neq", 2, (a, _) => Value.Bool(!a[0].Equals(a[1])));
        t.Register("lt", 2, (a, _) => Value.Bool(a[0].CompareTo(a[1]) < 0));
        t.Register("lte", 2, (a, _) => Value.Bool(a[0].CompareTo(a[1]) <= 0));
        t.Register("gt", 2, (a, _) => Value.Bool(a[0].CompareTo(a[1]) > 0));
        t.Register("gte", 2, (a, _) => Value.Bool(a[0].CompareTo(a[1]) >= 0));
        t.Register("plus", 2, (a, _) => NumberArithmetic.Add(BuiltinTable.Number(a, 0, "plus"), BuiltinTable.Number(a, 1, "plus")));
        t.Register("minus", 2, Minus);
        t.Register("mul", 2, (a, _) => NumberArithmetic.Mul(BuiltinTable.Number(a, 0, "mul"), BuiltinTable.Number(a, 1, "mul")));
        t.Register("div", 2, (a, _) =>
        {
            var d = BuiltinTable.Number(a, 1, "div");
            if (d.V == 0) throw new BuiltinException("div: divide by zero");
            return NumberArithmetic.Div(BuiltinTable.Number(a, 0, "div"), d);
        });
        t.Register("rem", 2, (a, _) =>
        {
            // As OPA: a non-number is a type error, a fraction a builtin error.
            var x = RemOperand(a, 0);
            var y = RemOperand(a, 1);
            if (y.IsZero) throw new BuiltinException("rem: modulo by zero");
            return NumberArithmetic.Rem(x, y);
        });
        t.Register("abs", 1, (a, _) => BuiltinTable.Number(a, 0, "abs") is { Big: { } b } ? NumberValue.Of(System.Numerics.BigInteger.Abs(b)) : Value.Number(Math.Abs(BuiltinTable.Num(a, 0, "abs"))));
        // A big integer is already whole.
        t.Register("round", 1, (a, _) => BuiltinTable.Number(a, 0, "round") is { Big: not null } n ? n : Value.Number(Math.Round(BuiltinTable.Num(a, 0, "round"), MidpointRounding.AwayFromZero)));
        t.Register("ceil", 1, (a, _) => BuiltinTable.Number(a, 0, "ceil") is { Big: not null } n ? n : Value.Number(Math.Ceiling(BuiltinTable.Num(a, 0, "ceil"))));
        t.Register("floor", 1, (a, _) => BuiltinTable.Number(a, 0, "floor") is { Big: not null } n ? n : Value.Number(Math.Floor(BuiltinTable.Num(a, 0, "floor"))));
        t.Register("or", 2, (a, _) =>
        {
            var x = BuiltinTable.Set(a, 0, "or");
            var y = BuiltinTable.Set(a, 1, "or");
            var h = new HashSet<Value>(x.Items);
            h.UnionWith(y.Items);
            return new SetValue(h, true);
        });
        t.Register("and", 2, (a, _) =>
        {
            var x = BuiltinTable.Set(a, 0, "and");
            var y = BuiltinTable.Set(a, 1, "and");
            var h = new HashSet<Value>(x.Items);
            h.IntersectWith(y.Items);
            return new SetValue(h, true);
        });
        t.Register("internal.member_2", 2, (a, _) => Value.Bool(a[1] switch
        {
            SetValue s => s.Contains(a[0]),
            ArrayValue arr => Array.IndexOf(arr.Items, a[0]) >= 0,
            ObjectValue o => o.Map.Values.Contains(a[0]),
            _ => false,
        }));
        t.Register("internal.member_3", 3, (a, _) => Value.Bool(a[2] switch
        {
            ArrayValue arr => a[0] is NumberValue n && n.TryGetInt(out var i) && i >= 0 && i < arr.Items.Length && arr.Items[i].Equals(a[1]),
            ObjectValue o => o.Get(a[0]) is { } v && v.Equals(a[1]),
            SetValue s => a[0].Equals(a[1]) && s.Contains(a[0]),
            _ => false,
        }));
    }

    private static System.Numerics.BigInteger RemOperand(Value[] a, int i) =>
        BuiltinTable.Number(a, i, "rem").TryGetBig(out var b) ? b : throw new BuiltinException("rem: modulo on floating-point number");

    private static Value Minus(Value[] a, BuiltinContext _)
    {
        if (a[0] is SetValue x && a[1] is SetValue y)
        {
            var h = new HashSet<Value>(x.Items);
            h.ExceptWith(y.Items);
            return new SetValue(h, true);
        }
        if (a[0] is NumberValue n && a[1] is NumberValue m) return NumberArithmetic.Sub(n, m);
        // OPA names the operand that does not fit the first one's type (a type error, not a builtin error).
        return a[0] switch
        {
            NumberValue => throw new BuiltinTypeException($"minus: operand 2 must be number but got {Value.TypeName(a[1])}"),
            SetValue => throw new BuiltinTypeException($"minus: operand 2 must be set but got {Value.TypeName(a[1])}"),
            _ => throw new BuiltinTypeException($"minus: operand 1 must be one of {{number, set}} but got {Value.TypeName(a[0])}"),
        };
    }
}
