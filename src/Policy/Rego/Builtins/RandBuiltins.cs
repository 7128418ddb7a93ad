namespace Sandbox.Policy.Rego;

/// <summary>
/// rand.intn(str, n): a random integer in [0, |n|) (0 for n = 0). As in OPA, one evaluation gives the same value for
/// the same (str, n) every time it asks, so a query stays consistent with itself; a new evaluation draws again.
/// Only callable when the bundle is compiled with <see cref="RegoCompileOptions.AllowRandom"/>.
/// </summary>
internal static class RandBuiltins
{
    private const string Fn = "rand.intn";

    public static void Register(BuiltinTable t) => t.Register(Fn, 2, (a, ctx) =>
    {
        var key = BuiltinTable.Str(a, 0, Fn);
        if (a[1] is not NumberValue n) throw new BuiltinTypeException($"{Fn}: operand 2 must be number but got {Value.TypeName(a[1])}");
        if (!n.TryGetInt(out var bound)) throw new BuiltinException($"{Fn}: operand 2 must be integer number but got floating-point number");
        if (bound == 0) return NumberValue.Of(0);
        if (bound == long.MinValue) throw new BuiltinException($"{Fn}: operand 2 out of range");
        bound = Math.Abs(bound);
        if (!ctx.RandomInts.TryGetValue((key, bound), out var drawn))
            ctx.RandomInts[(key, bound)] = drawn = Random.Shared.NextInt64(bound);
        return NumberValue.Of(drawn);
    }, requiresCapability: true);
}
