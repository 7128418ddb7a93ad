namespace Sandbox.CiRunner.Expressions;

/// <summary>Evaluates an <see cref="Expr"/> as GitHub's runner does: <c>&amp;&amp;</c>/<c>||</c> return an operand
/// (short-circuit), loose equality, a missing property (or any property of null or a scalar) is null, never an error.</summary>
public static class Evaluator
{
    public static ExprValue Evaluate(Expr expr, EvaluationContext context) => expr switch
    {
        LiteralExpr l => l.Value,
        ContextExpr c => context.Contexts[c.Name]
            ?? throw new ExpressionException($"unrecognized named-value '{c.Name}': available here are {string.Join(", ", context.Contexts.Keys)}"),
        MemberExpr m => Member(Evaluate(m.Target, context), m.Name),
        IndexExpr i => Index(Evaluate(i.Target, context), Evaluate(i.Index, context)),
        WildcardExpr w => Wildcard(Evaluate(w.Target, context)),
        NotExpr n => ExprValue.Bool(!Evaluate(n.Operand, context).IsTruthy),
        BinaryExpr b => Binary(b, context),
        CallExpr call => Functions.Call(call, context),
        TemplateExpr t => t.Template.Evaluate(context),
        _ => throw new ExpressionException($"cannot evaluate {expr.GetType().Name}"),
    };

    private static ExprValue Binary(BinaryExpr b, EvaluationContext context)
    {
        var left = Evaluate(b.Left, context);
        switch (b.Op)
        {
            case BinaryOp.And: return left.IsTruthy ? Evaluate(b.Right, context) : left;
            case BinaryOp.Or: return left.IsTruthy ? left : Evaluate(b.Right, context);
        }
        var right = Evaluate(b.Right, context);
        return b.Op switch
        {
            BinaryOp.Equal => ExprValue.Bool(ExprValue.LooseEquals(left, right)),
            BinaryOp.NotEqual => ExprValue.Bool(!ExprValue.LooseEquals(left, right)),
            _ => ExprValue.Bool(ExprValue.Compare(left, right) is { } c && b.Op switch
            {
                BinaryOp.Less => c < 0,
                BinaryOp.LessOrEqual => c <= 0,
                BinaryOp.Greater => c > 0,
                _ => c >= 0,
            }),
        };
    }

    private static ExprValue Member(ExprValue target, string name)
    {
        if (target.IsFiltered)
            return ExprValue.FilteredArray(target.Items.Select(i => Member(i, name)).Where(v => v.Kind != ExprKind.Null));
        return target.Kind == ExprKind.Object ? target.Properties[name] ?? ExprValue.Null : ExprValue.Null;
    }

    private static ExprValue Index(ExprValue target, ExprValue index)
    {
        if (target.IsFiltered)
            return ExprValue.FilteredArray(target.Items.Select(i => Index(i, index)).Where(v => v.Kind != ExprKind.Null));
        switch (target.Kind)
        {
            case ExprKind.Object:
                return index.Kind is ExprKind.Array or ExprKind.Object ? ExprValue.Null : target.Properties[index.ToDisplayString()] ?? ExprValue.Null;
            case ExprKind.Array:
                var n = index.ToNumber();
                if (double.IsNaN(n) || n < 0) return ExprValue.Null;
                var i = (int)Math.Floor(n);
                return i < target.Items.Count ? target.Items[i] : ExprValue.Null;
            default:
                return ExprValue.Null;
        }
    }

    private static ExprValue Wildcard(ExprValue target) => target.Kind switch
    {
        ExprKind.Array => ExprValue.FilteredArray(target.Items),
        ExprKind.Object => ExprValue.FilteredArray(target.Properties.Select(p => p.Value)),
        _ => ExprValue.FilteredArray([]),
    };
}
