using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// print(a, b, ...), as OPA runs it: the parser turns each argument into a set comprehension (every value it takes;
/// empty when it is undefined) and calls <c>internal.print</c> with the array of those sets. One line goes to the
/// evaluation's print hook per combination of the arguments' values, joined by spaces: strings as they are, other
/// values as Rego text, an undefined argument as <c>&lt;undefined&gt;</c>. The expression always holds, so printing
/// never changes a result.
/// </summary>
internal static class PrintBuiltin
{
    public const string Name = "internal.print";

    public static void Register(BuiltinTable t) => t.Register(Name, 1, (a, ctx) =>
    {
        if (ctx.Options.PrintHook is not { } hook) return Value.True;
        if (a[0] is not ArrayValue args) throw new BuiltinTypeException($"{Name}: operand 1 must be array but got {Value.TypeName(a[0])}");
        var parts = new string[args.Items.Length];
        Emit(args.Items, 0, parts, hook);
        return Value.True;
    });

    private static void Emit(IReadOnlyList<Value> args, int i, string[] parts, Action<string> hook)
    {
        if (i == args.Count)
        {
            hook(string.Join(' ', parts));
            return;
        }
        if (args[i] is not SetValue values) throw new BuiltinTypeException($"{Name}: illegal argument type: {Value.TypeName(args[i])}");
        if (values.Count == 0)
        {
            parts[i] = "<undefined>";
            Emit(args, i + 1, parts, hook);
            return;
        }
        foreach (var v in values.Sorted)
        {
            parts[i] = v is StringValue s ? s.V : StringBuiltins.FormatValue(v);
            Emit(args, i + 1, parts, hook);
        }
    }
}
