namespace Sandbox.CiRunner.Workflow;

/// <summary>One problem in a workflow file: where, which key, and what is wrong (with what is accepted).</summary>
public sealed record WorkflowError(SourceLocation Location, string Key, string Message)
{
    public override string ToString() => $"{Location}: {Key}: {Message}";
}

/// <summary>A workflow file failed to parse or validate; <see cref="Errors"/> lists every problem found in one pass.</summary>
public sealed class WorkflowException : Exception
{
    public IReadOnlyList<WorkflowError> Errors { get; }

    public WorkflowException(IReadOnlyList<WorkflowError> errors)
        : base(string.Join(Environment.NewLine, errors)) => Errors = errors;

    public WorkflowException() : this([]) { }
    public WorkflowException(string message) : base(message) => Errors = [];
    public WorkflowException(string message, Exception inner) : base(message, inner) => Errors = [];
}
