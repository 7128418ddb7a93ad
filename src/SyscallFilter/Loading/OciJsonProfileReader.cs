using System.Text.Json;

namespace Sandbox.SyscallFilter.Loading;

/// <summary>
/// Reads OCI runtime-spec (<c>linux.seccomp</c>) and Docker seccomp JSON with <see cref="JsonDocument"/>
/// (no reflection, AOT-safe). Meaning follows runc/libseccomp:
/// <list type="bullet">
/// <item>SCMP_ACT_ERRNO without errnoRet/defaultErrnoRet is EPERM; SCMP_ACT_KILL is kill_thread.</item>
/// <item>args in one entry must all hold; when one index appears twice, runc adds each condition as its own rule
///   (any may hold), and so do we.</item>
/// <item>SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the expected value.</item>
/// <item>Docker's includes/excludes: entries that need capabilities (includes.caps) are skipped, since sandboxes
///   hold none; arches filters are applied for amd64; minKernel is ignored.</item>
/// <item>Names that exist only on other architectures are skipped; any other unknown name is an error.</item>
/// </list>
/// Unknown fields are errors, so a typo never silently widens a profile.
/// </summary>
internal static class OciJsonProfileReader
{
    private static readonly string[] TopKeys =
        ["defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags", "listenerPath", "listenerMetadata"];
    private static readonly string[] SyscallKeys = ["names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes"];
    private static readonly string[] ArgKeys = ["index", "value", "valueTwo", "op"];
    private static readonly string[] FilterKeys = ["arches", "caps", "minKernel"];
    private static readonly string[] OurArches = ["amd64", "x86_64", "SCMP_ARCH_X86_64"];

