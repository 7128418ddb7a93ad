using Sandbox.SandboxApi.Tests;

namespace Sandbox.Cli.Tests;

/// <summary>One real sandboxd (in-process host, real engine and policy) for the CLI tests; root is tenant "acme".</summary>
public sealed class CliFixture : IAsyncLifetime
{
    public SandboxdServer Server { get; private set; } = null!;
    public string Socket => Server.SocketPath;

    public async Task InitializeAsync() => Server = await SandboxdServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition("cli", DisableParallelization = true)]
public sealed class CliCollection : ICollectionFixture<CliFixture>;
