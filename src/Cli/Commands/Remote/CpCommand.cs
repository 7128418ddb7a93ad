using System.CommandLine;
using System.Formats.Tar;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox cp SRC DST`, like docker cp: one side is SANDBOX:/path. Files keep their permission bits and missing
/// parent directories are made; directories travel as tar streams; `-` is a tar stream on stdin (into the sandbox) or
/// stdout (out of it). A destination that is an existing directory receives the source under its own name.</summary>
internal static class CpCommand
{
    private const int Chunk = 1 << 20;

    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "LOCALPATH, '-' (a tar on stdin) or SANDBOX:/path" };
        var target = new Argument<string>("target") { Description = "SANDBOX:/path, LOCALPATH or '-' (a tar on stdout)" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("cp", "Copy files or directories between a sandbox and this host") { socket };
        command.Arguments.Add(source);
        command.Arguments.Add(target);
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var (src, dst) = (parse.GetValue(source)!, parse.GetValue(target)!);
            try
            {
                if (Remote(dst) is { } to && Remote(src) is null)
                    return await InAsync(client, src, to.Id, to.Path, ct);
                if (Remote(src) is { } from && Remote(dst) is null)
                    return await OutAsync(client, from.Id, from.Path, dst, ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                StdStreams.Error($"cp: {e.Message}");
                return 1;
            }
            StdStreams.Error("cp: exactly one of source and target must be SANDBOX:/path (an absolute path inside the sandbox)");
            return ExitCodes.Usage;
        }));
        return command;
    }

    private static (string Id, string Path)? Remote(string arg)
    {
        var colon = arg.IndexOf(':');
        return colon > 0 && colon + 1 < arg.Length && arg[colon + 1] == '/' ? (arg[..colon], arg[(colon + 1)..]) : null;
    }

    private static async Task<FileEntry?> StatAsync(Sandboxes.SandboxesClient client, string id, string path, CancellationToken ct)
    {
        try
        {
            return await client.StatFileAsync(new StatFileRequest { SandboxId = id, Path = path }, cancellationToken: ct);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && e.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>()?.Reason == "FILE_NOT_FOUND")
        {
            return null;
        }
    }

    private static string Join(string dir, string name) => dir.TrimEnd('/') + "/" + name;

    private static string Parent(string path)
    {
        var trimmed = path.TrimEnd('/');
        var slash = trimmed.LastIndexOf('/');
        return slash <= 0 ? "/" : trimmed[..slash];
    }

    private static async Task<int> InAsync(Sandboxes.SandboxesClient client, string local, string id, string path, CancellationToken ct)
    {
        if (local == "-")
        {
            await using var stdin = StdStreams.OpenIn();
            await WriteArchiveAsync(client, id, path, stdin, ct);
            return 0;
        }
        var existing = await StatAsync(client, id, path, ct);
        if (Directory.Exists(local))
        {
            var into = existing?.Kind == FileEntry.Types.Kind.Directory ? Join(path, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(local)))) : path;
            using var tar = new MemoryStream();
            await TarFile.CreateFromDirectoryAsync(local, tar, includeBaseDirectory: false, ct);
            tar.Position = 0;
            await WriteArchiveAsync(client, id, into, tar, ct);
            return 0;
        }
        if (!File.Exists(local))
        {
            StdStreams.Error($"cp: {local}: no such file or directory");
            return 1;
        }
        var file = existing?.Kind == FileEntry.Types.Kind.Directory ? Join(path, Path.GetFileName(local)) : path;
        if (existing is null)
            await client.MakeDirectoryAsync(new MakeDirectoryRequest { SandboxId = id, Path = Parent(file) }, cancellationToken: ct);
        using var call = client.WriteFile(cancellationToken: ct);
        var mode = (uint)File.GetUnixFileMode(local) & 0x1ff;
        await call.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = id, Path = file, Mode = mode } }, ct);
        await using var input = File.OpenRead(local);
        var buffer = new byte[Chunk];
        int n;
        while ((n = await input.ReadAsync(buffer, ct)) > 0)
            await call.RequestStream.WriteAsync(new WriteFileRequest { Data = ByteString.CopyFrom(buffer, 0, n) }, ct);
        await call.RequestStream.CompleteAsync();
        await call;
        return 0;
    }

    private static async Task WriteArchiveAsync(Sandboxes.SandboxesClient client, string id, string path, Stream tar, CancellationToken ct)
    {
        // The archive unpacks into an existing parent only: make the directory and its parents first (mkdir -p).
        await client.MakeDirectoryAsync(new MakeDirectoryRequest { SandboxId = id, Path = path }, cancellationToken: ct);
        using var call = client.WriteArchive(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new WriteArchiveRequest { Header = new WriteArchiveHeader { SandboxId = id, Path = path } }, ct);
        var buffer = new byte[Chunk];
        int n;
        while ((n = await tar.ReadAsync(buffer, ct)) > 0)
            await call.RequestStream.WriteAsync(new WriteArchiveRequest { Data = ByteString.CopyFrom(buffer, 0, n) }, ct);
        await call.RequestStream.CompleteAsync();
        await call;
    }

    private static async Task<int> OutAsync(Sandboxes.SandboxesClient client, string id, string path, string local, CancellationToken ct)
    {
        var entry = await StatAsync(client, id, path, ct);
        if (entry is null)
        {
            StdStreams.Error($"cp: {id}:{path}: no such file or directory in the sandbox");
            return 1;
        }
        if (entry.Kind == FileEntry.Types.Kind.Directory)
        {
            using var tar = new MemoryStream();
            using (var call = client.ReadArchive(new ReadArchiveRequest { SandboxId = id, Path = path }, cancellationToken: ct))
            {
                while (await call.ResponseStream.MoveNext(ct))
                    call.ResponseStream.Current.Data.WriteTo(tar);
            }
            tar.Position = 0;
            if (local == "-")
            {
                await tar.CopyToAsync(StdStreams.Out, ct);
                return 0;
            }
            var into = Directory.Exists(local) ? Path.Combine(local, Path.GetFileName(path.TrimEnd('/'))) : local;
            Directory.CreateDirectory(into);
            await TarFile.ExtractToDirectoryAsync(tar, into, overwriteFiles: true, ct);
            return 0;
        }
        using var read = client.ReadFile(new ReadFileRequest { SandboxId = id, Path = path }, cancellationToken: ct);
        if (local == "-")
        {
            // docker cp's '-' is always a tar: one entry, the file under its own name, with its mode.
            using var content = new MemoryStream();
            while (await read.ResponseStream.MoveNext(ct))
                read.ResponseStream.Current.Data.WriteTo(content);
            content.Position = 0;
            await using var writer = new TarWriter(StdStreams.Out, TarEntryFormat.Pax, leaveOpen: true);
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, entry.Name) { Mode = (UnixFileMode)entry.Mode, DataStream = content }, ct);
            return 0;
        }
        var file = Directory.Exists(local) ? Path.Combine(local, entry.Name) : local;
        if (Path.GetDirectoryName(Path.GetFullPath(file)) is { } parent)
            Directory.CreateDirectory(parent);
        await using (var output = File.Create(file))
        {
            while (await read.ResponseStream.MoveNext(ct))
                read.ResponseStream.Current.Data.WriteTo(output);
        }
        File.SetUnixFileMode(file, (UnixFileMode)(entry.Mode & 0x1ff));
        return 0;
    }
}
