using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>Terms by precedence (in, relations, |, &amp;, arithmetic, unary), primaries, refs and calls, arrays,
/// objects, sets and comprehensions.</summary>
internal sealed partial class Parser
{
    private enum Level { In, Relation, Or, And, Arith, Factor, Unary, Primary }

    private Term ParseTerm() => ParseTermAt(Level.In);

    private Term ParseTermAt(Level level)
    {
        // One level per term (not per precedence level), so MaxNesting counts the nesting a reader sees.
        var counted = level == Level.In;
        if (counted && ++_nesting > MaxNesting) throw Error(Peek, $"expression nested deeper than {MaxNesting} levels");
        try
        {
            return level switch
            {
                Level.In => ParseBinary(Level.Relation, t => t.Kind == TokenKind.Ident && t.Text == "in" ? "internal.member_2" : null),
                Level.Relation => ParseBinary(Level.Or, t => t.Kind switch
                {
                    TokenKind.Eq => "equal",
                    TokenKind.Neq => "neq",
                    TokenKind.Lt => "lt",
                    TokenKind.Lte => "lte",
                    TokenKind.Gt => "gt",
                    TokenKind.Gte => "gte",
                    _ => null,
                }),
                Level.Or => ParseBinary(Level.And, t => t.Kind == TokenKind.Pipe && !_pipeEndsTerm ? "or" : null),
                Level.And => ParseBinary(Level.Arith, t => t.Kind == TokenKind.Amp ? "and" : null),
                Level.Arith => ParseBinary(Level.Factor, t => t.Kind switch { TokenKind.Plus => "plus", TokenKind.Minus => "minus", _ => null }),
                Level.Factor => ParseBinary(Level.Unary, t => t.Kind switch { TokenKind.Star => "mul", TokenKind.Slash => "div", TokenKind.Percent => "rem", _ => null }),
                Level.Unary => ParseUnary(),
                _ => ParsePrimary(),
            };
        }
        finally
        {
            if (counted) _nesting--;
        }
    }

    private Term ParseBinary(Level next, Func<Token, string?> op)
    {
        var left = ParseTermAt(next);
        while (!AtLineBreak && op(Peek) is { } name)
        {
            var t = Next();
            var right = ParseTermAt(next);
            left = new CallTerm(Loc(t), [name], [left, right]);
        }
        return left;
    }

    private Term ParseUnary()
    {
        if (Peek.Kind == TokenKind.Minus)
        {
            var m = Next();
            if (Peek.Kind == TokenKind.Number && Peek.Start == m.End)
            {
                var n = Next();
                return new ScalarTerm(Loc(m), ParseNumber(n, negate: true));
            }
            var operand = ParseTermAt(Level.Primary);
            return new CallTerm(Loc(m), ["minus"], [new ScalarTerm(Loc(m), new NumberValue(0)), operand]);
        }
        return ParseTermAt(Level.Primary);
    }

