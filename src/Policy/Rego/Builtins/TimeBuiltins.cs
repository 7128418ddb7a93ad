namespace Sandbox.Policy.Rego;

/// <summary>time.now_ns: off unless the compile options enable it (decisions stay deterministic by default).</summary>
internal static class TimeBuiltins
{
    public static void Register(BuiltinTable t) =>
        t.Register("time.now_ns", 0, (_, ctx) => Value.Number(ctx.NowNs), requiresCapability: true);
}
