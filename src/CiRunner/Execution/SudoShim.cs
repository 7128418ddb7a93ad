namespace Sandbox.CiRunner.Execution;

/// <summary>Passwordless <c>sudo</c>, as GitHub's hosted runners have it, because real workflows run
/// <c>sudo apt-get install ...</c>. A job's root is root inside its own sandbox (the first id of the sandbox's
/// unprivileged uid range, in its own user namespace; no host powers), and a setuid sudo could not work there anyway
/// (no_new_privs). So the shim, first on every step's PATH after $GITHUB_PATH, runs the command itself when the job
/// already is that root (jobs on a runner image), and otherwise says why it cannot, instead of pretending.
/// Accepted: sudo's harmless options (-E -H -n -S -k, --preserve-env[=...]), <c>-u root</c>, NAME=VALUE
/// assignments before the command (through env, as sudo allows).</summary>
public static class SudoShim
{
    public const string FileName = "sudo";

    public const string Script = """
        #!/bin/sh
        # sandbox ci: passwordless sudo inside the job's own sandbox (see SudoShim in src/CiRunner).
        while [ $# -gt 0 ]; do
          case "$1" in
            -E|-H|-n|-S|-k|--preserve-env|--preserve-env=*|--non-interactive|--stdin|--set-home) shift ;;
            -u|--user)
              if [ "$2" != root ] && [ "$2" != 0 ]; then echo "sudo (sandbox ci): only -u root is supported, not '$2'" >&2; exit 1; fi
              shift 2 ;;
            --) shift; break ;;
            -*) echo "sudo (sandbox ci): option '$1' is not supported (accepted: -E -H -n -S -k --preserve-env -u root)" >&2; exit 1 ;;
            *) break ;;
          esac
        done
        if [ $# -eq 0 ]; then echo "usage: sudo [-E] [-H] [-n] [-u root] [NAME=VALUE...] COMMAND [ARG...]" >&2; exit 1; fi
        if [ "$(id -u)" != 0 ]; then
          echo "sudo (sandbox ci): this job runs as uid $(id -u) without root in its sandbox; root inside is given to jobs on a runner image (debian:bookworm by default, or --runner-image LABEL=IMAGE), never on the host userland (LABEL=host)" >&2
          exit 1
        fi
        exec env "$@"

        """;
}
