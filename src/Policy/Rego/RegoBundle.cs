using System.Formats.Tar;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace Sandbox.Policy.Rego;

/// <summary>
/// An OPA bundle: <c>*.rego</c> modules, <c>data.json</c>/<c>data.yaml</c> documents (placed by their directory)
/// and an optional <c>.manifest</c> (revision, roots). Loaded from a directory, a .tar.gz, or files in memory.
/// </summary>
public sealed class RegoBundle
{
    /// <summary>Largest bundle archive or directory we read, in bytes (64 MiB).</summary>
    public const long MaxBundleBytes = 64L << 20;

    private readonly List<(string Name, string Text)> _modules;

    private RegoBundle(List<(string, string)> modules, Value data, string? revision, IReadOnlyList<string> roots)
    {
        _modules = modules;
        BaseData = data;
        Revision = revision;
        Roots = roots;
    }

    public IReadOnlyList<(string Name, string Text)> Modules => _modules;
    public string? Revision { get; }
    public IReadOnlyList<string> Roots { get; }
    public JsonNode? Data => ValueJson.ToNode(BaseData);
    internal Value BaseData { get; }

    /// <summary>Files as a bundle: names ending in .rego are modules, data.json/data.yaml are documents, .manifest is the manifest.</summary>
    public static RegoBundle FromFiles(IEnumerable<(string name, string text)> files, string? dataJson = null)
    {
        var list = files.ToList();
        if (dataJson is not null) list.Add(("data.json", dataJson));
        return Build(list);
    }

    /// <summary>A directory, a .tar.gz bundle, or a single .rego/.json/.yaml file.</summary>
    public static RegoBundle Load(string path)
    {
        if (Directory.Exists(path)) return LoadDirectory(path);
        if (path.EndsWith(".tar.gz", StringComparison.Ordinal) || path.EndsWith(".tgz", StringComparison.Ordinal)) return LoadTarGz(path);
        if (!File.Exists(path)) throw new RegoException(RegoErrorCodes.BundleError, $"bundle path '{path}' does not exist");
        var name = Path.GetFileName(path);
        if (name.EndsWith(".json", StringComparison.Ordinal)) name = "data.json";
        else if (name.EndsWith(".yaml", StringComparison.Ordinal) || name.EndsWith(".yml", StringComparison.Ordinal)) name = "data.yaml";
        return Build([(name, ReadBounded(path))]);
    }

