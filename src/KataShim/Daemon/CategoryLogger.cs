using Microsoft.Extensions.Logging;

namespace Sandbox.KataShim.Daemon;

/// <summary>An ILogger&lt;T&gt; over the shim's one logger (Core and the engine take typed loggers).</summary>
internal sealed class CategoryLogger<T>(ILogger inner) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        inner.Log(logLevel, eventId, state, exception, formatter);
}
