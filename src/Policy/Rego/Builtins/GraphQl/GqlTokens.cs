namespace Sandbox.Policy.Rego.GraphQl;

// Inside the namespace, so these win over the Rego lexer's own Lexer, Token and TokenKind.
using GraphQLParser.Exceptions;
using GqlLexer = GraphQLParser.Lexer;
using LexToken = GraphQLParser.Token;
using TokenKind = GraphQLParser.TokenKind;

/// <summary>A token in gqlparser's terms: its kind as gqlparser names it (<c>Name</c>, <c>{</c>, <c>&lt;EOF&gt;</c>…).</summary>
internal readonly record struct GqlToken(string Kind, string Value, (int Line, int Column) Position)
{
    public const string Name = "Name", Int = "Int", Float = "Float", String = "String", BlockString = "BlockString";
    public const string Eof = "<EOF>", Invalid = "<Invalid>";

    /// <summary>gqlparser's Token.String(): the kind, then the quoted value for names, numbers and strings.</summary>
    public override string ToString() => Kind is Name or Int or Float or String or BlockString
        ? $"{Kind} {GoQuote(Value)}"
        : Kind;

    /// <summary>Go's strconv.Quote for the printable text gqlparser's messages carry.</summary>
    private static string GoQuote(string s)
    {
        var sb = new System.Text.StringBuilder("\"");
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}

/// <summary>
/// The tokens of a GraphQL source, read with GraphQL-Parser's lexer (strings, block strings and their escapes,
/// numbers, comments skipped) and named as gqlparser names them so error messages read as OPA's.
/// </summary>
internal sealed class GqlTokens
{
    private readonly string _source;
    private readonly List<int> _lineStarts = [0];
    private int _offset;
    private GqlToken? _peeked;
    private int _peekedEnd;

    public GqlTokens(string source)
    {
        _source = source;
        for (var i = 0; i < source.Length; i++)
        {
            if (source[i] == '\r' && i + 1 < source.Length && source[i + 1] == '\n') i++;
            if (source[i] is '\n' or '\r') _lineStarts.Add(i + 1);
        }
    }

    /// <summary>The token before the current one (gqlparser reports some errors there).</summary>
    public GqlToken Prev { get; private set; }

    public GqlToken Peek()
    {
        if (_peeked is { } t) return t;
        var tok = Read(out _peekedEnd);
        _peeked = tok;
        return tok;
    }

    public GqlToken Next()
    {
        var t = Peek();
        _peeked = null;
        _offset = _peekedEnd;
        Prev = t;
        return t;
    }

    public (int Line, int Column) At(int offset)
    {
        var line = _lineStarts.BinarySearch(offset);
        if (line < 0) line = ~line - 1;
        return (line + 1, offset - _lineStarts[line] + 1);
    }

    private GqlToken Read(out int end)
    {
        var start = _offset;
        while (true)
        {
            LexToken tok;
            try
            {
                tok = GqlLexer.Lex(_source, start);
            }
            catch (GraphQLSyntaxErrorException)
            {
                // An unterminated string or a character GraphQL does not know: gqlparser's lexer gives an Invalid
                // token where it stopped reading, the end of the source for an unterminated string.
                end = _source.Length;
                return new GqlToken(GqlToken.Invalid, "", At(InvalidAt(start)));
            }
            end = tok.End;
            if (tok.Kind == TokenKind.COMMENT)
            {
                start = tok.End;
                continue;
            }
            var pos = At(tok.Start);
            var value = tok.Value.IsEmpty ? "" : tok.Value.ToString();
            return tok.Kind switch
            {
                TokenKind.EOF => new GqlToken(GqlToken.Eof, "", pos),
                TokenKind.NAME => new GqlToken(GqlToken.Name, value, pos),
                TokenKind.INT => new GqlToken(GqlToken.Int, value, pos),
                TokenKind.FLOAT => new GqlToken(GqlToken.Float, value, pos),
                // GraphQL-Parser starts a string at its opening quote, a block string at the last of its three;
                // gqlparser places both at the first character after the quotes.
                TokenKind.STRING => tok.Start >= 2 && string.CompareOrdinal(_source, tok.Start - 2, "\"\"\"", 0, 3) == 0
                    ? new GqlToken(GqlToken.BlockString, value, At(tok.Start + 1))
                    : new GqlToken(GqlToken.String, value, At(tok.Start + 1)),
                TokenKind.BANG => new GqlToken("!", "", pos),
                TokenKind.DOLLAR => new GqlToken("$", "", pos),
                TokenKind.AMPERSAND => new GqlToken("&", "", pos),
                TokenKind.PAREN_L => new GqlToken("(", "", pos),
                TokenKind.PAREN_R => new GqlToken(")", "", pos),
                TokenKind.SPREAD => new GqlToken("...", "", pos),
                TokenKind.COLON => new GqlToken(":", "", pos),
                TokenKind.EQUALS => new GqlToken("=", "", pos),
                TokenKind.AT => new GqlToken("@", "", pos),
                TokenKind.BRACKET_L => new GqlToken("[", "", pos),
                TokenKind.BRACKET_R => new GqlToken("]", "", pos),
                TokenKind.BRACE_L => new GqlToken("{", "", pos),
                TokenKind.BRACE_R => new GqlToken("}", "", pos),
                TokenKind.PIPE => new GqlToken("|", "", pos),
                _ => new GqlToken(GqlToken.Invalid, "", pos),
            };
        }
    }

    /// <summary>Where a token the lexer refused ends: the source's end for an unterminated string, else its start.</summary>
    private int InvalidAt(int from)
    {
        var i = from;
        while (i < _source.Length && (char.IsWhiteSpace(_source[i]) || _source[i] is ',' or '\uFEFF')) i++;
        return i < _source.Length && _source[i] == '"' ? _source.Length : i;
    }
}
