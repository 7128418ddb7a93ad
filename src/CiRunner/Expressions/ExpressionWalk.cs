namespace Sandbox.CiRunner.Expressions;

/// <summary>Questions answered by walking a syntax tree without evaluating it.</summary>
public static class ExpressionWalk
{
    public static IEnumerable<Expr> Nodes(Expr expr)
    {
        yield return expr;
        IEnumerable<Expr> children = expr switch
        {
            MemberExpr m => [m.Target],
            IndexExpr i => [i.Target, i.Index],
            WildcardExpr w => [w.Target],
            NotExpr n => [n.Operand],
            BinaryExpr b => [b.Left, b.Right],
            CallExpr c => c.Args,
            TemplateExpr t => t.Template.Expressions,
            _ => [],
        };
        foreach (var child in children)
            foreach (var node in Nodes(child))
                yield return node;
    }

    public static IEnumerable<string> ContextNames(Expr expr) =>
        Nodes(expr).OfType<ContextExpr>().Select(c => c.Name).Distinct(StringComparer.OrdinalIgnoreCase);

    public static bool CallsStatusFunction(Expr expr) =>
        Nodes(expr).OfType<CallExpr>().Any(c => Functions.StatusFunctionNames.Contains(c.Name));

    /// <summary>Every hashFiles(...) call, so a step's hashes can be computed in its sandbox before it is evaluated.</summary>
    public static IEnumerable<CallExpr> HashFilesCalls(Expr expr) =>
        Nodes(expr).OfType<CallExpr>().Where(c => c.Name.Equals("hashFiles", StringComparison.OrdinalIgnoreCase));
}
