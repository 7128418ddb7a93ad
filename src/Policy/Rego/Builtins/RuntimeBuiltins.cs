namespace Sandbox.Policy.Rego;

/// <summary>opa.runtime and test.sleep: the two runtime builtins that are safe inside a sandbox decision.</summary>
internal static class RuntimeBuiltins
{
    /// <summary>
    /// OPA's opa.runtime reports the server's environment variables and configuration; an embedded decision must not
    /// see the host's environment, so ours is a fixed object with the same shape and nothing in it.
    /// </summary>
    private static readonly ObjectValue Runtime = new(new Dictionary<Value, Value>
    {
        [Value.String("env")] = Value.EmptyObject,
        [Value.String("config")] = Value.EmptyObject,
        [Value.String("version")] = Value.String("sandbox-embedded"),
    });

    private static readonly TimeSpan MaxSleep = TimeSpan.FromSeconds(1);

    public static void Register(BuiltinTable t)
    {
        t.Register("opa.runtime", 0, (_, _) => Runtime);
        // Sleeps at most until the evaluation's timeout or cancellation, which then end the evaluation as usual; with
        // no timeout one call sleeps at most MaxSleep, so a policy cannot hang an evaluation that set no limit.
        t.Register("test.sleep", 1, (a, ctx) =>
        {
            var ns = Duration.ParseNs(BuiltinTable.Str(a, 0, "test.sleep"));
            if (!ns.TryGetInt(out var n)) throw new BuiltinException("test.sleep: duration out of range");
            var wait = TimeSpan.FromTicks(Math.Max(0, n / 100));
            var limit = ctx.Options.Timeout ?? MaxSleep;
            var cut = wait > limit;
            if (cut) wait = limit;
            if (ctx.Options.CancellationToken.WaitHandle.WaitOne(wait))
                throw new RegoException(RegoErrorCodes.CancelError, "evaluation cancelled");
            if (cut && ctx.Options.Timeout is { } timeout)
                throw new RegoException(RegoErrorCodes.CancelError, $"evaluation exceeded the timeout of {timeout}");
            return Value.Null;
        });
    }
}
