using Sandbox.CiRunner.Expressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sandbox.CiRunner.Workflow;

/// <summary>YAML → <see cref="WorkflowFile"/>, in one pass that collects every problem with its line:column and key
/// (<see cref="WorkflowException"/>). Keys GitHub has but this runner does not implement are errors naming them, never
/// silently ignored; <c>permissions</c> and <c>concurrency</c> are accepted and have no effect on a local run (they
/// are about GitHub's token and queue). Semantic checks across jobs are <see cref="WorkflowValidator"/>'s.</summary>
public sealed class WorkflowParser
{
    private static readonly string[] WorkflowKeys = ["name", "run-name", "on", "env", "defaults", "jobs", "permissions", "concurrency"];
    private static readonly string[] JobKeys =
        ["name", "needs", "runs-on", "env", "defaults", "timeout-minutes", "continue-on-error", "if", "strategy", "outputs", "steps", "permissions", "concurrency", "services"];
    private static readonly string[] StepKeys =
        ["id", "name", "run", "shell", "uses", "with", "env", "working-directory", "if", "continue-on-error", "timeout-minutes"];
    private static readonly string[] ServiceKeys = ["image", "env", "ports", "options"];
    private static readonly string[] UnsupportedServiceKeys = ["credentials", "volumes"];
    private static readonly string[] UnsupportedJobKeys = ["container", "environment", "uses", "with", "secrets"];

    private readonly string _file;
    private readonly List<WorkflowError> _errors = [];

    private WorkflowParser(string file) => _file = file;

    public static WorkflowFile ParseFile(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses and validates; throws <see cref="WorkflowException"/> listing every problem.</summary>
    public static WorkflowFile Parse(string yaml, string fileName)
    {
        var parser = new WorkflowParser(fileName);
        var workflow = parser.ParseDocument(yaml);
        if (workflow is not null)
            parser._errors.AddRange(WorkflowValidator.Validate(workflow));
        if (parser._errors.Count > 0)
            throw new WorkflowException(parser._errors);
        return workflow!;
    }

    private WorkflowFile? ParseDocument(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            _errors.Add(new WorkflowError(new SourceLocation(_file, (int)e.Start.Line, (int)e.Start.Column), "(yaml)", e.InnerException?.Message ?? e.Message));
            return null;
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            _errors.Add(new WorkflowError(new SourceLocation(_file, 1, 1), "(document)", "a workflow file must be one YAML mapping with a 'jobs' key"));
            return null;
        }
        CheckKeys(root, WorkflowKeys, [], "");
        var jobsNode = Child(root, "jobs");
        var jobs = new List<JobDefinition>();
        if (jobsNode is null)
            Error(root, "jobs", "missing: a workflow needs at least one job");
        else if (jobsNode is not YamlMappingNode jobsMap || jobsMap.Children.Count == 0)
            Error(jobsNode, "jobs", "must be a mapping of job ids to jobs, with at least one job");
        else
        {
            foreach (var (key, value) in jobsMap.Children)
            {
                var id = ((YamlScalarNode)key).Value ?? "";
                if (!IsValidId(id))
                    Error(key, $"jobs.{id}", "a job id must start with a letter or '_' and contain only letters, digits, '-' and '_'");
                if (value is not YamlMappingNode job)
                    Error(value, $"jobs.{id}", "must be a mapping");
                else
                    jobs.Add(ParseJob(id, job, key));
            }
        }
        return new WorkflowFile
        {
            Path = _file,
            Name = Scalar(root, "name", ""),
            On = ParseOn(Child(root, "on")),
            Env = StringMap(root, "env", ""),
            Defaults = ParseDefaults(root, ""),
            Jobs = jobs,
        };
    }

