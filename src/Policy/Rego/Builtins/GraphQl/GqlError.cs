namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>A parse or validation error as gqlparser words it, with the position OPA appends to the message.</summary>
internal sealed class GqlError(string message, (int Line, int Column) position) : Exception(message)
{
    public (int Line, int Column) Position { get; } = position;
}
