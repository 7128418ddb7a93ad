namespace Sandbox.Policy.Opa;

/// <summary>Where OPA located an error.</summary>
public sealed record OpaLocation(string File, int Row, int Col);

/// <summary>One entry of OPA's <c>errors</c> list.</summary>
public sealed record OpaErrorDetail(string Code, string Message, OpaLocation? Location);

/// <summary>An OPA error response (or a transport failure described the same way).</summary>
public sealed record OpaError(string Code, string Message, IReadOnlyList<OpaErrorDetail> Errors, string? DecisionId, int HttpStatusCode);

/// <summary>Thrown by <see cref="OpaClient"/> when OPA answers with an error, an undefined result where one is required, or not at all.</summary>
public sealed class OpaException(OpaError error, Exception? inner = null) : Exception($"{error.Code}: {error.Message}", inner)
{
    public OpaError Error { get; } = error;
}

/// <summary>A result with its details: defined or not, the decision id and the bundle revision (from provenance).</summary>
public sealed record OpaResult<T>(bool Defined, T? Result, string? DecisionId, string? Revision, string? WarningCode);

/// <summary>Options of <see cref="OpaClient"/>.</summary>
public sealed class OpaClientOptions
{
    /// <summary>Base URL of the OPA server. Default http://localhost:8181.</summary>
    public Uri ServerUrl { get; init; } = new("http://localhost:8181");
    /// <summary>Sent as <c>Authorization: Bearer</c> when set.</summary>
    public string? BearerToken { get; init; }
    /// <summary>Per-attempt timeout. Default 5 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Retries on 429/500/502/503/504 (and connection failures); 0 = none (default).</summary>
    public int MaxRetries { get; init; }
    /// <summary>First backoff delay, doubled per retry. Default 100 ms.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Asks OPA to report builtin errors (<c>strict-builtin-errors</c>). Default true (fail closed).</summary>
    public bool StrictBuiltinErrors { get; init; } = true;
    /// <summary>Asks OPA for provenance (bundle revision). Default true.</summary>
    public bool Provenance { get; init; } = true;
    /// <summary>Largest response body accepted, bytes. Default 16 MiB.</summary>
    public long MaxResponseBytes { get; init; } = 16 << 20;
}