    internal static SeccompProfile? Read(string text, SourceMap map)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            map.Error(new SourcePlace("", (int)(e.LineNumber ?? -1) + 1, (int)(e.BytePositionInLine ?? -1) + 1), $"not valid JSON: {e.Message}");
            return null;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                map.Error(Place("$"), "expected a JSON object with 'defaultAction' and 'syscalls'");
                return null;
            }

            CheckKeys(root, "", TopKeys, map);
            int? defaultErrno = root.TryGetProperty("defaultErrnoRet", out var defaultErrnoElement)
                ? ReadInt(defaultErrnoElement, "defaultErrnoRet", map)
                : null;

            var defaultAction = SeccompAction.KillProcess;
            if (root.TryGetProperty("defaultAction", out var defaultActionElement))
            {
                map.Map("default_action", Place("defaultAction"));
                defaultAction = ReadAction(defaultActionElement, defaultErrno, "defaultAction", map) ?? defaultAction;
            }
            else
            {
                map.Error(Place(""), "missing 'defaultAction'");
            }

            CheckArchitectures(root, map);
            if (root.TryGetProperty("listenerPath", out var listener) && listener.ValueKind == JsonValueKind.String && listener.GetString()!.Length > 0)
            {
                map.Error(Place("listenerPath"), "SCMP_ACT_NOTIFY listeners are not supported");
            }

            var rules = new List<SeccompRule>();
            if (root.TryGetProperty("syscalls", out var syscalls) && syscalls.ValueKind != JsonValueKind.Null)
            {
                if (syscalls.ValueKind != JsonValueKind.Array)
                {
                    map.Error(Place("syscalls"), "'syscalls' must be an array");
                }
                else
                {
                    var i = 0;
                    foreach (var entry in syscalls.EnumerateArray())
                    {
                        ReadEntry(entry, $"syscalls[{i}]", rules, map);
                        i++;
                    }
                }
            }

            return new SeccompProfile(Path.GetFileNameWithoutExtension(map.Source), defaultAction, rules.ToArray());
        }
    }

    private static void ReadEntry(JsonElement entry, string at, List<SeccompRule> rules, SourceMap map)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            map.Error(Place(at), "a syscalls entry must be an object with 'names' and 'action'");
            return;
        }

        CheckKeys(entry, at, SyscallKeys, map);
        if (!AppliesToSandbox(entry, at, map))
        {
            return;
        }

        // (name, source path) for each x86_64 name
        var names = new List<(string Name, string At)>();
        var nameKey = entry.TryGetProperty("names", out var namesElement) ? "names" : entry.TryGetProperty("name", out namesElement) ? "name" : null;
        if (nameKey is null)
        {
            map.Error(Place(at), "missing 'names'");
        }
        else if (namesElement.ValueKind == JsonValueKind.String)
        {
            AddName(namesElement.GetString()!, $"{at}.{nameKey}", names);
        }
        else if (namesElement.ValueKind == JsonValueKind.Array)
        {
            var n = 0;
            foreach (var name in namesElement.EnumerateArray())
            {
                if (name.ValueKind == JsonValueKind.String)
                {
                    AddName(name.GetString()!, $"{at}.{nameKey}[{n}]", names);
                }
                else
                {
                    map.Error(Place($"{at}.{nameKey}[{n}]"), "a syscall name must be a string");
                }

                n++;
            }
        }
        else
        {
            map.Error(Place($"{at}.{nameKey}"), "'names' must be an array of syscall names");
        }

        int? errnoRet = entry.TryGetProperty("errnoRet", out var errnoElement) ? ReadInt(errnoElement, $"{at}.errnoRet", map) : null;
        SeccompAction action = SeccompAction.KillProcess;
        if (entry.TryGetProperty("action", out var actionElement))
        {
            action = ReadAction(actionElement, errnoRet, $"{at}.action", map) ?? action;
        }
        else
        {
            map.Error(Place(at), "missing 'action'");
        }

        var conditions = new List<(ArgCondition Condition, string At)>();
        if (entry.TryGetProperty("args", out var args) && args.ValueKind != JsonValueKind.Null)
        {
            if (args.ValueKind != JsonValueKind.Array)
            {
                map.Error(Place($"{at}.args"), "'args' must be an array");
            }
            else
            {
                var c = 0;
                foreach (var arg in args.EnumerateArray())
                {
                    conditions.Add((ReadCondition(arg, $"{at}.args[{c}]", map), $"{at}.args[{c}]"));
                    c++;
                }
            }
        }

        if (names.Count == 0 && nameKey is not null && namesElement.ValueKind is JsonValueKind.Array or JsonValueKind.String
            && (namesElement.ValueKind == JsonValueKind.String || namesElement.GetArrayLength() > 0))
        {
            return; // only other architectures' names
        }

        var comment = entry.TryGetProperty("comment", out var commentElement) && commentElement.ValueKind == JsonValueKind.String
            ? commentElement.GetString()
            : null;

        // runc: when an index repeats, each condition becomes its own rule
        var repeated = conditions.GroupBy(c => c.Condition.Index).Any(g => g.Count() > 1);
        var groups = repeated ? conditions.Select(c => new[] { c }).ToList() : [conditions.ToArray()];
        foreach (var group in groups)
        {
            var modelAt = $"rules[{rules.Count}]";
            map.Map(modelAt, Place(at));
            map.Map($"{modelAt}.action", Place($"{at}.action"));
            for (var n = 0; n < names.Count; n++)
            {
                map.Map($"{modelAt}.names[{n}]", Place(names[n].At));
            }

            for (var c = 0; c < group.Length; c++)
            {
                map.Map($"{modelAt}.args[{c}]", Place(group[c].At));
                map.Map($"{modelAt}.args[{c}].index", Place($"{group[c].At}.index"));
                map.Map($"{modelAt}.args[{c}].op", Place($"{group[c].At}.op"));
                map.Map($"{modelAt}.args[{c}].value", Place($"{group[c].At}.valueTwo"));
            }

            rules.Add(new SeccompRule(names.Select(n => n.Name).ToArray(), action, group.Select(g => g.Condition).ToArray(), comment));
        }
    }

    private static void AddName(string name, string at, List<(string, string)> names)
    {
        if (!SyscallTable.TryGetNumber(name, out _) && ForeignSyscallNames.Names.Contains(name))
        {
            return;
        }

        names.Add((name, at));
    }

    private static ArgCondition ReadCondition(JsonElement arg, string at, SourceMap map)
    {
        var placeholder = new ArgCondition(0, ArgOperator.Eq, 0);
        if (arg.ValueKind != JsonValueKind.Object)
        {
            map.Error(Place(at), "an args entry must be an object with 'index', 'value' and 'op'");
            return placeholder;
        }

        CheckKeys(arg, at, ArgKeys, map);
        var ok = true;
        var index = arg.TryGetProperty("index", out var indexElement) ? ReadInt(indexElement, $"{at}.index", map) : Missing("index");
        var value = ReadULong(arg, "value", at, map, ref ok);
        var valueTwo = ReadULong(arg, "valueTwo", at, map, ref ok);
        ArgOperator? op = null;
        if (!arg.TryGetProperty("op", out var opElement))
        {
            Missing("op");
        }
        else
        {
            op = opElement.ValueKind == JsonValueKind.String ? ParseOperator(opElement.GetString()!) : null;
            if (op is null)
            {
                map.Error(Place($"{at}.op"), $"unknown operator {opElement.GetRawText()} (expected SCMP_CMP_EQ, _NE, _LT, _LE, _GT, _GE or _MASKED_EQ)");
            }
        }

        if (index is null || op is null || !ok)
        {
            return placeholder;
        }

        return op == ArgOperator.MaskedEq
            ? new ArgCondition(index.Value, ArgOperator.MaskedEq, valueTwo, value)
            : new ArgCondition(index.Value, op.Value, value);

        int? Missing(string key)
        {
            map.Error(Place(at), $"missing '{key}'");
            return null;
        }
    }

    private static ArgOperator? ParseOperator(string text) => text switch
    {
        "SCMP_CMP_EQ" => ArgOperator.Eq,
        "SCMP_CMP_NE" => ArgOperator.Ne,
        "SCMP_CMP_LT" => ArgOperator.Lt,
        "SCMP_CMP_LE" => ArgOperator.Le,
        "SCMP_CMP_GT" => ArgOperator.Gt,
        "SCMP_CMP_GE" => ArgOperator.Ge,
        "SCMP_CMP_MASKED_EQ" => ArgOperator.MaskedEq,
        _ => null,
    };

    private static SeccompAction? ReadAction(JsonElement element, int? errnoRet, string at, SourceMap map)
    {
        var text = element.ValueKind == JsonValueKind.String ? element.GetString() : null;
        switch (text)
        {
            case "SCMP_ACT_ALLOW": return SeccompAction.Allow;
            case "SCMP_ACT_ERRNO": return SeccompAction.FailWith(errnoRet ?? 1);
            case "SCMP_ACT_KILL":
            case "SCMP_ACT_KILL_THREAD": return SeccompAction.KillThread;
            case "SCMP_ACT_KILL_PROCESS": return SeccompAction.KillProcess;
            case "SCMP_ACT_TRAP": return SeccompAction.Trap;
            case "SCMP_ACT_LOG": return SeccompAction.Log;
            case "SCMP_ACT_TRACE":
            case "SCMP_ACT_NOTIFY":
                map.Error(Place(at), $"action '{text}' is not supported (sandboxes have no tracer or notify listener)");
                return null;
            default:
                map.Error(Place(at), $"unknown action {element.GetRawText()} (expected SCMP_ACT_ALLOW, _ERRNO, _KILL_PROCESS, _KILL_THREAD, _KILL, _TRAP or _LOG)");
                return null;
        }
    }

    private static bool AppliesToSandbox(JsonElement entry, string at, SourceMap map)
    {
        var applies = true;
        foreach (var key in (ReadOnlySpan<string>)["includes", "excludes"])
        {
            if (!entry.TryGetProperty(key, out var filter) || filter.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (filter.ValueKind != JsonValueKind.Object)
            {
                map.Error(Place($"{at}.{key}"), $"'{key}' must be an object");
                continue;
            }

            CheckKeys(filter, $"{at}.{key}", FilterKeys, map);
            var include = key == "includes";
            if (filter.TryGetProperty("arches", out var arches) && arches.ValueKind == JsonValueKind.Array && arches.GetArrayLength() > 0)
            {
                var ours = arches.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && OurArches.Contains(a.GetString()));
                applies &= include ? ours : !ours;
            }

            if (include && filter.TryGetProperty("caps", out var caps) && caps.ValueKind == JsonValueKind.Array && caps.GetArrayLength() > 0)
            {
                applies = false; // sandboxes run with every capability dropped
            }
        }

        return applies;
    }

    private static void CheckArchitectures(JsonElement root, SourceMap map)
    {
        if (!root.TryGetProperty("architectures", out var arches) || arches.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (arches.ValueKind != JsonValueKind.Array)
        {
            map.Error(Place("architectures"), "'architectures' must be an array");
            return;
        }

        if (arches.GetArrayLength() > 0 && !arches.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == "SCMP_ARCH_X86_64"))
        {
            map.Error(Place("architectures"), $"architectures {arches.GetRawText()} do not include SCMP_ARCH_X86_64, the only architecture this compiler targets");
        }
    }

    private static int? ReadInt(JsonElement element, string at, SourceMap map)
    {
        if (element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var value))
        {
            return value;
        }

        map.Error(Place(at), $"expected an integer, got {element.GetRawText()}");
        return null;
    }

    private static ulong ReadULong(JsonElement arg, string key, string at, SourceMap map, ref bool ok)
    {
        if (!arg.TryGetProperty(key, out var element))
        {
            if (key == "value")
            {
                map.Error(Place(at), "missing 'value'");
                ok = false;
            }

            return 0;
        }

        if (element.ValueKind == JsonValueKind.Number && element.TryGetUInt64(out var value))
        {
            return value;
        }

        map.Error(Place($"{at}.{key}"), $"expected an unsigned 64-bit integer, got {element.GetRawText()}");
        ok = false;
        return 0;
    }

    private static void CheckKeys(JsonElement element, string at, string[] known, SourceMap map)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                var where = at.Length == 0 ? property.Name : $"{at}.{property.Name}";
                map.Error(Place(where), $"unknown field '{property.Name}' (expected one of: {string.Join(", ", known)})");
            }
        }
    }

    private static SourcePlace Place(string path) => new(path, 0, 0);
}
