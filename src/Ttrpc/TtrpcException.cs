namespace Sandbox.Ttrpc;

/// <summary>
/// A ttrpc call failed with a status. Thrown by <see cref="TtrpcClient"/> for error responses and local failures
/// (UNAVAILABLE when the connection is gone); thrown by server handlers to answer with that status.
/// </summary>
public class TtrpcException : Exception
{
    public TtrpcException(StatusCode code, string message) : base(message)
    {
        Code = code;
        StatusMessage = message;
    }

    public TtrpcException(StatusCode code, string message, Exception? innerException) : base(message, innerException)
    {
        Code = code;
        StatusMessage = message;
    }

    public StatusCode Code { get; }

    /// <summary>The status message exactly as sent or received (also <see cref="Exception.Message"/>).</summary>
    public string StatusMessage { get; }

    public override string ToString() => $"{nameof(TtrpcException)}: {Code} ({(int)Code}): {StatusMessage}";
}

/// <summary>The peer broke the wire protocol (malformed frame or envelope). The connection is not trusted after it.</summary>
public sealed class TtrpcProtocolException : TtrpcException
{
    public TtrpcProtocolException(string message) : base(StatusCode.Internal, message) { }
    public TtrpcProtocolException(string message, Exception? inner) : base(StatusCode.Internal, message, inner) { }
}
