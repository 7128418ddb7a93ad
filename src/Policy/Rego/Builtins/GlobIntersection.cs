namespace Sandbox.Policy.Rego;

/// <summary>
/// regex.globs_match: whether two "globs" (OPA's restricted regex: literal characters, <c>.</c>, character classes
/// <c>[a-z]</c> / <c>[^…]</c>, <c>\</c> escapes, each optionally followed by <c>* + ?</c>) match some common string.
/// Each glob is a small automaton over its tokens; the product of the two is searched for a shared accepting run.
/// Anything else (groups, alternation, anchors, counted repetition) is a builtin error naming it.
/// </summary>
internal static class GlobIntersection
{
    private const string Fn = "regex.globs_match";

    private sealed record CharSet(bool Any, bool Negated, (int Lo, int Hi)[] Ranges)
    {
        public bool Has(int c) => Any || Ranges.Any(r => c >= r.Lo && c <= r.Hi) != Negated;
    }

    private sealed record Token(CharSet Set, bool Optional, bool Repeat);

    public static void Register(BuiltinTable t) => t.Register(Fn, 2, (a, _) =>
        Value.Bool(Intersects(Parse(BuiltinTable.Str(a, 0, Fn)), Parse(BuiltinTable.Str(a, 1, Fn)))));

    private static List<Token> Parse(string glob)
    {
        var tokens = new List<Token>();
        for (var i = 0; i < glob.Length;)
        {
            CharSet set;
            var c = glob[i];
            if (c == '.') { set = new CharSet(true, false, []); i++; }
            else if (c == '\\')
            {
                if (i + 1 >= glob.Length) throw new BuiltinException($"{Fn}: trailing \\ in {glob}");
                set = Literal(glob[i + 1]);
                i += 2;
            }
            else if (c == '[') set = Class(glob, ref i);
            else if ("*+?".Contains(c)) throw new BuiltinException($"{Fn}: quantifier {c} with nothing to repeat in {glob}");
            else if ("(){}|^$".Contains(c)) throw new BuiltinException($"{Fn}: {c} is not supported in globs (only literals, ., [classes] and * + ?)");
            else { set = Literal(c); i++; }
            var q = i < glob.Length && "*+?".Contains(glob[i]) ? glob[i++] : '\0';
            if (q == '+') tokens.Add(new Token(set, false, false)); // X+ is X X*
            tokens.Add(new Token(set, q is '*' or '?' or '+', q is '*' or '+'));
        }
        return tokens;
    }

    private static CharSet Literal(char c) => new(false, false, [(c, c)]);

    private static CharSet Class(string glob, ref int i)
    {
        i++;
        var negated = i < glob.Length && glob[i] == '^';
        if (negated) i++;
        var ranges = new List<(int, int)>();
        while (i < glob.Length && glob[i] != ']')
        {
            var lo = Next(glob, ref i);
            var hi = lo;
            if (i + 1 < glob.Length && glob[i] == '-' && glob[i + 1] != ']')
            {
                i++;
                hi = Next(glob, ref i);
                if (hi < lo) throw new BuiltinException($"{Fn}: invalid range in {glob}");
            }
            ranges.Add((lo, hi));
        }
        if (i >= glob.Length) throw new BuiltinException($"{Fn}: unterminated character class in {glob}");
        i++;
        return new CharSet(false, negated, ranges.ToArray());

        static int Next(string g, ref int i)
        {
            if (g[i] == '\\' && i + 1 < g.Length) { i += 2; return g[i - 1]; }
            return g[i++];
        }
    }

    /// <summary>Breadth-first search over pairs of token positions; a pair consumes a character both tokens accept.</summary>
    private static bool Intersects(List<Token> a, List<Token> b)
    {
        var seen = new HashSet<(int, int)>();
        var queue = new Queue<(int, int)>();
        Add(0, 0);
        while (queue.Count > 0)
        {
            var (i, j) = queue.Dequeue();
            if (i == a.Count && j == b.Count) return true;
            if (i < a.Count && a[i].Optional) Add(i + 1, j);
            if (j < b.Count && b[j].Optional) Add(i, j + 1);
            if (i < a.Count && j < b.Count && Overlap(a[i].Set, b[j].Set))
            {
                Add(i + 1, j + 1);
                if (a[i].Repeat) Add(i, j + 1);
                if (b[j].Repeat) Add(i + 1, j);
                if (a[i].Repeat && b[j].Repeat) Add(i, j);
            }
        }
        return false;

        void Add(int i, int j)
        {
            if (seen.Add((i, j))) queue.Enqueue((i, j));
        }
    }

    /// <summary>Membership changes only at a range's ends, so some shared character exists iff one of these is shared.</summary>
    private static bool Overlap(CharSet x, CharSet y)
    {
        var candidates = new List<int> { 0, 'a' };
        foreach (var (lo, hi) in x.Ranges.Concat(y.Ranges)) { candidates.Add(lo); candidates.Add(hi + 1); }
        return candidates.Any(c => c <= char.MaxValue && x.Has(c) && y.Has(c));
    }
}
