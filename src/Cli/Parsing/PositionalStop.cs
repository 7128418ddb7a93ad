using System.CommandLine;

namespace Sandbox.Cli.Parsing;

/// <summary>Docker's argument rule for commands that run a program (`run`, `exec`): flags are parsed only up to the
/// first positional past the command's own (exec's sandbox id); everything from there on is the program's argv, even
/// tokens that look like flags (`sandbox run grep -e x f`, `sandbox run python3 -h`). It rewrites argv before
/// System.CommandLine sees it: inserts "--" at the program, expands bundled short flags (`-it`), and refuses an
/// unknown flag before the program instead of taking it as the program's name.</summary>
internal static class PositionalStop
{
    private static readonly Dictionary<Command, int> s_commands = [];

    /// <summary>Marks <paramref name="command"/>: its argv starts after <paramref name="leadingPositionals"/> positionals.</summary>
    public static T Register<T>(T command, int leadingPositionals) where T : Command
    {
        s_commands[command] = leadingPositionals;
        return command;
    }

    /// <summary>Whether <paramref name="command"/> takes a program (registered with <see cref="Register"/>).</summary>
    public static bool IsRegistered(Command command) => s_commands.ContainsKey(command);

    public static string[] Normalize(Command root, string[] args)
    {
        var output = new List<string>(args.Length + 1);
        var i = 0;
        Command current = root;
        // Walk the subcommand path (root flags such as --help may come first).
        while (i < args.Length)
        {
            var token = args[i];
            if (token.StartsWith('-') && token != "-" && token != "--")
            {
                if (Find(current, token.Split('=')[0]) is null && current == root)
                    throw new UsageException($"unknown flag '{token}' (see 'sandbox --help')");
                output.Add(token);
                i++;
                continue;
            }
            var sub = current.Subcommands.FirstOrDefault(c => c.Name == token || c.Aliases.Contains(token));
            if (sub is null)
                break;
            output.Add(token);
            current = sub;
            i++;
            if (s_commands.TryGetValue(current, out var leading))
            {
                output.AddRange(Rewrite(current, args[i..], leading));
                return [.. output];
            }
        }
        output.AddRange(args[i..]);
        return [.. output];
    }

    private static IEnumerable<string> Rewrite(Command command, string[] args, int leading)
    {
        var result = new List<string>(args.Length + 1);
        var positionals = 0;
        for (var j = 0; j < args.Length; j++)
        {
            var token = args[j];
            if (token == "--")
            {
                result.AddRange(args[j..]);
                return result;
            }
            if (token.StartsWith("--", StringComparison.Ordinal))
            {
                var name = token.Split('=', 2)[0];
                var option = Find(command, name) ?? throw new UsageException($"unknown flag '{name}' for 'sandbox {command.Name}' (see 'sandbox {command.Name} --help')");
                result.Add(token);
                if (TakesValue(option) && !token.Contains('=') && j + 1 < args.Length)
                    result.Add(args[++j]);
                continue;
            }
            if (token.StartsWith('-') && token.Length > 1)
            {
                var first = Find(command, token[..2]) ?? throw new UsageException($"unknown flag '{token[..2]}' for 'sandbox {command.Name}' (see 'sandbox {command.Name} --help')");
                if (token.Length == 2)
                {
                    result.Add(token);
                    if (TakesValue(first) && j + 1 < args.Length)
                        result.Add(args[++j]);
                    continue;
                }
                if (TakesValue(first))
                {
                    // -m256m: the value attached.
                    result.Add(token[..2]);
                    result.Add(token[2..]);
                    continue;
                }
                // -it: bundled switches, each one a known flag without a value.
                foreach (var c in token[1..])
                {
                    var flag = Find(command, "-" + c);
                    if (flag is null || TakesValue(flag))
                        throw new UsageException($"'{token}': '-{c}' is not a switch of 'sandbox {command.Name}' (only flags without a value can be combined)");
                    result.Add("-" + c);
                }
                continue;
            }
            if (positionals++ == leading)
            {
                result.Add("--");
                result.AddRange(args[j..]);
                return result;
            }
            result.Add(token);
        }
        return result;
    }

    private static Option? Find(Command command, string name)
    {
        for (Command? c = command; c is not null; c = Parent(c))
        {
            foreach (var option in c.Options)
            {
                if ((option.Name == name || option.Aliases.Contains(name)) && (c == command || option.Recursive))
                    return option;
            }
        }
        return null;
    }

    private static Command? Parent(Command command) => command.Parents.OfType<Command>().FirstOrDefault();

    private static bool TakesValue(Option option) => option.Arity.MaximumNumberOfValues > 0 && option.ValueType != typeof(bool);
}
