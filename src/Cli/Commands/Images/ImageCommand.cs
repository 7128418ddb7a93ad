using System.CommandLine;
using System.Text.Json;
using Sandbox.Isolation;
using Sandbox.Isolation.Images;
using Spectre.Console;

namespace Sandbox.Cli.Commands.Images;

/// <summary>`sandbox image import|pull|build|ls|inspect|rm`: the local image store (src/Isolation/Images). Progress
/// goes to stderr; what a script wants (an id, a table, JSON) to stdout.</summary>
public static class ImageCommand
{
    /// <summary>The store every face uses unless told otherwise (sandboxd's images.store_dir, the CLI's
    /// $SANDBOX_IMAGE_STORE or --store).</summary>
    public static readonly Option<string> Store = new("--store")
    {
        Description = "The image store directory (default $SANDBOX_IMAGE_STORE, else /var/cache/sandbox/images)",
        DefaultValueFactory = _ => ImageStoreLocation.Root,
        Recursive = true,
    };

    public static Command Create()
    {
        var image = new Command("image", "Images: import, pull or build root file systems that sandboxes run on (--image NAME:TAG)");
        image.Options.Add(Store);
        image.Subcommands.Add(Import());
        image.Subcommands.Add(Pull());
        image.Subcommands.Add(ImageBuildCommand.Create());
        image.Subcommands.Add(List());
        image.Subcommands.Add(Inspect());
        image.Subcommands.Add(Remove());
        return image;
    }

    private static Command Import()
    {
        var command = new Command("import", "Import an OCI layout directory, an OCI or `docker save` tarball, or a plain root file system tarball (tar, gzip, zstd)");
        var path = new Argument<string>("FILE|DIR");
        var name = new Option<string?>("--name") { Description = "NAME:TAG to give the image (default: the names the archive gives it)" };
        command.Arguments.Add(path);
        command.Options.Add(name);
        command.SetAction((parse, cancellationToken) => Run(parse, async (store, progress) =>
        {
            var record = await store.ImportAsync(Path.GetFullPath(parse.GetValue(path)!), parse.GetValue(name), progress, cancellationToken);
            Console.WriteLine(record.Id);
        }));
        return command;
    }

    private static Command Pull()
    {
        var command = new Command("pull", "Pull HOST[:PORT]/NAME[:TAG|@DIGEST] from an OCI registry (linux/amd64; digests verified)");
        var reference = new Argument<string>("REF");
        var name = new Option<string?>("--name") { Description = "NAME:TAG to give the image (default: REF)" };
        command.Arguments.Add(reference);
        command.Options.Add(name);
        command.SetAction((parse, cancellationToken) => Run(parse, async (store, progress) =>
        {
            var record = await store.PullAsync(parse.GetValue(reference)!, parse.GetValue(name), progress, cancellationToken);
            Console.WriteLine(record.Id);
        }));
        return command;
    }

    private static Command List()
    {
        var command = new Command("ls", "List the images in the store");
        command.SetAction((parse, _) => Run(parse, (store, _) =>
        {
            var table = new Table().Border(TableBorder.None).AddColumns("NAME", "ID", "ROOTFS", "SIZE", "IMPORTED");
            foreach (var r in store.List())
            {
                var id = ImageDigest.Parse(r.Id, "id").Short;
                var rootfs = ImageDigest.Parse(r.RootfsKey, "rootfs key").Short;
                foreach (var n in r.Names.DefaultIfEmpty("<none>"))
                    table.AddRow(Markup.Escape(n), id, rootfs, FormatSize(r.UnpackedBytes), r.ImportedAt.ToString("yyyy-MM-dd HH:mm"));
            }
            AnsiConsole.Write(table);
            return Task.CompletedTask;
        }, progress: false));
        return command;
    }

    private static Command Inspect()
    {
        var command = new Command("inspect", "Show an image's record as JSON (names, digests, rootfs key, config defaults)");
        var image = new Argument<string>("NAME|ID");
        command.Arguments.Add(image);
        command.SetAction((parse, _) => Run(parse, (store, _) =>
        {
            Console.WriteLine(JsonSerializer.Serialize(store.Get(parse.GetValue(image)!), ImageJson.Default.ImageRecord));
            return Task.CompletedTask;
        }, progress: false));
        return command;
    }

    private static Command Remove()
    {
        var command = new Command("rm", "Remove an image (its unpacked root and blobs go with the last image that uses them)");
        var images = new Argument<string[]>("NAME|ID") { Arity = ArgumentArity.OneOrMore };
        command.Arguments.Add(images);
        command.SetAction((parse, cancellationToken) => Run(parse, async (store, _) =>
        {
            foreach (var i in parse.GetValue(images)!)
                Console.WriteLine((await store.RemoveAsync(i, cancellationToken)).Id);
        }, progress: false));
        return command;
    }

    /// <summary>Opens the store, runs the verb with a progress line on stderr, maps engine errors to a message and 1.</summary>
    internal static async Task<int> Run(ParseResult parse, Func<ImageStore, IProgress<string>?, Task> verb, bool progress = true)
    {
        try
        {
            var store = new ImageStore(new ImageStoreOptions { Root = Path.GetFullPath(parse.GetValue(Store)!) });
            if (!progress)
            {
                await verb(store, null);
                return 0;
            }
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            await console.Status().StartAsync("starting", async context =>
            {
                var reporter = new Progress<string>(line =>
                {
                    context.Status(Markup.Escape(line.Length > 100 ? line[..100] + "…" : line));
                    if (!console.Profile.Capabilities.Interactive)
                        Console.Error.WriteLine(line);
                });
                await verb(store, reporter);
            });
            return 0;
        }
        catch (SandboxException e)
        {
            Console.Error.WriteLine($"sandbox: {e.Message}");
            return 1;
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"sandbox: {e.Message} (the image store is root's)");
            return 1;
        }
    }

    private static string FormatSize(long bytes) => bytes < 1 << 20 ? $"{bytes / 1024.0:0.#} KiB" : $"{bytes / 1048576.0:0.#} MiB";
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ImageRecord))]
internal sealed partial class ImageJson : System.Text.Json.Serialization.JsonSerializerContext;
