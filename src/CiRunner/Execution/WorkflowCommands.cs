namespace Sandbox.CiRunner.Execution;

/// <summary>The <c>::command k=v::data</c> lines a step prints (workflow-commands.md): <c>add-mask</c> registers a
/// value to mask from then on (the line itself is not shown); error/warning/notice are shown with their kind;
/// <c>stop-commands::TOKEN</c> … <c>::TOKEN::</c> turns processing off; the rest are shown as printed.</summary>
public sealed class WorkflowCommands(SecretMasker masker)
{
    private string? _stopToken;

    /// <summary>The line to show (masked), or null for none.</summary>
    public string? Process(string line)
    {
        var trimmed = line.TrimStart();
        if (!trimmed.StartsWith("::", StringComparison.Ordinal))
            return masker.Mask(line);
        var end = trimmed.IndexOf("::", 2, StringComparison.Ordinal);
        if (end < 0)
            return masker.Mask(line);
        var head = trimmed[2..end];
        var data = Unescape(trimmed[(end + 2)..]);
        var space = head.IndexOf(' ', StringComparison.Ordinal);
        var command = (space < 0 ? head : head[..space]).ToLowerInvariant();
        if (_stopToken is not null)
        {
            if (head == _stopToken && data.Length == 0) _stopToken = null;
            return masker.Mask(line);
        }
        switch (command)
        {
            case "add-mask":
                if (data.Length > 0) masker.Add(data);
                return null;
            case "stop-commands":
                _stopToken = data.Length > 0 ? data : null;
                return null;
            case "error" or "warning" or "notice":
                return masker.Mask($"{command}: {data}");
            case "debug":
                return null;
            default:
                return masker.Mask(line);
        }
    }

    private static string Unescape(string data) =>
        data.Replace("%0D", "\r", StringComparison.Ordinal).Replace("%0A", "\n", StringComparison.Ordinal).Replace("%25", "%", StringComparison.Ordinal);
}
