using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>One sandbox Core knows about: who owns it, what the policy decided, what it really got, its state, and
/// the live engine object while it runs. The state changes only through <see cref="Transition"/>, which checks the
/// lifecycle table under the entry's lock.</summary>
public sealed class SandboxEntry
{
    private readonly Lock _lock = new();
    private SandboxState _state = SandboxState.Creating;

    public required SandboxId Id { get; init; }
    public required string Tenant { get; init; }
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>When the TTL reaper deletes it; changed by <see cref="SandboxService.SetExpiryAsync"/>.</summary>
    public DateTimeOffset? ExpiresAt { get; internal set; }
    public required PolicyDecision Decision { get; init; }
    public required SandboxTier Tier { get; init; }
    /// <summary>The memory limit counted against the tenant's quota, MiB.</summary>
    public required long MemoryMiB { get; init; }
    /// <summary>The config of the image it was made from (what an exec with an empty argv runs); null = no image.</summary>
    public Isolation.Images.ImageDefaults? ImageDefaults { get; init; }

    public SandboxState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    /// <summary>Why it stopped, exited or broke.</summary>
    public string? StateDetail { get; private set; }
    /// <summary>What the sandbox really got (set once it runs).</summary>
    public SandboxInfo? Info { get; internal set; }
    internal ISandbox? Sandbox { get; set; }
    /// <summary>The processes started through exec that are still running.</summary>
    public ExecTable Execs { get; } = new();
    internal IDisposable? Reservation { get; set; }

    /// <summary>Moves to <paramref name="to"/> if the lifecycle allows it from the current state; otherwise throws
    /// <see cref="SandboxStateException"/> naming <paramref name="verb"/>.</summary>
    public void Transition(SandboxState to, string verb, string? detail = null)
    {
        if (!TryTransition(to, detail, out var from))
            throw new SandboxStateException(Id, from, verb);
    }

    /// <summary>Moves to <paramref name="to"/> if allowed; <paramref name="from"/> is the state it was in.</summary>
    public bool TryTransition(SandboxState to, string? detail, out SandboxState from)
    {
        lock (_lock)
        {
            from = _state;
            if (!SandboxLifecycle.CanTransition(_state, to))
                return false;
            _state = to;
            if (detail is not null)
                StateDetail = detail;
            return true;
        }
    }

    /// <summary>The live sandbox, when the state allows <paramref name="verb"/> (checked with <paramref name="allows"/>).</summary>
    internal ISandbox Require(Func<SandboxState, bool> allows, string verb)
    {
        var state = State;
        return allows(state) && Sandbox is { } sandbox ? sandbox : throw new SandboxStateException(Id, state, verb);
    }
}