    private JobDefinition ParseJob(string id, YamlMappingNode job, YamlNode keyNode)
    {
        var path = $"jobs.{id}";
        CheckKeys(job, JobKeys, UnsupportedJobKeys, path);
        var steps = new List<StepDefinition>();
        var stepsNode = Child(job, "steps");
        if (stepsNode is null)
            Error(job, path + ".steps", "missing: a job needs steps (reusable workflows, 'uses:' on a job, are not supported)");
        else if (stepsNode is not YamlSequenceNode seq || seq.Children.Count == 0)
            Error(stepsNode, path + ".steps", "must be a list of at least one step");
        else
        {
            for (var i = 0; i < seq.Children.Count; i++)
            {
                if (seq.Children[i] is YamlMappingNode step)
                    steps.Add(ParseStep(step, i, $"{path}.steps[{i}]"));
                else
                    Error(seq.Children[i], $"{path}.steps[{i}]", "must be a mapping with 'run' or 'uses'");
            }
        }
        return new JobDefinition
        {
            Id = id,
            Location = Loc(keyNode),
            Name = Scalar(job, "name", path),
            Needs = StringOrList(job, "needs", path),
            RunsOn = StringOrList(job, "runs-on", path),
            Env = StringMap(job, "env", path),
            Defaults = ParseDefaults(job, path),
            TimeoutMinutes = PositiveNumberOrTemplate(job, "timeout-minutes", path),
            ContinueOnError = BoolOrTemplate(job, "continue-on-error", path),
            If = Scalar(job, "if", path),
            Strategy = ParseStrategy(job, path),
            Outputs = StringMap(job, "outputs", path),
            Services = ParseServices(job, path),
            Steps = steps,
        };
    }

    private StepDefinition ParseStep(YamlMappingNode step, int index, string path)
    {
        CheckKeys(step, StepKeys, [], path);
        var run = Scalar(step, "run", path);
        var uses = Scalar(step, "uses", path);
        if (run is null == uses is null)
            Error(step, path, run is null ? "a step needs 'run' or 'uses'" : "a step has either 'run' or 'uses', not both");
        if (uses is not null && !BuiltinActions.IsSupported(uses))
            Error(Child(step, "uses")!, path + ".uses", $"action '{uses}' is not supported: this runner implements only {string.Join(", ", BuiltinActions.Names)}");
        var shell = Scalar(step, "shell", path);
        if (shell is not null && uses is not null)
            Error(Child(step, "shell")!, path + ".shell", "applies to 'run' steps only");
        if (shell is not null && !ShellCommand.IsSupported(shell))
            Error(Child(step, "shell")!, path + ".shell", $"'{shell}' is not supported: use {string.Join(", ", ShellCommand.Names)}, or a command line with {{0}}");
        var id = Scalar(step, "id", path);
        if (id is not null && !IsValidId(id))
            Error(Child(step, "id")!, path + ".id", $"'{id}' must start with a letter or '_' and contain only letters, digits, '-' and '_'");
        if (Child(step, "with") is { } with && uses is null)
            Error(with, path + ".with", "applies to 'uses' steps only");
        return new StepDefinition
        {
            Location = Loc(step),
            Index = index,
            Id = id,
            Name = Scalar(step, "name", path),
            Run = run,
            Shell = shell,
            Uses = uses,
            With = StringMap(step, "with", path),
            Env = StringMap(step, "env", path),
            WorkingDirectory = Scalar(step, "working-directory", path),
            If = Scalar(step, "if", path),
            ContinueOnError = BoolOrTemplate(step, "continue-on-error", path),
            TimeoutMinutes = PositiveNumberOrTemplate(step, "timeout-minutes", path),
        };
    }

