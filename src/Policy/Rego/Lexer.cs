using System.Globalization;
using System.Text;

namespace Sandbox.Policy.Rego;

internal enum TokenKind
{
    Eof, Ident, String, Number,
    LBrace, RBrace, LBrack, RBrack, LParen, RParen,
    Dot, Comma, Semicolon, Colon, Pipe, Amp,
    Assign /* := */, Unify /* = */, Eq, Neq, Lt, Lte, Gt, Gte,
    Plus, Minus, Star, Slash, Percent,
}

internal readonly record struct Token(TokenKind Kind, string Text, int Row, int Col, bool NewlineBefore, int Start = 0, int End = 0);

/// <summary>Turns Rego source into tokens; every token carries its row and column.</summary>
internal sealed class Lexer
{
    private readonly string _src;
    private readonly string _file;
    private int _pos;
    private int _row = 1;
    private int _col = 1;

    public Lexer(string file, string src)
    {
        _file = file;
        _src = src;
    }

    public List<Token> Tokenize()
    {
        var tokens = new List<Token>();
        while (true)
        {
            var nl = SkipTrivia();
            var row = _row;
            var col = _col;
            var startPos = _pos;
            if (_pos >= _src.Length)
            {
                tokens.Add(new Token(TokenKind.Eof, "", row, col, true, _pos, _pos));
                return tokens;
            }
            var c = _src[_pos];
            if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = _pos;
                while (_pos < _src.Length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) Advance();
                tokens.Add(new Token(TokenKind.Ident, _src[start.._pos], row, col, nl));
            }
            else if (char.IsAsciiDigit(c))
            {
                tokens.Add(new Token(TokenKind.Number, ReadNumber(), row, col, nl));
            }
            else if (c == '"')
            {
                tokens.Add(new Token(TokenKind.String, ReadString(), row, col, nl));
            }
            else if (c == '`')
            {
                Advance();
                var start = _pos;
                while (_pos < _src.Length && _src[_pos] != '`') Advance();
                if (_pos >= _src.Length) throw Error(row, col, "unterminated raw string");
                var text = _src[start.._pos];
                Advance();
                tokens.Add(new Token(TokenKind.String, text, row, col, nl));
            }
            else
            {
                tokens.Add(new Token(ReadPunct(row, col), "", row, col, nl));
            }
            tokens[^1] = tokens[^1] with { Start = startPos, End = _pos };
        }
    }

    private bool SkipTrivia()
    {
        var nl = _pos == 0;
        while (_pos < _src.Length)
        {
            var c = _src[_pos];
            if (c == '\n') { nl = true; Advance(); }
            else if (c is ' ' or '\t' or '\r') Advance();
            else if (c == '#') { while (_pos < _src.Length && _src[_pos] != '\n') Advance(); }
            else break;
        }
        return nl;
    }

    private void Advance()
    {
        if (_src[_pos] == '\n') { _row++; _col = 1; }
        else _col++;
        _pos++;
    }

    private string ReadNumber()
    {
        var start = _pos;
        while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) Advance();
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            Advance();
            while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) Advance();
        }
        if (_pos < _src.Length && (_src[_pos] == 'e' || _src[_pos] == 'E'))
        {
            Advance();
            if (_pos < _src.Length && (_src[_pos] == '+' || _src[_pos] == '-')) Advance();
            while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) Advance();
        }
        return _src[start.._pos];
    }

    private string ReadString()
    {
        var row = _row;
        var col = _col;
        Advance();
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length || _src[_pos] == '\n') throw Error(row, col, "unterminated string");
            var c = _src[_pos];
            if (c == '"') { Advance(); return sb.ToString(); }
            if (c == '\\')
            {
                Advance();
                if (_pos >= _src.Length) throw Error(row, col, "unterminated string");
                var e = _src[_pos];
                Advance();
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (_pos + 4 > _src.Length || !int.TryParse(_src.AsSpan(_pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                            throw Error(_row, _col, "invalid \\u escape");
                        sb.Append((char)code);
                        for (var i = 0; i < 4; i++) Advance();
                        break;
                    default: throw Error(_row, _col - 1, $"invalid escape sequence '\\{e}'");
                }
                continue;
            }
            sb.Append(c);
            Advance();
        }
    }

    private TokenKind ReadPunct(int row, int col)
    {
        var c = _src[_pos];
        var n = _pos + 1 < _src.Length ? _src[_pos + 1] : '\0';
        TokenKind Two(TokenKind k) { Advance(); Advance(); return k; }
        TokenKind One(TokenKind k) { Advance(); return k; }
        return c switch
        {
            ':' when n == '=' => Two(TokenKind.Assign),
            '=' when n == '=' => Two(TokenKind.Eq),
            '!' when n == '=' => Two(TokenKind.Neq),
            '<' when n == '=' => Two(TokenKind.Lte),
            '>' when n == '=' => Two(TokenKind.Gte),
            '{' => One(TokenKind.LBrace),
            '}' => One(TokenKind.RBrace),
            '[' => One(TokenKind.LBrack),
            ']' => One(TokenKind.RBrack),
            '(' => One(TokenKind.LParen),
            ')' => One(TokenKind.RParen),
            '.' => One(TokenKind.Dot),
            ',' => One(TokenKind.Comma),
            ';' => One(TokenKind.Semicolon),
            ':' => One(TokenKind.Colon),
            '|' => One(TokenKind.Pipe),
            '&' => One(TokenKind.Amp),
            '=' => One(TokenKind.Unify),
            '<' => One(TokenKind.Lt),
            '>' => One(TokenKind.Gt),
            '+' => One(TokenKind.Plus),
            '-' => One(TokenKind.Minus),
            '*' => One(TokenKind.Star),
            '/' => One(TokenKind.Slash),
            '%' => One(TokenKind.Percent),
            _ => throw Error(row, col, $"illegal token '{c}'"),
        };
    }

    private RegoException Error(int row, int col, string msg) =>
        new(RegoErrorCodes.ParseError, msg, new RegoLocation(_file, row, col));
}
