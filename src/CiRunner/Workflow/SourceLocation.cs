namespace Sandbox.CiRunner.Workflow;

/// <summary>Where a value sits in a workflow file: 1-based line and column, as editors count them.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}
