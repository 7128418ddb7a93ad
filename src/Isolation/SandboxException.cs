namespace Sandbox.Isolation;

/// <summary>The one exception type the engine throws for failures. <see cref="Code"/> says what kind of failure it
/// is; the message names the bad value, where it came from and what is accepted.</summary>
public class SandboxException : Exception
{
    public SandboxErrorCode Code { get; }

    public SandboxException(SandboxErrorCode code, string message, Exception? inner = null) : base(message, inner)
        => Code = code;

    public SandboxException() : this(SandboxErrorCode.Internal, "sandbox error") { }
    public SandboxException(string message) : this(SandboxErrorCode.Internal, message) { }
    public SandboxException(string message, Exception inner) : this(SandboxErrorCode.Internal, message, inner) { }
}

/// <summary>A spec failed validation; <see cref="Errors"/> lists every problem found in one pass.</summary>
public sealed class SpecValidationException : SandboxException
{
    public IReadOnlyList<string> Errors { get; }

    public SpecValidationException(IReadOnlyList<string> errors)
        : base(SandboxErrorCode.InvalidArgument, "invalid sandbox spec: " + string.Join("; ", errors))
        => Errors = errors;
}
