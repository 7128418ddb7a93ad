using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Sandbox.Policy.Rego;

/// <summary>regex.match/split/replace/find_n/find_all_string_submatch_n/is_valid, glob.match/quote_meta. Patterns are compiled once and cached (bounded), with a match timeout.</summary>
internal static class PatternBuiltins
{
    private const int MaxCached = 512;
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);
    private static readonly ConcurrentDictionary<string, Regex> Cache = new(StringComparer.Ordinal);

    public static void Register(BuiltinTable t)
    {
        t.Register("regex.match", 2, (a, _) =>
        {
            var re = Compile(BuiltinTable.Str(a, 0, "regex.match"), "regex.match");
            return Value.Bool(Match(re, BuiltinTable.Str(a, 1, "regex.match"), "regex.match"));
        });
        t.Register("regex.split", 2, (a, _) =>
        {
            var re = Compile(BuiltinTable.Str(a, 0, "regex.split"), "regex.split");
            return Bounded("regex.split", () => new ArrayValue(GoSplit(re, BuiltinTable.Str(a, 1, "regex.split")).Select(p => (Value)Value.String(p)).ToArray()));
        });
        t.Register("regex.replace", 3, (a, _) =>
        {
            var input = BuiltinTable.Str(a, 0, "regex.replace");
            var re = Compile(BuiltinTable.Str(a, 1, "regex.replace"), "regex.replace");
            var value = BuiltinTable.Str(a, 2, "regex.replace");
            return Bounded("regex.replace", () => Value.String(re.Replace(input, value)));
        });
        t.Register("regex.find_n", 3, (a, _) =>
        {
            var re = Compile(BuiltinTable.Str(a, 0, "regex.find_n"), "regex.find_n");
            var input = BuiltinTable.Str(a, 1, "regex.find_n");
            var n = BuiltinTable.Int(a, 2, "regex.find_n");
            return Bounded("regex.find_n", () =>
            {
                var found = GoMatches(re, input).Select(m => (Value)Value.String(m.Value));
                return new ArrayValue((n < 0 ? found : found.Take((int)Math.Min(n, int.MaxValue))).ToArray());
            });
        });
        t.Register("regex.find_all_string_submatch_n", 3, (a, _) =>
        {
            const string fn = "regex.find_all_string_submatch_n";
            var re = Compile(BuiltinTable.Str(a, 0, fn), fn);
            var input = BuiltinTable.Str(a, 1, fn);
            var n = BuiltinTable.Int(a, 2, fn);
            return Bounded(fn, () =>
            {
                // Each match: the whole text, then every group (an unmatched group is "", as Go's).
                var found = GoMatches(re, input).Select(m => (Value)new ArrayValue(m.Groups.Cast<Group>().Select(g => (Value)Value.String(g.Success ? g.Value : "")).ToArray()));
                return new ArrayValue((n < 0 ? found : found.Take((int)Math.Min(n, int.MaxValue))).ToArray());
            });
        });
        t.Register("regex.template_match", 4, (a, _) =>
        {
            const string fn = "regex.template_match";
            var template = BuiltinTable.Str(a, 0, fn);
            var value = BuiltinTable.Str(a, 1, fn);
            var start = BuiltinTable.Str(a, 2, fn);
            var end = BuiltinTable.Str(a, 3, fn);
            if (start.Length == 0 || end.Length == 0) throw new BuiltinException($"{fn}: delimiters must not be empty");
            var re = Compile("tpl:" + start[0] + end[0] + template, () => TemplateToRegex(template, start[0], end[0], fn), fn);
            return Value.Bool(Match(re, value, fn));
        });
        t.Register("glob.quote_meta", 1, (a, _) =>
        {
            var sb = new StringBuilder();
            foreach (var c in BuiltinTable.Str(a, 0, "glob.quote_meta"))
            {
                if (c is '*' or '?' or '\\' or '[' or ']' or '{' or '}') sb.Append('\\');
                sb.Append(c);
            }
            return Value.String(sb.ToString());
        });
        t.Register("regex.is_valid", 1, (a, _) =>
        {
            if (a[0] is not StringValue s) return Value.False;
            try
            {
                Compile(s.V, "regex.is_valid");
                return Value.True;
            }
            catch (BuiltinException)
            {
                return Value.False;
            }
        });
        t.Register("glob.match", 3, (a, _) =>
        {
            var pattern = BuiltinTable.Str(a, 0, "glob.match");
            string[] delims = a[1] switch
            {
                NullValue => [],
                ArrayValue { Items.Length: 0 } => ["."],
                ArrayValue arr => arr.Items.Select(d => d is StringValue ds ? ds.V : throw new BuiltinException("glob.match: delimiters must be strings")).ToArray(),
                _ => throw new BuiltinTypeException($"glob.match: operand 2 must be array or null but got {Value.TypeName(a[1])}"),
            };
            var re = Compile("glob:" + string.Join('\u0001', delims) + "\u0002" + pattern, () => GlobToRegex(pattern, delims), "glob.match");
            return Value.Bool(Match(re, BuiltinTable.Str(a, 2, "glob.match"), "glob.match"));
        });
    }

    /// <summary>
    /// Matches as Go's FindAll: an empty match that abuts the previous match is skipped (.NET reports it).
    /// </summary>
    private static IEnumerable<Match> GoMatches(Regex re, string input)
    {
        var prevEnd = -1;
        for (var m = re.Match(input); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0 && m.Index == prevEnd) continue;
            prevEnd = m.Index + m.Length;
            yield return m;
        }
    }

    /// <summary>Go's regexp.Split(s, -1): captured groups are not part of the result (.NET's Regex.Split adds them).</summary>
    private static List<string> GoSplit(Regex re, string s)
    {
        if (s.Length == 0) return [""];
        var parts = new List<string>();
        int beg = 0, end = 0;
        foreach (var m in GoMatches(re, s))
        {
            end = m.Index;
            if (m.Index + m.Length != 0) parts.Add(s[beg..end]);
            beg = m.Index + m.Length;
        }
        if (end != s.Length) parts.Add(s[beg..]);
        return parts;
    }

    private static Value Bounded(string fn, Func<Value> f)
    {
        try
        {
            return f();
        }
        catch (RegexMatchTimeoutException)
        {
            throw new BuiltinException($"{fn}: match exceeded {MatchTimeout.TotalMilliseconds} ms");
        }
    }

    internal static bool Match(Regex re, string input, string fn)
    {
        try
        {
            return re.IsMatch(input);
        }
        catch (RegexMatchTimeoutException)
        {
            throw new BuiltinException($"{fn}: match exceeded {MatchTimeout.TotalMilliseconds} ms");
        }
    }

    internal static Regex Compile(string pattern, string fn) => Compile("re:" + pattern, () => pattern, fn);

    private static Regex Compile(string key, Func<string> source, string fn)
    {
        if (Cache.TryGetValue(key, out var re)) return re;
        try
        {
            re = new Regex(source(), RegexOptions.CultureInvariant, MatchTimeout);
        }
        catch (ArgumentException e)
        {
            throw new BuiltinException($"{fn}: error parsing regexp: {e.Message}");
        }
        if (Cache.Count >= MaxCached) Cache.Clear();
        Cache[key] = re;
        return re;
    }

    /// <summary>Glob syntax of gobwas/glob (as OPA uses): * ** ? [abc] [!abc] [a-z] {a,b} and \ escapes.</summary>
    /// <summary>
    /// regex.template_match's pattern: text between a start and its matching end delimiter (nesting counted) is a
    /// regular expression, the rest is literal; the whole value must match.
    /// </summary>
    private static string TemplateToRegex(string template, char start, char end, string fn)
    {
        var sb = new StringBuilder("^");
        int level = 0, open = 0, literalFrom = 0;
        for (var i = 0; i < template.Length; i++)
        {
            if (template[i] == start && ++level == 1)
            {
                open = i;
            }
            else if (template[i] == end && --level == 0)
            {
                sb.Append(Regex.Escape(template[literalFrom..open])).Append('(').Append(template[(open + 1)..i]).Append(')');
                literalFrom = i + 1;
            }
            else if (level < 0)
            {
                throw new BuiltinException($"{fn}: unbalanced braces in template \"{template}\"");
            }
        }
        if (level != 0) throw new BuiltinException($"{fn}: unbalanced braces in template \"{template}\"");
        return sb.Append(Regex.Escape(template[literalFrom..])).Append('$').ToString();
    }

    internal static string GlobToRegex(string glob, string[] delims)
    {
        var notDelim = delims.Length == 0 ? "." : "[^" + string.Concat(delims.Select(d => Regex.Escape(d).Replace("]", "\\]", StringComparison.Ordinal))) + "]";
        var sb = new StringBuilder("^");
        var depth = 0;
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            switch (c)
            {
                case '*':
                    if (i + 1 < glob.Length && glob[i + 1] == '*')
                    {
                        sb.Append(".*");
                        i++;
                    }
                    else sb.Append(notDelim).Append('*');
                    break;
                case '?': sb.Append(notDelim); break;
                case '[':
                    {
                        var end = glob.IndexOf(']', i + 1);
                        if (end < 0) throw new BuiltinException($"glob.match: unclosed '[' in {glob}");
                        var cls = glob[(i + 1)..end];
                        if (cls.StartsWith('!')) cls = "^" + cls[1..];
                        sb.Append('[').Append(cls.Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                        i = end;
                        break;
                    }
                case '{': sb.Append("(?:"); depth++; break;
                case '}' when depth > 0: sb.Append(')'); depth--; break;
                case ',' when depth > 0: sb.Append('|'); break;
                case '\\' when i + 1 < glob.Length:
                    sb.Append(Regex.Escape(glob[++i].ToString()));
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        if (depth != 0) throw new BuiltinException($"glob.match: unclosed '{{' in {glob}");
        return sb.Append('$').ToString();
    }
}
