namespace Sandbox.Policy.Rego;

/// <summary>The literals of a rule body or query: <c>some</c>, <c>every</c>, <c>not</c>, <c>with</c>, assignments and
/// membership.</summary>
internal sealed partial class Parser
{
    private Expr[] ParseLiterals(TokenKind end)
    {
        _newlineEnds.Push(true);
        var list = new List<Expr>();
        while (Peek.Kind != end)
        {
            if (list.Count > 0 && !Peek.NewlineBefore)
            {
                if (Peek.Kind == TokenKind.Semicolon) Next();
                else throw Error(Peek, $"unexpected {Describe(Peek)}, expected ';' or a new line between expressions");
            }
            while (Peek.Kind == TokenKind.Semicolon) Next();
            if (Peek.Kind == end) break;
            list.Add(ParseLiteral());
        }
        _newlineEnds.Pop();
        if (list.Count == 0) throw Error(Peek, "found empty body");
        return list.ToArray();
    }

    private Expr ParseLiteral()
    {
        var start = Peek;
        Expr expr;
        if (IsIdent("not"))
        {
            Next();
            expr = ParseExprCore(start);
            if (expr is SomeDeclExpr or SomeInExpr or EveryExpr or AssignExpr) throw Error(start, "'not' cannot negate this expression");
            expr.Negated = true;
        }
        else
        {
            expr = ParseExprCore(start);
        }
        var withs = new List<WithModifier>();
        while (IsIdent("with")) // a keyword: it never starts an expression, so a new line may begin with it
        {
            var w = Next();
            var target = ParseTermAt(Level.Primary);
            if (!IsIdent("as")) throw Error(Peek, "expected 'as' in with modifier");
            Next();
            withs.Add(new WithModifier(Loc(w), target, ParseTerm()));
        }
        expr.Withs = withs.ToArray();
        var end = _toks[_i - 1];
        expr.Text = _src[start.Start..end.End];
        return expr;
    }

    private Expr ParseExprCore(Token start)
    {
        var loc = Loc(start);
        if (IsIdent("some"))
        {
            Next();
            var t1 = ParseTermAt(Level.Relation);
            Term? t2 = null;
            if (Peek.Kind == TokenKind.Comma)
            {
                // `some k, v in xs` (v may be any pattern) or a variable list `some a, b`: look past the comma.
                var save = _i;
                Next();
                var candidate = ParseTermAt(Level.Relation);
                if (IsIdent("in")) t2 = candidate;
                else _i = save;
            }
            if (IsIdent("in"))
            {
                Next();
                var coll = ParseTermAt(Level.Relation);
                return t2 is null ? new SomeInExpr(loc, null, t1, coll) : new SomeInExpr(loc, t1, t2, coll);
            }
            var vars = new List<VarTerm>();
            if (t1 is not VarTerm v1) throw Error(start, "expected variables after 'some'");
            vars.Add(v1);
            while (Peek.Kind == TokenKind.Comma)
            {
                Next();
                if (ParseTermAt(Level.Primary) is not VarTerm vn) throw Error(Peek, "expected variables after 'some'");
                vars.Add(vn);
            }
            return new SomeDeclExpr(loc, vars.ToArray());
        }
        if (IsIdent("every"))
        {
            Next();
            var a = ParseTermAt(Level.Primary) as VarTerm ?? throw Error(start, "every: expected a variable");
            VarTerm? key = null;
            var val = a;
            if (Peek.Kind == TokenKind.Comma)
            {
                Next();
                key = a;
                val = ParseTermAt(Level.Primary) as VarTerm ?? throw Error(start, "every: expected a variable");
            }
            if (!IsIdent("in")) throw Error(Peek, "every: expected 'in'");
            Next();
            var coll = ParseTermAt(Level.Relation);
            Expect(TokenKind.LBrace, "'{' after every domain");
            var body = ParseLiterals(TokenKind.RBrace);
            Expect(TokenKind.RBrace, "'}'");
            return new EveryExpr(loc, key, val, coll, body);
        }
        var left = ParseMembershipTail(ParseTerm());
        if (Peek.Kind == TokenKind.Assign && !AtLineBreak)
        {
            Next();
            return new AssignExpr(loc, left, ParseTerm());
        }
        if (Peek.Kind == TokenKind.Unify && !AtLineBreak)
        {
            Next();
            return new UnifyExpr(loc, left, ParseTerm());
        }
        return new TermExpr(loc, left);
    }

    /// <summary>
    /// <c>key, value in collection</c> (membership with key or index), allowed where a whole expression or a
    /// parenthesised term stands; in lists and call arguments a comma separates items instead. A following
    /// <c>in</c> chains: <c>1, 2 in [2] in [false, true]</c> is <c>(1, 2 in [2]) in [false, true]</c>.
    /// </summary>
    private Term ParseMembershipTail(Term key)
    {
        if (Peek.Kind != TokenKind.Comma || AtLineBreak) return key;
        var comma = Next();
        var value = ParseTermAt(Level.Relation);
        if (!IsIdent("in")) throw Error(Peek, "expected 'in' after 'key, value' (membership with a key or index)");
        Next();
        Term result = new CallTerm(Loc(comma), ["internal.member_3"], [key, value, ParseTermAt(Level.Relation)]);
        while (!AtLineBreak && IsIdent("in"))
        {
            var t = Next();
            result = new CallTerm(Loc(t), ["internal.member_2"], [result, ParseTermAt(Level.Relation)]);
        }
        return result;
    }

    private bool IsIdentAt(int k, string text) => PeekAt(k).Kind == TokenKind.Ident && PeekAt(k).Text == text;

    private static bool IsKeyword(string s) => s is "package" or "import" or "if" or "else" or "contains" or "some" or "every" or "in" or "not" or "with" or "as" or "default";
}
