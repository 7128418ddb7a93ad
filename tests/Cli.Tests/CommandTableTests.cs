namespace Sandbox.Cli.Tests;

/// <summary>The CLI builds only the invoked command's subtree, found by the name in <see cref="CommandTable"/>: a name
/// there that differs from what its factory calls the command would make that command unreachable.</summary>
public sealed class CommandTableTests
{
    [Fact]
    public void Each_name_is_what_its_command_is_called()
    {
        foreach (var (name, create) in CommandTable.All)
            Assert.Equal(name, create().Name);
        Assert.Equal(CommandTable.All.Count, CommandTable.All.Select(c => c.Name).Distinct().Count());
    }
}
