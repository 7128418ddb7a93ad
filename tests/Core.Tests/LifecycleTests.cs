using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary>The state machine: every pair of states is either in the expected table (allowed) or refused, and a
/// refused verb names the sandbox, its state and the verb.</summary>
public class LifecycleTests
{
    private static readonly HashSet<(SandboxState, SandboxState)> s_expected =
    [
        (SandboxState.Creating, SandboxState.Running),
        (SandboxState.Creating, SandboxState.Deleted),
        (SandboxState.Running, SandboxState.Paused),
        (SandboxState.Running, SandboxState.Stopping),
        (SandboxState.Running, SandboxState.Exited),
        (SandboxState.Running, SandboxState.Broken),
        (SandboxState.Paused, SandboxState.Running),
        (SandboxState.Paused, SandboxState.Stopping),
        (SandboxState.Paused, SandboxState.Exited),
        (SandboxState.Paused, SandboxState.Broken),
        (SandboxState.Exited, SandboxState.Stopping),
        (SandboxState.Broken, SandboxState.Stopping),
        (SandboxState.Broken, SandboxState.Exited),
        (SandboxState.Stopping, SandboxState.Deleted),
    ];

    public static TheoryData<SandboxState, SandboxState> AllPairs()
    {
        var data = new TheoryData<SandboxState, SandboxState>();
        foreach (var from in Enum.GetValues<SandboxState>())
        {
            foreach (var to in Enum.GetValues<SandboxState>())
                data.Add(from, to);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Every_transition_is_allowed_exactly_when_the_table_says_so(SandboxState from, SandboxState to)
    {
        Assert.Equal(s_expected.Contains((from, to)), SandboxLifecycle.CanTransition(from, to));
        var entry = EntryIn(from);
        if (s_expected.Contains((from, to)))
        {
            entry.Transition(to, "test");
            Assert.Equal(to, entry.State);
        }
        else
        {
            var e = Assert.Throws<SandboxStateException>(() => entry.Transition(to, "poke"));
            Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
            Assert.Equal(from, e.State);
            Assert.Equal(entry.Id, e.Id);
            Assert.Equal("poke", e.Verb);
            Assert.Contains(entry.Id.Value, e.Message, StringComparison.Ordinal);
            Assert.Contains(from.ToString().ToLowerInvariant(), e.Message, StringComparison.Ordinal);
            Assert.Equal(from, entry.State);
        }
    }

    [Fact]
    public void Deleted_is_terminal_and_every_state_reaches_it()
    {
        Assert.Empty(SandboxLifecycle.Next(SandboxState.Deleted));
        foreach (var state in Enum.GetValues<SandboxState>())
        {
            var seen = new HashSet<SandboxState> { state };
            var frontier = new Queue<SandboxState>([state]);
            while (frontier.TryDequeue(out var s))
            {
                foreach (var n in SandboxLifecycle.Next(s).Where(seen.Add))
                    frontier.Enqueue(n);
            }
            Assert.Contains(SandboxState.Deleted, seen);
        }
    }

    [Theory]
    [InlineData(SandboxState.Creating, false, false, false, false, false)]
    [InlineData(SandboxState.Running, true, true, false, true, true)]
    [InlineData(SandboxState.Paused, false, false, true, true, true)]
    [InlineData(SandboxState.Stopping, false, false, false, false, false)]
    [InlineData(SandboxState.Exited, false, false, false, false, true)]
    [InlineData(SandboxState.Broken, false, false, false, false, true)]
    [InlineData(SandboxState.Deleted, false, false, false, false, false)]
    public void Predicates(SandboxState state, bool exec, bool pause, bool resume, bool update, bool delete)
    {
        Assert.Equal(exec, SandboxLifecycle.CanExec(state));
        Assert.Equal(pause, SandboxLifecycle.CanPause(state));
        Assert.Equal(resume, SandboxLifecycle.CanResume(state));
        Assert.Equal(update, SandboxLifecycle.CanUpdate(state));
        Assert.Equal(delete, SandboxLifecycle.CanDelete(state));
    }

    /// <summary>An entry walked to <paramref name="state"/> through allowed transitions only.</summary>
    internal static SandboxEntry EntryIn(SandboxState state)
    {
        var entry = new SandboxEntry
        {
            Id = SandboxId.New(),
            Tenant = "acme",
            Labels = new Dictionary<string, string>(),
            CreatedAt = DateTimeOffset.UnixEpoch,
            Decision = FakePolicy.Allow(),
            Tier = SandboxTier.Container,
            MemoryMiB = 1,
        };
        SandboxState[] path = state switch
        {
            SandboxState.Creating => [],
            SandboxState.Running => [SandboxState.Running],
            SandboxState.Paused => [SandboxState.Running, SandboxState.Paused],
            SandboxState.Stopping => [SandboxState.Running, SandboxState.Stopping],
            SandboxState.Exited => [SandboxState.Running, SandboxState.Exited],
            SandboxState.Broken => [SandboxState.Running, SandboxState.Broken],
            SandboxState.Deleted => [SandboxState.Deleted],
            _ => throw new ArgumentOutOfRangeException(nameof(state)),
        };
        foreach (var s in path)
            entry.Transition(s, "setup");
        Assert.Equal(state, entry.State);
        return entry;
    }
}
