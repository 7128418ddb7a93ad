namespace Sandbox.E2E;

/// <summary>Tests that count host-wide things (our bwrap children, descriptors) run alone, so other tests'
/// sandboxes do not show up in their counts.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial";
}
