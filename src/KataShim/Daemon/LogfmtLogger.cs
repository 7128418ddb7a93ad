using Microsoft.Extensions.Logging;

namespace Sandbox.KataShim.Daemon;

/// <summary>Log lines in containerd's own format (`time=… level=… msg=…`) on a writer: the daemon's stderr, which is
/// the bundle's `log` FIFO that containerd copies into its own log.</summary>
internal sealed class LogfmtLogger(TextWriter writer, LogLevel minimum) : ILogger, ILoggerFactory, ILoggerProvider
{
    private readonly Lock _lock = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
            return;
        var message = formatter(state, exception);
        if (exception is not null)
            message += ": " + exception.Message;
        var level = logLevel switch
        {
            LogLevel.Trace or LogLevel.Debug => "debug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warning",
            _ => "error",
        };
        var line = $"time=\"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffffffZ}\" level={level} msg=\"{message.Replace("\"", "\\\"", StringComparison.Ordinal)}\" runtime=io.containerd.sandbox.v2";
        lock (_lock)
        {
            try
            {
                writer.WriteLine(line);
                writer.Flush();
            }
            catch (IOException)
            {
                // containerd gone (its end of the log FIFO closed): the line has nowhere to go.
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}
