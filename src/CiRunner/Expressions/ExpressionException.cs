namespace Sandbox.CiRunner.Expressions;

/// <summary>An expression that does not parse or cannot be evaluated; the message quotes the expression and says
/// what was expected.</summary>
public sealed class ExpressionException : Exception
{
    public ExpressionException(string message) : base(message) { }
    public ExpressionException() : this("invalid expression") { }
    public ExpressionException(string message, Exception inner) : base(message, inner) { }
}
