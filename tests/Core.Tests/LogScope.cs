using Microsoft.Extensions.Logging;

namespace Sandbox.Core.Tests;

/// <summary>A logger factory for one test that fails it (on dispose) when anything was logged at Error or above that
/// the test did not declare with <see cref="Expect"/>: an error Core logs is a bug unless the test provoked it.</summary>
internal sealed class LogScope : ILoggerFactory, ILoggerProvider
{
    private readonly List<(LogLevel Level, EventId Id, string Message)> _entries = [];
    private readonly HashSet<int> _expected = [];
    private readonly Lock _lock = new();

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message)> Entries
    {
        get
        {
            lock (_lock)
                return [.. _entries];
        }
    }

    /// <summary>Error logs with this event id are part of the test.</summary>
    public void Expect(int eventId) => _expected.Add(eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
        var unexpected = Entries.Where(e => e.Level >= LogLevel.Error && !_expected.Contains(e.Id.Id)).ToList();
        Assert.True(unexpected.Count == 0, "unexpected error logs: " + string.Join("; ", unexpected.Select(e => $"{e.Id.Id} {e.Message}")));
    }

    private sealed class Logger(LogScope scope) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (scope._lock)
                scope._entries.Add((logLevel, eventId, formatter(state, exception)));
        }
    }
}