    private List<ServiceDefinition> ParseServices(YamlMappingNode job, string path)
    {
        var services = new List<ServiceDefinition>();
        if (Child(job, "services") is not { } node)
            return services;
        path += ".services";
        if (node is not YamlMappingNode map)
        {
            Error(node, path, "must be a mapping of service labels to services");
            return services;
        }
        foreach (var (keyNode, value) in map.Children)
        {
            var label = (keyNode as YamlScalarNode)?.Value ?? "";
            var p = $"{path}.{label}";
            // The label is the service's host name in the job's /etc/hosts.
            if (label.Length is 0 or > 63 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') || label[0] == '-')
                Error(keyNode, p, $"label '{label}' must be a host name: 1-63 letters, digits, '-' and '_', not starting with '-'");
            if (value is not YamlMappingNode service)
            {
                Error(value, p, "must be a mapping with 'image' (a service given only as an image name is not supported)");
                continue;
            }
            CheckKeys(service, ServiceKeys, UnsupportedServiceKeys, p);
            var image = Scalar(service, "image", p);
            if (string.IsNullOrWhiteSpace(image))
                Error(service, p + ".image", "missing: a service needs an image (NAME:TAG of the image store)");
            var ports = StringOrList(service, "ports", p);
            foreach (var port in ports.Where(port => !TemplateString.HasExpressions(port)))
            {
                ServicePort.Parse(port, out var error);
                if (error is not null)
                    Error(Child(service, "ports")!, p + ".ports", error);
            }
            var options = Scalar(service, "options", p);
            if (options is not null && !TemplateString.HasExpressions(options))
            {
                ServiceOptions.Parse(options, out var error);
                if (error is not null)
                    Error(Child(service, "options")!, p + ".options", error);
            }
            services.Add(new ServiceDefinition
            {
                Label = label, Location = Loc(keyNode), Image = image ?? "", Env = StringMap(service, "env", p), Ports = ports, Options = options,
            });
        }
        return services;
    }

    private MatrixStrategy? ParseStrategy(YamlMappingNode job, string path)
    {
        if (Child(job, "strategy") is not { } node)
            return null;
        path += ".strategy";
        if (node is not YamlMappingNode strategy)
        {
            Error(node, path, "must be a mapping with 'matrix'");
            return null;
        }
        CheckKeys(strategy, ["matrix", "fail-fast", "max-parallel"], [], path);
        var result = new MatrixStrategy
        {
            FailFast = BoolOrTemplate(strategy, "fail-fast", path) is not { } ff || !ff.Equals("false", StringComparison.OrdinalIgnoreCase),
            MaxParallel = PositiveNumberOrTemplate(strategy, "max-parallel", path) is { } mp && int.TryParse(mp, out var n) ? n : null,
        };
        switch (Child(strategy, "matrix"))
        {
            case null:
                Error(strategy, path + ".matrix", "missing");
                return result;
            case YamlScalarNode { Value: { } text } when TemplateString.IsSingleExpression(text):
                return result with { MatrixTemplate = text };
            case YamlMappingNode matrix:
                var value = ToValue(matrix);
                foreach (var (k, v) in value.Properties)
                {
                    var loc = matrix.Children.First(c => ((YamlScalarNode)c.Key).Value == k).Value;
                    if (k is "include" or "exclude")
                    {
                        if (v.Kind != ExprKind.Array || v.Items.Any(i => i.Kind != ExprKind.Object))
                            Error(loc, $"{path}.matrix.{k}", "must be a list of mappings");
                    }
                    else if (v.Kind != ExprKind.Array || v.Items.Count == 0)
                        Error(loc, $"{path}.matrix.{k}", "must be a non-empty list of values");
                }
                return result with { Matrix = value };
            case var other:
                Error(other, path + ".matrix", "must be a mapping of keys to value lists, or one ${{ }} expression");
                return result;
        }
    }

    private RunDefaults ParseDefaults(YamlMappingNode owner, string path)
    {
        var p = path.Length == 0 ? "defaults" : path + ".defaults";
        if (Child(owner, "defaults") is not { } node)
            return new RunDefaults();
        if (node is not YamlMappingNode defaults)
        {
            Error(node, p, "must be a mapping with 'run'");
            return new RunDefaults();
        }
        CheckKeys(defaults, ["run"], [], p);
        if (Child(defaults, "run") is not YamlMappingNode run)
            return new RunDefaults();
        CheckKeys(run, ["shell", "working-directory"], [], p + ".run");
        var shell = Scalar(run, "shell", p + ".run");
        if (shell is not null && !ShellCommand.IsSupported(shell))
            Error(Child(run, "shell")!, p + ".run.shell", $"'{shell}' is not supported: use {string.Join(", ", ShellCommand.Names)}, or a command line with {{0}}");
        return new RunDefaults(shell, Scalar(run, "working-directory", p + ".run"));
    }

    private List<string> ParseOn(YamlNode? node) => node switch
    {
        YamlScalarNode s => [s.Value ?? ""],
        YamlSequenceNode seq => seq.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? "").ToList(),
        YamlMappingNode map => map.Children.Keys.OfType<YamlScalarNode>().Select(s => s.Value ?? "").ToList(),
        _ => [],
    };

    // ---- helpers: every accessor reports a wrong shape at the value's own location ----

