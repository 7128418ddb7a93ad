namespace Sandbox.Policy.Rego;

/// <summary>object.get/keys/union/union_n/remove/filter/subset, array.concat/slice/reverse, numbers.range[_step], union, intersection.</summary>
internal static class CollectionBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("object.get", 3, (a, _) =>
        {
            var o = BuiltinTable.Obj(a, 0, "object.get");
            if (a[1] is ArrayValue path)
            {
                Value cur = o;
                foreach (var k in path.Items)
                {
                    var next = cur switch
                    {
                        ObjectValue co => co.Get(k),
                        ArrayValue ca => k is NumberValue n && n.TryGetInt(out var i) && i >= 0 && i < ca.Items.Length ? ca.Items[i] : null,
                        SetValue cs => cs.Contains(k) ? k : null,
                        _ => null,
                    };
                    if (next is null) return a[2];
                    cur = next;
                }
                return cur;
            }
            return o.Get(a[1]) ?? a[2];
        });
        t.Register("object.keys", 1, (a, _) => new SetValue(BuiltinTable.Obj(a, 0, "object.keys").Map.Keys));
        t.Register("object.union", 2, (a, _) => Merge(BuiltinTable.Obj(a, 0, "object.union"), BuiltinTable.Obj(a, 1, "object.union")));
        t.Register("object.union_n", 1, (a, _) =>
        {
            ObjectValue result = Value.EmptyObject;
            foreach (var item in BuiltinTable.Arr(a, 0, "object.union_n").Items)
                result = Merge(result, item as ObjectValue ?? throw new BuiltinTypeException($"object.union_n: operand 1 must be array of objects but got {Value.TypeName(item)} in it"));
            return result;
        });
        t.Register("object.remove", 2, (a, _) =>
        {
            var o = BuiltinTable.Obj(a, 0, "object.remove");
            var keys = a[1] switch
            {
                ObjectValue ko => ko.Map.Keys.ToHashSet(),
                _ => BuiltinTable.Elems(a, 1, "object.remove").ToHashSet(),
            };
            return new ObjectValue(o.Map.Where(kv => !keys.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
        });
        t.Register("array.concat", 2, (a, _) => new ArrayValue([.. BuiltinTable.Arr(a, 0, "array.concat").Items, .. BuiltinTable.Arr(a, 1, "array.concat").Items]));
        t.Register("array.slice", 3, (a, _) =>
        {
            var arr = BuiltinTable.Arr(a, 0, "array.slice").Items;
            var start = (int)Math.Clamp(BuiltinTable.Int(a, 1, "array.slice"), 0, arr.Length);
            var stop = (int)Math.Clamp(BuiltinTable.Int(a, 2, "array.slice"), 0, arr.Length);
            return stop <= start ? Value.EmptyArray : new ArrayValue(arr[start..stop]);
        });
        t.Register("array.reverse", 1, (a, _) => new ArrayValue(BuiltinTable.Arr(a, 0, "array.reverse").Items.Reverse().ToArray()));
        t.Register("object.filter", 2, (a, _) =>
        {
            var o = BuiltinTable.Obj(a, 0, "object.filter");
            var keep = KeySet(a, 1, "object.filter");
            return new ObjectValue(o.Map.Where(kv => keep.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
        });
        t.Register("object.subset", 2, (a, _) => (a[0], a[1]) switch
        {
            (ObjectValue, ObjectValue) or (SetValue, SetValue) or (ArrayValue, ArrayValue) or (ArrayValue, SetValue) => Value.Bool(Subset(a[0], a[1])),
            _ => throw new BuiltinTypeException($"object.subset: both arguments must be of the same type (object, set or array) or an array and a set, got {Value.TypeName(a[0])} and {Value.TypeName(a[1])}"),
        });
        t.Register("numbers.range", 2, (a, _) =>
        {
            var from = BuiltinTable.Int(a, 0, "numbers.range");
            var to = BuiltinTable.Int(a, 1, "numbers.range");
            var count = Math.Abs(to - from) + 1;
            if (count > MaxRange) throw new BuiltinException($"numbers.range: {count} elements is more than the limit of {MaxRange}");
            var step = to >= from ? 1 : -1;
            var items = new Value[count];
            for (var i = 0; i < count; i++) items[i] = Value.Number(from + (i * step));
            return new ArrayValue(items);
        });
        t.Register("numbers.range_step", 3, (a, _) =>
        {
            var from = BuiltinTable.Int(a, 0, "numbers.range_step");
            var to = BuiltinTable.Int(a, 1, "numbers.range_step");
            var step = BuiltinTable.Int(a, 2, "numbers.range_step");
            if (step <= 0) throw new BuiltinException("numbers.range_step: step must be a positive number above zero");
            var count = (Math.Abs(to - from) / step) + 1;
            if (count > MaxRange) throw new BuiltinException($"numbers.range_step: {count} elements is more than the limit of {MaxRange}");
            var dir = to >= from ? step : -step;
            var items = new Value[count];
            for (var i = 0; i < count; i++) items[i] = Value.Number(from + (i * dir));
            return new ArrayValue(items);
        });
        t.Register("union", 1, (a, _) =>
        {
            var h = new HashSet<Value>();
            foreach (var s in BuiltinTable.Set(a, 0, "union").Items)
                h.UnionWith(s as SetValue is { } ss ? ss.Items : throw new BuiltinTypeException("union: operand 1 must be a set of sets"));
            return new SetValue(h, true);
        });
        t.Register("intersection", 1, (a, _) =>
        {
            HashSet<Value>? h = null;
            foreach (var s in BuiltinTable.Set(a, 0, "intersection").Items)
            {
                var ss = s as SetValue ?? throw new BuiltinTypeException("intersection: operand 1 must be a set of sets");
                if (h is null) h = new HashSet<Value>(ss.Items);
                else h.IntersectWith(ss.Items);
            }
            return new SetValue(h ?? [], true);
        });
    }

    /// <summary>object.union: b wins, nested objects merge recursively.</summary>
    private static ObjectValue Merge(ObjectValue a, ObjectValue b)
    {
        var map = new Dictionary<Value, Value>(a.Map);
        foreach (var (k, v) in b.Map)
            map[k] = map.TryGetValue(k, out var existing) && existing is ObjectValue eo && v is ObjectValue vo ? Merge(eo, vo) : v;
        return new ObjectValue(map);
    }

    /// <summary>Largest array numbers.range builds (evaluation memory stays bounded).</summary>
    private const long MaxRange = 100_000;

    /// <summary>The keys operand of object.filter/object.remove: an array, set or object (its keys).</summary>
    private static HashSet<Value> KeySet(Value[] a, int i, string fn) => a[i] switch
    {
        ObjectValue o => [.. o.Map.Keys],
        _ => [.. BuiltinTable.Elems(a, i, fn)],
    };

    /// <summary>OPA's object.subset: objects recursively, sets by inclusion, arrays as contiguous sub-arrays; otherwise equality.</summary>
    private static bool Subset(Value super, Value sub) => (super, sub) switch
    {
        (ObjectValue o, ObjectValue s) => s.Map.All(kv => o.Map.TryGetValue(kv.Key, out var v) && Subset(v, kv.Value)),
        (SetValue o, SetValue s) => s.Items.All(o.Contains),
        (ArrayValue o, ArrayValue s) => s.Items.Length == 0 || Enumerable.Range(0, Math.Max(0, o.Items.Length - s.Items.Length + 1))
            .Any(start => s.Items.Select((v, j) => o.Items[start + j].Equals(v)).All(x => x)),
        (ArrayValue o, SetValue s) => s.Items.All(x => Array.IndexOf(o.Items, x) >= 0),
        _ => super.Equals(sub),
    };
}
