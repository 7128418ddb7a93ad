using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

const string Usage = """
    usage: sandboxd [--config PATH] [--check-config] [--help] [--version]
      --config PATH    YAML configuration (default /etc/sandbox/sandboxd.yaml; a missing default file = built-in defaults)
      --check-config   validate the configuration and exit (0 = valid, 2 = invalid)
      --help           this text
      --version        the version, and exit
    sandboxd serves sandbox.v1 (gRPC) on a unix socket; see docs/sandboxd.md.
    """;
var configPath = SandboxdConfig.DefaultPath;
var explicitConfig = false;
var checkOnly = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--config" when i + 1 < args.Length: configPath = args[++i]; explicitConfig = true; break;
        case "--check-config": checkOnly = true; break;
        case "--help" or "-h":
            Console.WriteLine(Usage);
            return 0;
        case "--version":
            Console.WriteLine("sandboxd " + (typeof(SandboxdHost).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
                .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown"));
            return 0;
        default:
            await Console.Error.WriteLineAsync($"sandboxd: unknown argument '{args[i]}'\n{Usage}");
            return 64;
    }
}

SandboxdConfig config;
try
{
    config = explicitConfig || File.Exists(configPath) ? ConfigLoader.LoadFile(configPath) : ConfigLoader.Parse("", "(built-in defaults)");
}
catch (ConfigException e)
{
    await Console.Error.WriteLineAsync($"sandboxd: {e.Message}");
    return 2;
}
if (checkOnly)
{
    Console.WriteLine($"sandboxd: {configPath}: configuration is valid");
    return 0;
}

await using var app = SandboxdHost.Build(config);
await app.RunAsync();
return 0;
