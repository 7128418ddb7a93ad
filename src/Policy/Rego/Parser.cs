using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>Recursive-descent parser for the supported Rego v1 subset. Errors are <c>rego_parse_error</c> with file:row:col.</summary>
internal sealed class Parser
{
    public const int MaxNesting = 100;

    private readonly string _file;
    private readonly string _src;
    private readonly List<Token> _toks;
    private readonly Stack<bool> _newlineEnds = new();
    private int _i;
    private int _nesting;
    private int _wildcards;
    private bool _pipeEndsTerm;

    public Parser(string file, string src)
    {
        _file = file;
        _src = src;
        _toks = new Lexer(file, src).Tokenize();
        _newlineEnds.Push(true);
    }

    private Token Peek => _toks[_i];
    private Token PeekAt(int k) => _toks[Math.Min(_i + k, _toks.Count - 1)];
    private Token Next() => _toks[_i++];
    private bool NewlineEnds => _newlineEnds.Peek();
    private bool AtLineBreak => NewlineEnds && Peek.NewlineBefore;
    private RegoLocation Loc(Token t) => new(_file, t.Row, t.Col);
    private bool IsIdent(string text) => Peek.Kind == TokenKind.Ident && Peek.Text == text;

    private RegoException Error(Token t, string msg) => new(RegoErrorCodes.ParseError, msg, Loc(t));

    private Token Expect(TokenKind k, string what)
    {
        if (Peek.Kind != k) throw Error(Peek, $"unexpected {Describe(Peek)}, expected {what}");
        return Next();
    }

    private static string Describe(Token t) => t.Kind switch
    {
        TokenKind.Eof => "end of file",
        TokenKind.Ident => $"ident '{t.Text}'",
        TokenKind.String => "string",
        TokenKind.Number => $"number {t.Text}",
        _ => $"'{t.Kind}' token",
    };

    public Module ParseModule()
    {
        if (!IsIdent("package")) throw Error(Peek, "package expected");
        Next();
        var pkg = ParseDottedPath();
        var module = new Module(_file, pkg);
        while (IsIdent("import")) ParseImport(module);
        while (Peek.Kind != TokenKind.Eof)
        {
            if (!Peek.NewlineBefore) throw Error(Peek, $"unexpected {Describe(Peek)}: rules must start on a new line");
            if (IsIdent("import")) throw Error(Peek, "imports must come before rules");
            if (IsIdent("package")) throw Error(Peek, "one package per file");
            var rule = ParseRule(module);
            module.Rules.Add(rule);
        }
        return module;
    }

    /// <summary>A query: literals separated by ';' or newlines.</summary>
    public Expr[] ParseQuery()
    {
        var body = ParseLiterals(TokenKind.Eof);
        Expect(TokenKind.Eof, "end of query");
        return body;
    }

    private string[] ParseDottedPath()
    {
        var parts = new List<string> { Expect(TokenKind.Ident, "name").Text };
        while (Peek.Kind == TokenKind.Dot || Peek.Kind == TokenKind.LBrack)
        {
            if (Next().Kind == TokenKind.Dot) parts.Add(Expect(TokenKind.Ident, "name").Text);
            else
            {
                parts.Add(Expect(TokenKind.String, "string").Text);
                Expect(TokenKind.RBrack, "']'");
            }
        }
        return parts.ToArray();
    }

    private void ParseImport(Module module)
    {
        var start = Next();
        var path = ParseDottedPath();
        if (path[0] == "rego" && path.Length == 2 && path[1] == "v1") return;
        if (path[0] == "future")
        {
            if (path.Length >= 2 && path[1] == "keywords") return;
            throw Error(start, $"unknown future import {string.Join('.', path)}");
        }
        if (path[0] != "data" && path[0] != "input") throw Error(start, $"invalid import {string.Join('.', path)}: must begin with input or data");
        var alias = path[^1];
        if (IsIdent("as"))
        {
            Next();
            alias = Expect(TokenKind.Ident, "alias").Text;
        }
        var loc = Loc(start);
        Term head = new VarTerm(loc, path[0]);
        var rest = path.Skip(1).Select(p => (Term)new ScalarTerm(loc, new StringValue(p))).ToArray();
        module.Imports[alias] = rest.Length == 0 ? head : new RefTerm(loc, head, rest);
    }