    private void CheckKeys(YamlMappingNode map, string[] allowed, string[] unsupported, string path)
    {
        foreach (var key in map.Children.Keys)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            var full = path.Length == 0 ? name : $"{path}.{name}";
            if (unsupported.Contains(name))
                Error(key, full, "is not supported by this runner (docs/ci.md lists the supported subset)");
            else if (!allowed.Contains(name))
                Error(key, full, $"unknown key; accepted here: {string.Join(", ", allowed)}");
        }
    }

    private static YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    private string? Scalar(YamlMappingNode map, string key, string path)
    {
        var node = Child(map, key);
        if (node is null) return null;
        if (node is YamlScalarNode s) return s.Value ?? "";
        Error(node, Join(path, key), "must be a single value (a string, number or boolean)");
        return null;
    }

    private List<string> StringOrList(YamlMappingNode map, string key, string path)
    {
        switch (Child(map, key))
        {
            case null: return [];
            case YamlScalarNode s: return [s.Value ?? ""];
            case YamlSequenceNode seq:
                var list = new List<string>();
                foreach (var item in seq.Children)
                {
                    if (item is YamlScalarNode i) list.Add(i.Value ?? "");
                    else Error(item, Join(path, key), "list items must be strings");
                }
                return list;
            case var other:
                Error(other, Join(path, key), "must be a string or a list of strings");
                return [];
        }
    }

    private List<KeyValuePair<string, string>> StringMap(YamlMappingNode map, string key, string path)
    {
        var node = Child(map, key);
        if (node is null) return [];
        if (node is not YamlMappingNode m)
        {
            Error(node, Join(path, key), "must be a mapping of names to values");
            return [];
        }
        var result = new List<KeyValuePair<string, string>>();
        foreach (var (k, v) in m.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            if (v is YamlScalarNode s)
                result.Add(KeyValuePair.Create(name, s.Value ?? ""));
            else
                Error(v, $"{Join(path, key)}.{name}", "must be a single value (a string, number or boolean)");
        }
        return result;
    }

    private string? BoolOrTemplate(YamlMappingNode map, string key, string path)
    {
        var text = Scalar(map, key, path);
        if (text is null || text is "true" or "false" || TemplateString.IsSingleExpression(text))
            return text;
        Error(Child(map, key)!, Join(path, key), $"'{text}' must be true, false or one ${{{{ }}}} expression");
        return null;
    }

    private string? PositiveNumberOrTemplate(YamlMappingNode map, string key, string path)
    {
        var text = Scalar(map, key, path);
        if (text is null || TemplateString.IsSingleExpression(text))
            return text;
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) && d > 0)
            return text;
        Error(Child(map, key)!, Join(path, key), $"'{text}' must be a positive number or one ${{{{ }}}} expression");
        return null;
    }

    /// <summary>A YAML node as an expression value: plain scalars typed as YAML 1.2's core schema (true/false, null,
    /// numbers), quoted scalars strings.</summary>
    internal static ExprValue ToValue(YamlNode node) => node switch
    {
        YamlScalarNode s when s.Style is ScalarStyle.Plain => PlainScalar(s.Value ?? ""),
        YamlScalarNode s => ExprValue.String(s.Value ?? ""),
        YamlSequenceNode seq => ExprValue.Array(seq.Children.Select(ToValue)),
        YamlMappingNode map => ExprValue.Object(map.Children.Select(c => KeyValuePair.Create((c.Key as YamlScalarNode)?.Value ?? "", ToValue(c.Value)))),
        _ => ExprValue.Null,
    };

    private static ExprValue PlainScalar(string text)
    {
        if (text is "true" or "True" or "TRUE") return ExprValue.True;
        if (text is "false" or "False" or "FALSE") return ExprValue.False;
        if (text is "" or "~" or "null" or "Null" or "NULL") return ExprValue.Null;
        var n = ExprValue.ParseNumber(text);
        return double.IsNaN(n) || text.Trim().Length == 0 ? ExprValue.String(text) : ExprValue.Number(n);
    }

    public static bool IsValidId(string id) =>
        id.Length > 0 && (char.IsAsciiLetter(id[0]) || id[0] == '_') && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    private SourceLocation Loc(YamlNode node) => new(_file, (int)node.Start.Line, (int)node.Start.Column);

    private void Error(YamlNode node, string key, string message) => _errors.Add(new WorkflowError(Loc(node), key, message));
}