    private NumberValue ParseNumber(Token t, bool negate = false)
    {
        if (NumberValue.Parse(negate ? "-" + t.Text : t.Text) is { } n) return n;
        // Integers of any size (up to NumberValue.MaxBigDigits digits) are exact; other numbers are doubles, so a
        // fraction past a double's range, or an integer longer than the limit, is refused.
        throw Error(t, double.TryParse(t.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            ? $"number {t.Text} is beyond the range of a double and not an integer of at most {NumberValue.MaxBigDigits} digits (arbitrary-precision fractions are not supported)"
            : $"invalid number {t.Text}");
    }

    private Term ParsePrimary()
    {
        var saved = _pipeEndsTerm;
        _pipeEndsTerm = false;
        try
        {
            return ParsePrimaryCore();
        }
        finally
        {
            _pipeEndsTerm = saved;
        }
    }

    private Term ParsePrimaryCore()
    {
        var t = Peek;
        var loc = Loc(t);
        Term term;
        switch (t.Kind)
        {
            case TokenKind.Number:
                Next();
                term = new ScalarTerm(loc, ParseNumber(t));
                break;
            case TokenKind.String:
                Next();
                term = new ScalarTerm(loc, new StringValue(t.Text));
                break;
            case TokenKind.LParen:
                Next();
                _newlineEnds.Push(false);
                term = ParseMembershipTail(ParseTerm());
                _newlineEnds.Pop();
                Expect(TokenKind.RParen, "')'");
                break;
            case TokenKind.LBrack:
                term = ParseArray();
                break;
            case TokenKind.LBrace:
                term = ParseBraces();
                break;
            case TokenKind.Ident:
                Next();
                switch (t.Text)
                {
                    case "true": return new ScalarTerm(loc, Value.True);
                    case "false": return new ScalarTerm(loc, Value.False);
                    case "null": return new ScalarTerm(loc, Value.Null);
                    case "set" when Peek.Kind == TokenKind.LParen && PeekAt(1).Kind == TokenKind.RParen:
                        Next();
                        Next();
                        return new SetTerm(loc, []);
                }
                if (IsKeyword(t.Text) && !(t.Text == "contains" && Peek.Kind == TokenKind.LParen)) throw Error(t, $"unexpected keyword '{t.Text}'");
                term = t.Text == "_" ? new VarTerm(loc, "$_" + _wildcards++) : new VarTerm(loc, t.Text);
                break;
            default:
                throw Error(t, $"unexpected {Describe(t)}, expected a term");
        }
        return ParseSuffixes(term);
    }

    private Term ParseSuffixes(Term head)
    {
        var path = new List<Term>();
        Term current = head;
        while (!AtLineBreak)
        {
            if (Peek.Kind == TokenKind.Dot)
            {
                Next();
                var id = Expect(TokenKind.Ident, "name after '.'");
                path.Add(new ScalarTerm(Loc(id), new StringValue(id.Text)));
            }
            else if (Peek.Kind == TokenKind.LBrack && Peek.Start == _toks[_i - 1].End)
            {
                Next();
                _newlineEnds.Push(false);
                path.Add(ParseTerm());
                _newlineEnds.Pop();
                Expect(TokenKind.RBrack, "']'");
            }
            else if (Peek.Kind == TokenKind.LParen && Peek.Start == _toks[_i - 1].End)
            {
                if (current is not VarTerm v || path.Any(p => p is not ScalarTerm { V: StringValue }))
                    throw Error(Peek, "invalid function call target");
                var nameParts = new List<string> { v.Name };
                nameParts.AddRange(path.Select(p => ((StringValue)((ScalarTerm)p).V).V));
                Next();
                var args = ParseTermList(TokenKind.RParen);
                current = nameParts is ["print"] ? PrintCall(head.Loc, args) : new CallTerm(head.Loc, nameParts.ToArray(), args);
                path.Clear();
                head = current;
                continue;
            }
            else break;
        }
        return path.Count == 0 ? current : new RefTerm(current.Loc, current, path.ToArray());
    }

    /// <summary>
    /// print(a, b) → internal.print([{v | v = a}, {v | v = b}]), as OPA rewrites it: an argument's comprehension
    /// collects every value it takes and is empty (printed <c>&lt;undefined&gt;</c>) when it is undefined, so the
    /// call holds whatever its arguments do.
    /// </summary>
    private CallTerm PrintCall(RegoLocation loc, Term[] args)
    {
        var sets = args.Select(a =>
        {
            var v = $"$print{_printVars++}";
            return (Term)new ComprehensionTerm(a.Loc, ComprehensionKind.Set, new VarTerm(a.Loc, v), null,
                [new UnifyExpr(a.Loc, new VarTerm(a.Loc, v), a)]);
        }).ToArray();
        return new CallTerm(loc, [PrintBuiltin.Name], [new ArrayTerm(loc, sets)]);
    }

    private int _printVars;

    private Term[] ParseTermList(TokenKind close)
    {
        _newlineEnds.Push(false);
        var items = new List<Term>();
        while (Peek.Kind != close)
        {
            items.Add(ParseTerm());
            if (Peek.Kind == TokenKind.Comma) Next();
            else break;
        }
        _newlineEnds.Pop();
        Expect(close, close == TokenKind.RParen ? "')'" : "']'");
        return items.ToArray();
    }

    /// <summary>The first element of [..] or {..}: a top-level '|' starts a comprehension body, not a set union.</summary>
    private Term ParseFirstElement()
    {
        var saved = _pipeEndsTerm;
        _pipeEndsTerm = true;
        try
        {
            return ParseTerm();
        }
        finally
        {
            _pipeEndsTerm = saved;
        }
    }

    private Term ParseArray()
    {
        var open = Next();
        var loc = Loc(open);
        if (Peek.Kind == TokenKind.RBrack)
        {
            Next();
            return new ArrayTerm(loc, []);
        }
        _newlineEnds.Push(false);
        var first = ParseFirstElement();
        if (Peek.Kind == TokenKind.Pipe)
        {
            Next();
            var body = ParseLiterals(TokenKind.RBrack);
            _newlineEnds.Pop();
            Expect(TokenKind.RBrack, "']'");
            return new ComprehensionTerm(loc, ComprehensionKind.Array, first, null, body);
        }
        var items = new List<Term> { first };
        while (Peek.Kind == TokenKind.Comma)
        {
            Next();
            if (Peek.Kind == TokenKind.RBrack) break;
            items.Add(ParseTerm());
        }
        _newlineEnds.Pop();
        Expect(TokenKind.RBrack, "']'");
        return new ArrayTerm(loc, items.ToArray());
    }

    private Term ParseBraces()
    {
        var open = Next();
        var loc = Loc(open);
        if (Peek.Kind == TokenKind.RBrace)
        {
            Next();
            return new ObjectTerm(loc, []);
        }
        _newlineEnds.Push(false);
        var first = ParseFirstElement();
        Term result;
        if (Peek.Kind == TokenKind.Colon)
        {
            Next();
            var v = ParseFirstElement();
            if (Peek.Kind == TokenKind.Pipe)
            {
                Next();
                var body = ParseLiterals(TokenKind.RBrace);
                result = new ComprehensionTerm(loc, ComprehensionKind.Object, first, v, body);
            }
            else
            {
                var items = new List<(Term, Term)> { (first, v) };
                while (Peek.Kind == TokenKind.Comma)
                {
                    Next();
                    if (Peek.Kind == TokenKind.RBrace) break;
                    var k = ParseTerm();
                    Expect(TokenKind.Colon, "':'");
                    items.Add((k, ParseTerm()));
                }
                result = new ObjectTerm(loc, items.ToArray());
            }
        }
        else if (Peek.Kind == TokenKind.Pipe)
        {
            Next();
            var body = ParseLiterals(TokenKind.RBrace);
            result = new ComprehensionTerm(loc, ComprehensionKind.Set, first, null, body);
        }
        else
        {
            var items = new List<Term> { first };
            while (Peek.Kind == TokenKind.Comma)
            {
                Next();
                if (Peek.Kind == TokenKind.RBrace) break;
                items.Add(ParseTerm());
            }
            result = new SetTerm(loc, items.ToArray());
        }
        _newlineEnds.Pop();
        Expect(TokenKind.RBrace, "'}'");
        return result;
    }
}
