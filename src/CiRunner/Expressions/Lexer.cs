using System.Globalization;

namespace Sandbox.CiRunner.Expressions;

internal enum TokenKind { Number, String, Identifier, Punct, End }

internal readonly record struct Token(TokenKind Kind, string Text, int Position, ExprValue? Literal = null);

/// <summary>Tokens of the expression language: 'strings' ('' escapes a quote; double quotes are an error), JSON numbers
/// (also hex 0x.. and exponents), identifiers (letters, digits, '_' and '-'), and the operators.</summary>
internal static class Lexer
{
    private static readonly string[] TwoCharOps = ["<=", ">=", "==", "!=", "&&", "||"];

    public static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            var start = i;
            if (c == '\'')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                        throw new ExpressionException($"unterminated string starting at position {start + 1} in '{text}'");
                    if (text[i] == '\'')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '\'') { sb.Append('\''); i += 2; continue; }
                        i++;
                        break;
                    }
                    sb.Append(text[i++]);
                }
                tokens.Add(new Token(TokenKind.String, text[start..i], start, ExprValue.String(sb.ToString())));
                continue;
            }
            if (c == '"')
                throw new ExpressionException($"unexpected '\"' at position {start + 1} in '{text}': strings use single quotes");
            if (char.IsAsciiDigit(c) || (c is '-' or '+' or '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1]) && StartsOperand(tokens)))
            {
                i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '.' || (text[i] is '-' or '+' && text[i - 1] is 'e' or 'E')))
                    i++;
                var word = text[start..i];
                var n = ExprValue.ParseNumber(word);
                if (double.IsNaN(n))
                    throw new ExpressionException($"'{word}' at position {start + 1} is not a number in '{text}'");
                tokens.Add(new Token(TokenKind.Number, word, start, ExprValue.Number(n)));
                continue;
            }
            if (char.IsAsciiLetter(c) || c == '_')
            {
                i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '-'))
                    i++;
                tokens.Add(new Token(TokenKind.Identifier, text[start..i], start));
                continue;
            }
            if (i + 1 < text.Length && TwoCharOps.Contains(text.Substring(i, 2)))
            {
                tokens.Add(new Token(TokenKind.Punct, text.Substring(i, 2), start));
                i += 2;
                continue;
            }
            if ("()[].,!<>*".Contains(c))
            {
                tokens.Add(new Token(TokenKind.Punct, c.ToString(), start));
                i++;
                continue;
            }
            throw new ExpressionException($"unexpected character '{c}' at position {start + 1} in '{text}'");
        }
        tokens.Add(new Token(TokenKind.End, "", text.Length));
        return tokens;
    }

    /// <summary>A sign or '.' starts a number only where an operand may start (not after a value: `a.b` is a member).</summary>
    private static bool StartsOperand(List<Token> tokens) =>
        tokens.Count == 0 || tokens[^1].Kind == TokenKind.Punct && tokens[^1].Text is not (")" or "]" or "." or "*");

    internal static string Describe(Token t) => t.Kind == TokenKind.End ? "the end" : $"'{t.Text}' at position {(t.Position + 1).ToString(CultureInfo.InvariantCulture)}";
}
