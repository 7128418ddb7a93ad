namespace Sandbox.Policy.Rego;

/// <summary>Recursive-descent parser for the supported Rego v1 subset. Errors are <c>rego_parse_error</c> with file:row:col.
/// This file: the token cursor, modules, imports and rules; Parser.Expressions.cs: rule bodies' literals
/// (some, every, not, with, membership); Parser.Terms.cs: terms by precedence, refs, calls, collections and
/// comprehensions.</summary>
internal sealed partial class Parser
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
}