    public static RegoBundle LoadDirectory(string path)
    {
        if (!Directory.Exists(path)) throw new RegoException(RegoErrorCodes.BundleError, $"bundle directory '{path}' does not exist");
        var files = new List<(string, string)>();
        long total = 0;
        foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(path, file).Replace('\\', '/');
            if (!IsBundleFile(rel)) continue;
            total += new FileInfo(file).Length;
            if (total > MaxBundleBytes) throw new RegoException(RegoErrorCodes.BundleError, $"bundle '{path}' is larger than {MaxBundleBytes} bytes");
            files.Add((rel, ReadBounded(file)));
        }
        return Build(files);
    }

    public static RegoBundle LoadTarGz(string path)
    {
        using var fs = File.OpenRead(path);
        return LoadTarGz(fs, path);
    }

    public static RegoBundle LoadTarGz(Stream stream, string name = "bundle.tar.gz")
    {
        var files = new List<(string, string)>();
        long total = 0;
        try
        {
            using var gz = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
                var rel = entry.Name;
                while (rel.StartsWith("./", StringComparison.Ordinal)) rel = rel[2..];
                rel = rel.TrimStart('/');
                if (rel.Contains("..", StringComparison.Ordinal)) continue;
                if (!IsBundleFile(rel)) continue;
                total += entry.Length;
                if (total > MaxBundleBytes) throw new RegoException(RegoErrorCodes.BundleError, $"bundle '{name}' is larger than {MaxBundleBytes} bytes");
                using var reader = new StreamReader(entry.DataStream, Encoding.UTF8);
                files.Add((rel, reader.ReadToEnd()));
            }
        }
        catch (InvalidDataException e)
        {
            throw new RegoException(RegoErrorCodes.BundleError, $"bundle '{name}' is not a gzipped tar archive: {e.Message}");
        }
        return Build(files);
    }

    /// <summary>The default sandbox bundle embedded in this assembly (policies/sandbox).</summary>
    public static RegoBundle LoadDefault()
    {
        var asm = typeof(RegoBundle).Assembly;
        var files = new List<(string, string)>();
        foreach (var res in asm.GetManifestResourceNames().Order(StringComparer.Ordinal))
        {
            const string prefix = "policies/sandbox/";
            if (!res.StartsWith(prefix, StringComparison.Ordinal)) continue;
            using var s = asm.GetManifestResourceStream(res)!;
            using var r = new StreamReader(s, Encoding.UTF8);
            files.Add((res[prefix.Length..], r.ReadToEnd()));
        }
        if (files.Count == 0) throw new RegoException(RegoErrorCodes.BundleError, "the default bundle is not embedded in " + asm.GetName().Name);
        return Build(files);
    }

    /// <summary>Several bundles (or files) as one, as <c>opa eval -d a -d b</c> does.</summary>
    public static RegoBundle Merge(IEnumerable<RegoBundle> bundles)
    {
        var list = bundles.ToList();
        if (list.Count == 1) return list[0];
        var modules = new List<(string, string)>();
        Value data = Value.EmptyObject;
        foreach (var b in list)
        {
            modules.AddRange(b._modules);
            data = MergeData(data, b.BaseData, "");
        }
        return new RegoBundle(modules, data, list.Select(b => b.Revision).FirstOrDefault(r => r is not null), [""]);
    }

    public CompiledPolicy Compile(RegoCompileOptions? options = null) => CompiledPolicy.Create(this, options ?? new RegoCompileOptions());

    private static bool IsBundleFile(string rel)
    {
        var name = rel.Split('/')[^1];
        return rel == ".manifest" || name.EndsWith(".rego", StringComparison.Ordinal) || name is "data.json" or "data.yaml" or "data.yml";
    }

    private static string ReadBounded(string file)
    {
        var len = new FileInfo(file).Length;
        if (len > MaxBundleBytes) throw new RegoException(RegoErrorCodes.BundleError, $"file '{file}' is larger than {MaxBundleBytes} bytes");
        return File.ReadAllText(file, Encoding.UTF8);
    }

    private static RegoBundle Build(List<(string Name, string Text)> files)
    {
        var modules = new List<(string, string)>();
        Value data = Value.EmptyObject;
        string? revision = null;
        IReadOnlyList<string> roots = [""];
        foreach (var (name, text) in files)
        {
            var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var leaf = parts.Length == 0 ? name : parts[^1];
            if (name == ".manifest")
            {
                var manifest = ParseData(name, text, yaml: false) as ObjectValue
                    ?? throw new RegoException(RegoErrorCodes.BundleError, ".manifest must be a JSON object");
                if (manifest.Get("revision") is StringValue rev) revision = rev.V;
                if (manifest.Get("roots") is ArrayValue r) roots = r.Items.OfType<StringValue>().Select(s => s.V).ToList();
                if (manifest.Get("rego_version") is NumberValue { V: 0 })
                    throw new RegoException(RegoErrorCodes.BundleError, ".manifest: rego_version 0 is not supported (Rego v1 only)");
            }
            else if (leaf.EndsWith(".rego", StringComparison.Ordinal)) modules.Add((name, text));
            else if (leaf is "data.json" or "data.yaml" or "data.yml")
            {
                var doc = ParseData(name, text, yaml: leaf != "data.json");
                for (var i = parts.Length - 2; i >= 0; i--)
                    doc = new ObjectValue(new Dictionary<Value, Value> { [new StringValue(parts[i])] = doc });
                data = MergeData(data, doc, name);
            }
        }
        return new RegoBundle(modules, data, revision, roots);
    }

    private static Value ParseData(string name, string text, bool yaml)
    {
        try
        {
            return yaml ? YamlToValue(text) : ValueJson.Parse(text);
        }
        catch (RegoException e)
        {
            throw new RegoException(RegoErrorCodes.BundleError, $"{name}: {e.Message}");
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new RegoException(RegoErrorCodes.BundleError, $"{name}:{e.Start.Line}:{e.Start.Column}: {e.Message}");
        }
        catch (Exception e) when (yaml && e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws these, not a YamlException, for some malformed input (a document-end marker inside
            // a flow mapping; an empty key before a comment; found by tests/Fuzz.Tests).
            throw new RegoException(RegoErrorCodes.BundleError, $"{name}: not valid YAML: {e.Message}");
        }
    }

    private static Value MergeData(Value a, Value b, string name)
    {
        if (a is ObjectValue ao && b is ObjectValue bo)
        {
            var map = new Dictionary<Value, Value>(ao.Map);
            foreach (var (k, v) in bo.Map) map[k] = map.TryGetValue(k, out var existing) ? MergeData(existing, v, name) : v;
            return new ObjectValue(map);
        }
        throw new RegoException(RegoErrorCodes.BundleError, $"{name}: data documents conflict (a non-object value is defined twice)");
    }

    /// <summary>Most nodes converted from one YAML document: aliases can make a small text expand without bound.</summary>
    internal const int MaxYamlNodes = 1_000_000;

    internal static Value YamlToValue(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        var budget = MaxYamlNodes;
        return stream.Documents.Count == 0 ? Value.EmptyObject : Convert(stream.Documents[0].RootNode, 0, ref budget);

        static Value Convert(YamlNode node, int depth, ref int budget)
        {
            if (depth > ValueJson.DefaultMaxDepth) throw new RegoException(RegoErrorCodes.BundleError, "YAML nested too deeply");
            if (--budget < 0) throw new RegoException(RegoErrorCodes.BundleError, $"YAML document expands to more than {MaxYamlNodes} nodes");
            switch (node)
            {
                case YamlMappingNode m:
                    {
                        var map = new Dictionary<Value, Value>();
                        foreach (var (k, v) in m.Children)
                            map[new StringValue(k is YamlScalarNode ks ? ks.Value ?? "" : throw new RegoException(RegoErrorCodes.BundleError, $"YAML mapping key at {k.Start} is not a scalar"))] = Convert(v, depth + 1, ref budget);
                        return new ObjectValue(map);
                    }
                case YamlSequenceNode s:
                    {
                        var items = new Value[s.Children.Count];
                        for (var i = 0; i < items.Length; i++) items[i] = Convert(s.Children[i], depth + 1, ref budget);
                        return new ArrayValue(items);
                    }
                case YamlScalarNode sc:
                    {
                        var v = sc.Value ?? "";
                        if (sc.Style is not (YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any)) return new StringValue(v);
                        if (v is "" or "~" or "null" or "Null" or "NULL") return Value.Null;
                        if (v is "true" or "True" or "TRUE") return Value.True;
                        if (v is "false" or "False" or "FALSE") return Value.False;
                        if (double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d)) return new NumberValue(d);
                        return new StringValue(v);
                    }
                default:
                    return Value.Null;
            }
        }
    }
}