    private Rule ParseRule(Module module)
    {
        var first = Peek;
        var isDefault = false;
        if (IsIdent("default"))
        {
            Next();
            isDefault = true;
        }
        var nameTok = Expect(TokenKind.Ident, "rule name");
        if (IsKeyword(nameTok.Text)) throw Error(nameTok, $"unexpected keyword '{nameTok.Text}'");
        var rule = new Rule(Loc(first), nameTok.Text, RuleKind.Complete) { IsDefault = isDefault, Module = module };
        // A rule head is a reference (OPA v1 ref heads): its leading string segments name the rule's place in the
        // data tree (a.b.c := 1 defines data.<package>.a.b.c); the segments from the first other term on are the
        // object keys the rule produces (p.q[k] := v, p[a][b] if ...).
        var segments = new List<Term>();
        while (!Peek.NewlineBefore && (Peek.Kind == TokenKind.Dot || Peek.Kind == TokenKind.LBrack))
        {
            var seg = Next();
            if (seg.Kind == TokenKind.Dot)
            {
                var part = Expect(TokenKind.Ident, "name after '.' in rule head");
                segments.Add(new ScalarTerm(Loc(part), new StringValue(part.Text)));
                continue;
            }
            _newlineEnds.Push(false);
            segments.Add(ParseTerm());
            _newlineEnds.Pop();
            Expect(TokenKind.RBrack, "']'");
        }
        var staticCount = 0;
        while (staticCount < segments.Count && segments[staticCount] is ScalarTerm { V: StringValue }) staticCount++;
        rule.HeadPath = segments.Take(staticCount).Select(t => ((StringValue)((ScalarTerm)t).V).V).ToArray();
        var keys = segments.Skip(staticCount).ToArray();
        if (Peek.Kind == TokenKind.LParen && !Peek.NewlineBefore)
        {
            if (keys.Length > 0) throw Error(Peek, $"function {rule.Name} cannot have a variable or non-string key in its name (ref heads of functions take only names)");
            Next();
            rule.Kind = RuleKind.Function;
            rule.Args = ParseTermList(TokenKind.RParen);
        }
        else if (IsIdent("contains"))
        {
            Next();
            if (keys.Length > 0)
            {
                // p[q] contains r: an object whose leaves are sets.
                rule.Kind = RuleKind.PartialObject;
                rule.Key = new ArrayTerm(keys[0].Loc, keys);
                rule.KeyIsPath = true;
                rule.LeafIsSet = true;
                rule.Value = ParseTerm();
            }
            else
            {
                rule.Kind = RuleKind.PartialSet;
                rule.Key = ParseTerm();
            }
        }
        else if (keys.Length > 0)
        {
            rule.Kind = RuleKind.PartialObject;
            rule.Key = keys.Length == 1 ? keys[0] : new ArrayTerm(keys[0].Loc, keys);
            rule.KeyIsPath = keys.Length > 1;
        }

        if (Peek.Kind is TokenKind.Assign or TokenKind.Unify && !Peek.NewlineBefore)
        {
            Next();
            rule.Value = ParseTerm();
        }
        if (isDefault && (rule.Value is null || rule.Kind is RuleKind.PartialSet or RuleKind.PartialObject))
            throw Error(first, "default rules must have a value and no key");

        if (IsIdent("if") && !Peek.NewlineBefore)
        {
            if (isDefault) throw Error(Peek, "default rules cannot have bodies");
            Next();
            rule.Body = ParseRuleBody();
        }
        else if (Peek.Kind == TokenKind.LBrace && !Peek.NewlineBefore)
        {
            throw Error(Peek, "`if` keyword is required before rule body");
        }

        var tail = rule;
        while (IsIdent("else"))
        {
            if (rule.Kind != RuleKind.Complete && rule.Kind != RuleKind.Function) throw Error(Peek, "else keyword cannot be used on multi-value rules");
            var elseTok = Next();
            var e = new Rule(Loc(elseTok), rule.Name, rule.Kind) { Args = rule.Args, Module = module, HeadPath = rule.HeadPath };
            if (Peek.Kind is TokenKind.Assign or TokenKind.Unify)
            {
                Next();
                e.Value = ParseTerm();
            }
            if (IsIdent("if") && !Peek.NewlineBefore)
            {
                Next();
                e.Body = ParseRuleBody();
            }
            else if (e.Value is null) throw Error(Peek, "`if` keyword is required before else body");
            else if (Peek.Kind == TokenKind.LBrace && !Peek.NewlineBefore) throw Error(Peek, "`if` keyword is required before else body");
            tail.Else = e;
            tail = e;
        }
        if (Peek.Kind != TokenKind.Eof && !Peek.NewlineBefore) throw Error(Peek, $"unexpected {Describe(Peek)} after rule {rule.Name}");
        return rule;
    }

    private Expr[] ParseRuleBody()
    {
        if (Peek.Kind == TokenKind.LBrace)
        {
            var (start, nesting, depth, pipe) = (_i, _nesting, _newlineEnds.Count, _pipeEndsTerm);
            try
            {
                Next();
                var body = ParseLiterals(TokenKind.RBrace);
                Expect(TokenKind.RBrace, "'}'");
                return body;
            }
            catch (RegoException first)
            {
                // `if {k: v | …}` is a one-literal body holding an object or set comprehension (as OPA parses it);
                // when that reading fails too, the body's own error is the one to report.
                (_i, _nesting, _pipeEndsTerm) = (start, nesting, pipe);
                while (_newlineEnds.Count > depth) _newlineEnds.Pop();
                try
                {
                    return [ParseLiteral()];
                }
                catch (RegoException)
                {
                    throw first;
                }
            }
        }
        return [ParseLiteral()];
    }

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

    private enum Level { In, Relation, Or, And, Arith, Factor, Unary, Primary }

    private Term ParseTerm() => ParseTermAt(Level.In);

    private Term ParseTermAt(Level level)
    {
        if (++_nesting > MaxNesting) throw Error(Peek, $"expression nested deeper than {MaxNesting} levels");
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
            _nesting--;
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
        // Integers of any size are exact; other numbers are doubles, so one past a double's range is refused.
        throw Error(t, double.TryParse(t.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            ? $"number {t.Text} is beyond the range of a double (arbitrary-precision decimals are not supported)"
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
                current = new CallTerm(head.Loc, nameParts.ToArray(), args);
                path.Clear();
                head = current;
                continue;
            }
            else break;
        }
        return path.Count == 0 ? current : new RefTerm(current.Loc, current, path.ToArray());
    }

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
