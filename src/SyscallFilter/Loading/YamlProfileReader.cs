using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sandbox.SyscallFilter.Loading;

/// <summary>
/// Reads our YAML profile format with YamlDotNet's representation model (no reflection, AOT-safe):
/// <code>
/// name: default                      # optional, defaults to the source name
/// default_action: errno(EPERM)       # allow | errno(N or NAME) | kill_process | kill_thread | trap | log
/// rules:
///   - names: [read, write]
///     action: allow
///     comment: why these are allowed  # optional
///     args:                          # optional, all must hold; index 0-5
///       - { index: 0, op: masked_eq, mask: CLONE_NEWUSER|CLONE_NEWNS, value: 0 }
/// </code>
/// Unknown keys are errors. Every error names the path and line.
/// </summary>
internal static class YamlProfileReader
{
    private static readonly string[] TopKeys = ["name", "default_action", "rules"];
    private static readonly string[] RuleKeys = ["names", "action", "args", "comment"];
    private static readonly string[] ArgKeys = ["index", "op", "value", "mask"];

    internal static SeccompProfile? Read(string text, SourceMap map)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            map.Error(new SourcePlace("", (int)e.Start.Line, (int)e.Start.Column), $"not valid YAML: {e.Message}");
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws these, not a YamlException, for some malformed input (a document-end marker inside
            // a flow mapping; an empty key before a comment; found by tests/Fuzz.Tests).
            map.Error(new SourcePlace("", 1, 1), $"not valid YAML: {e.Message}");
            return null;
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            map.Error(new SourcePlace("", 1, 1), "expected one YAML document holding a mapping with 'default_action' and 'rules'");
            return null;
        }

        CheckKeys(root, "", TopKeys, map);
        var name = ScalarOrNull(root, "name", "name", map) ?? Path.GetFileNameWithoutExtension(map.Source);

        SeccompAction defaultAction = SeccompAction.KillProcess;
        if (Child(root, "default_action") is { } defaultNode)
        {
            var place = PlaceOf(defaultNode, "default_action");
            map.Map("default_action", place);
            defaultAction = ParseAction(defaultNode, place, map) ?? defaultAction;
        }
        else
        {
            map.Error(PlaceOf(root, ""), "missing 'default_action' (allow | errno(N) | kill_process | kill_thread | trap | log)");
        }

