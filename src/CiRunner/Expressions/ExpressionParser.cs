namespace Sandbox.CiRunner.Expressions;

/// <summary>Expression text → <see cref="Expr"/>. Precedence, loosest first: <c>||</c>, <c>&amp;&amp;</c>,
/// <c>== !=</c>, <c>&lt; &lt;= &gt; &gt;=</c>, <c>!</c>, then <c>. [] ()</c>. Nesting is bounded.</summary>
public sealed class ExpressionParser
{
    private const int MaxDepth = 50;

    private readonly string _text;
    private readonly List<Token> _tokens;
    private int _pos;
    private int _depth;

    private ExpressionParser(string text)
    {
        _text = text;
        _tokens = Lexer.Tokenize(text);
    }

    public static Expr Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new ExpressionException("empty expression");
        var parser = new ExpressionParser(text);
        var expr = parser.ParseOr();
        if (parser.Peek.Kind != TokenKind.End)
            throw parser.Unexpected("an operator or the end");
        return expr;
    }

    private Token Peek => _tokens[_pos];

    private bool IsPunct(string p) => Peek.Kind == TokenKind.Punct && Peek.Text == p;

    private ExpressionException Unexpected(string expected) =>
        new($"unexpected {Lexer.Describe(Peek)} in '{_text}': expected {expected}");

    private void Expect(string p)
    {
        if (!IsPunct(p)) throw Unexpected($"'{p}'");
        _pos++;
    }

    private Expr ParseOr()
    {
        if (++_depth > MaxDepth)
            throw new ExpressionException($"expression nested deeper than {MaxDepth} levels: '{_text}'");
        var left = ParseAnd();
        while (IsPunct("||")) { _pos++; left = new BinaryExpr(BinaryOp.Or, left, ParseAnd()); }
        _depth--;
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseEquality();
        while (IsPunct("&&")) { _pos++; left = new BinaryExpr(BinaryOp.And, left, ParseEquality()); }
        return left;
    }

    private Expr ParseEquality()
    {
        var left = ParseComparison();
        while (IsPunct("==") || IsPunct("!="))
        {
            var op = Peek.Text == "==" ? BinaryOp.Equal : BinaryOp.NotEqual;
            _pos++;
            left = new BinaryExpr(op, left, ParseComparison());
        }
        return left;
    }

    private Expr ParseComparison()
    {
        var left = ParseUnary();
        while (Peek.Kind == TokenKind.Punct && Peek.Text is "<" or "<=" or ">" or ">=")
        {
            var op = Peek.Text switch { "<" => BinaryOp.Less, "<=" => BinaryOp.LessOrEqual, ">" => BinaryOp.Greater, _ => BinaryOp.GreaterOrEqual };
            _pos++;
            left = new BinaryExpr(op, left, ParseUnary());
        }
        return left;
    }

    private Expr ParseUnary()
    {
        if (!IsPunct("!")) return ParsePostfix();
        _pos++;
        if (++_depth > MaxDepth)
            throw new ExpressionException($"expression nested deeper than {MaxDepth} levels: '{_text}'");
        var operand = ParseUnary();
        _depth--;
        return new NotExpr(operand);
    }

    private Expr ParsePostfix()
    {
        var expr = ParsePrimary();
        while (true)
        {
            if (IsPunct("."))
            {
                _pos++;
                if (IsPunct("*")) { _pos++; expr = new WildcardExpr(expr); }
                else if (Peek.Kind == TokenKind.Identifier) { expr = new MemberExpr(expr, Peek.Text); _pos++; }
                else throw Unexpected("a property name or '*' after '.'");
            }
            else if (IsPunct("["))
            {
                _pos++;
                if (IsPunct("*")) { _pos++; expr = new WildcardExpr(expr); }
                else expr = new IndexExpr(expr, ParseOr());
                Expect("]");
            }
            else return expr;
        }
    }

    private Expr ParsePrimary()
    {
        var t = Peek;
        switch (t.Kind)
        {
            case TokenKind.Number or TokenKind.String:
                _pos++;
                return new LiteralExpr(t.Literal!);
            case TokenKind.Identifier:
                _pos++;
                switch (t.Text)
                {
                    case "true": return new LiteralExpr(ExprValue.True);
                    case "false": return new LiteralExpr(ExprValue.False);
                    case "null": return new LiteralExpr(ExprValue.Null);
                    case "NaN": return new LiteralExpr(ExprValue.Number(double.NaN));
                    case "Infinity": return new LiteralExpr(ExprValue.Number(double.PositiveInfinity));
                }
                if (!IsPunct("(")) return new ContextExpr(t.Text);
                _pos++;
                var args = new List<Expr>();
                if (!IsPunct(")"))
                {
                    args.Add(ParseOr());
                    while (IsPunct(",")) { _pos++; args.Add(ParseOr()); }
                }
                Expect(")");
                Functions.CheckArity(t.Text, args.Count, _text);
                return new CallExpr(t.Text, args);
            case TokenKind.Punct when t.Text == "(":
                _pos++;
                var inner = ParseOr();
                Expect(")");
                return inner;
            default:
                throw Unexpected("a value, a context or a function call");
        }
    }
}