        var rules = new List<SeccompRule>();
        if (Child(root, "rules") is { } rulesNode)
        {
            if (rulesNode is not YamlSequenceNode sequence)
            {
                map.Error(PlaceOf(rulesNode, "rules"), "'rules' must be a list");
            }
            else
            {
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    if (ReadRule(sequence.Children[i], $"rules[{i}]", rules.Count, map) is { } rule)
                    {
                        rules.Add(rule);
                    }
                }
            }
        }

        return new SeccompProfile(name, defaultAction, rules.ToArray());
    }

    private static SeccompRule? ReadRule(YamlNode node, string at, int modelIndex, SourceMap map)
    {
        var modelAt = $"rules[{modelIndex}]";
        if (node is not YamlMappingNode rule)
        {
            map.Error(PlaceOf(node, at), "a rule must be a mapping with 'names' and 'action'");
            return null;
        }

        map.Map(modelAt, PlaceOf(rule, at));
        CheckKeys(rule, at, RuleKeys, map);

        var names = new List<string>();
        switch (Child(rule, "names"))
        {
            case null:
                map.Error(PlaceOf(rule, at), "missing 'names' (a list of syscall names)");
                break;
            case YamlSequenceNode list:
                map.Map($"{modelAt}.names", PlaceOf(list, $"{at}.names"));
                for (var n = 0; n < list.Children.Count; n++)
                {
                    var place = PlaceOf(list.Children[n], $"{at}.names[{n}]");
                    if (list.Children[n] is YamlScalarNode { Value: { } value })
                    {
                        map.Map($"{modelAt}.names[{names.Count}]", place);
                        names.Add(value);
                    }
                    else
                    {
                        map.Error(place, "a syscall name must be a string");
                    }
                }

                break;
            case var other:
                map.Error(PlaceOf(other, $"{at}.names"), "'names' must be a list of syscall names");
                break;
        }

        SeccompAction action = SeccompAction.KillProcess;
        if (Child(rule, "action") is { } actionNode)
        {
            var place = PlaceOf(actionNode, $"{at}.action");
            map.Map($"{modelAt}.action", place);
            action = ParseAction(actionNode, place, map) ?? action;
        }
        else
        {
            map.Error(PlaceOf(rule, at), "missing 'action' (allow | errno(N) | kill_process | kill_thread | trap | log)");
        }

        var conditions = new List<ArgCondition>();
        switch (Child(rule, "args"))
        {
            case null:
                break;
            case YamlSequenceNode args:
                for (var c = 0; c < args.Children.Count; c++)
                {
                    conditions.Add(ReadCondition(args.Children[c], $"{at}.args[{c}]", $"{modelAt}.args[{c}]", map));
                }

                break;
            case var other:
                map.Error(PlaceOf(other, $"{at}.args"), "'args' must be a list of conditions");
                break;
        }

        var comment = ScalarOrNull(rule, "comment", $"{at}.comment", map);
        return new SeccompRule(names.ToArray(), action, conditions.ToArray(), comment);
    }

    private static ArgCondition ReadCondition(YamlNode node, string at, string modelAt, SourceMap map)
    {
        if (node is not YamlMappingNode arg)
        {
            map.Error(PlaceOf(node, at), "a condition must be a mapping with 'index', 'op' and 'value'");
            return new ArgCondition(0, ArgOperator.Eq, 0);
        }

        map.Map(modelAt, PlaceOf(arg, at));
        CheckKeys(arg, at, ArgKeys, map);
        var ok = true;

        var index = 0;
        if (RequiredScalar(arg, "index", at, map) is { } indexNode)
        {
            var place = PlaceOf(indexNode, $"{at}.index");
            map.Map($"{modelAt}.index", place);
            if (!int.TryParse(indexNode.Value, out index))
            {
                map.Error(place, $"argument index '{indexNode.Value}' is not an integer in [0, {ArgCondition.MaxIndex}]");
                ok = false;
            }
        }
        else
        {
            ok = false;
        }

        var op = ArgOperator.Eq;
        if (RequiredScalar(arg, "op", at, map) is { } opNode)
        {
            var place = PlaceOf(opNode, $"{at}.op");
            map.Map($"{modelAt}.op", place);
            if (!TryParseOperator(opNode.Value, out op))
            {
                map.Error(place, $"unknown operator '{opNode.Value}' (expected eq, ne, lt, le, gt, ge or masked_eq)");
                ok = false;
            }
        }
        else
        {
            ok = false;
        }

        var value = ReadNumber(arg, "value", at, modelAt, required: true, map, ref ok);
        var mask = ReadNumber(arg, "mask", at, modelAt, required: op == ArgOperator.MaskedEq, map, ref ok);
        if (op != ArgOperator.MaskedEq && Child(arg, "mask") is { } stray)
        {
            map.Error(PlaceOf(stray, $"{at}.mask"), $"'mask' is only used with op masked_eq, not '{ArgCondition.OperatorName(op)}'");
            ok = false;
        }

        // A placeholder keeps the rule conditional, so the validator reports no made-up conflicts for it.
        return ok ? new ArgCondition(index, op, value, op == ArgOperator.MaskedEq ? mask : 0) : new ArgCondition(0, ArgOperator.Eq, 0);
    }

    private static ulong ReadNumber(YamlMappingNode arg, string key, string at, string modelAt, bool required, SourceMap map, ref bool ok)
    {
        var node = Child(arg, key);
        if (node is null)
        {
            if (required)
            {
                map.Error(PlaceOf(arg, at), $"missing '{key}'");
                ok = false;
            }

            return 0;
        }

        var place = PlaceOf(node, $"{at}.{key}");
        map.Map($"{modelAt}.{key}", place);
        if (node is not YamlScalarNode { Value: { } text })
        {
            map.Error(place, $"'{key}' must be a number");
            ok = false;
            return 0;
        }

        if (ProfileConstants.TryParseNumber(text, out var value) is { } error)
        {
            map.Error(place, error);
            ok = false;
        }

        return value;
    }

    internal static bool TryParseOperator(string? text, out ArgOperator op)
    {
        op = text switch
        {
            "eq" => ArgOperator.Eq,
            "ne" => ArgOperator.Ne,
            "lt" => ArgOperator.Lt,
            "le" => ArgOperator.Le,
            "gt" => ArgOperator.Gt,
            "ge" => ArgOperator.Ge,
            "masked_eq" => ArgOperator.MaskedEq,
            _ => (ArgOperator)(-1),
        };
        return op >= 0;
    }

    private static SeccompAction? ParseAction(YamlNode node, SourcePlace place, SourceMap map)
    {
        if (node is not YamlScalarNode { Value: { } text })
        {
            map.Error(place, "an action must be a string: allow | errno(N) | kill_process | kill_thread | trap | log");
            return null;
        }

        switch (text.Trim())
        {
            case "allow": return SeccompAction.Allow;
            case "kill_process": return SeccompAction.KillProcess;
            case "kill_thread": return SeccompAction.KillThread;
            case "trap": return SeccompAction.Trap;
            case "log": return SeccompAction.Log;
        }

        var trimmed = text.Trim();
        if (trimmed.StartsWith("errno(", StringComparison.Ordinal) && trimmed.EndsWith(')'))
        {
            var inner = trimmed[6..^1].Trim();
            if (ProfileConstants.ErrnoNames.TryGetValue(inner, out var named))
            {
                return SeccompAction.FailWith(named);
            }

            if (int.TryParse(inner, out var number))
            {
                return SeccompAction.FailWith(number); // range checked by the validator
            }

            map.Error(place, $"errno '{inner}' is neither a number in [1, {SeccompAction.MaxErrno}] nor a known name such as EPERM or ENOSYS");
            return null;
        }

        map.Error(place, $"unknown action '{text}' (expected allow, errno(N), kill_process, kill_thread, trap or log)");
        return null;
    }

    private static YamlNode? Child(YamlMappingNode mapping, string key) =>
        mapping.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static YamlScalarNode? RequiredScalar(YamlMappingNode mapping, string key, string at, SourceMap map)
    {
        switch (Child(mapping, key))
        {
            case null:
                map.Error(PlaceOf(mapping, at), $"missing '{key}'");
                return null;
            case YamlScalarNode scalar:
                return scalar;
            case var other:
                map.Error(PlaceOf(other, $"{at}.{key}"), $"'{key}' must be a single value");
                return null;
        }
    }

    private static string? ScalarOrNull(YamlMappingNode mapping, string key, string at, SourceMap map)
    {
        var node = Child(mapping, key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode scalar)
        {
            return scalar.Value;
        }

        map.Error(PlaceOf(node, at), $"'{key}' must be a string");
        return null;
    }

    private static void CheckKeys(YamlMappingNode mapping, string at, string[] known, SourceMap map)
    {
        foreach (var key in mapping.Children.Keys)
        {
            var keyText = (key as YamlScalarNode)?.Value;
            if (keyText is null || !known.Contains(keyText, StringComparer.Ordinal))
            {
                var where = at.Length == 0 ? keyText ?? "?" : $"{at}.{keyText}";
                map.Error(PlaceOf(key, where), $"unknown key '{keyText}' (expected one of: {string.Join(", ", known)})");
            }
        }
    }

    private static SourcePlace PlaceOf(YamlNode node, string path) => new(path, (int)node.Start.Line, (int)node.Start.Column);
}
