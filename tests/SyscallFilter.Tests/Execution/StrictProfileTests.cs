namespace Sandbox.SyscallFilter.Tests.Execution;

/// <summary>
/// The strict profile in the real kernel (through bwrap): the interpreters it was derived from run their usual work,
/// and what it leaves out fails with EPERM (EAFNOSUPPORT for sockets, ENOSYS for clone3) instead of running.
/// </summary>
[Trait("Category", "Privileged")]
public class StrictProfileTests
{
    private static readonly Lazy<BpfProgram> Strict = new(() => SeccompCompiler.Compile(SeccompProfiles.GetBuiltIn("strict")));

    private static void AssertRuns(Bwrap.Result result, string expectedStdout)
    {
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.Equal(expectedStdout, result.Stdout);
    }

    [BwrapFact(Needs = "/usr/bin/node")]
    public void Strict_RunsNode_FilesCryptoChildProcessesWorkersTimers()
    {
        const string script = """
            const fs = require("fs"), crypto = require("crypto"), cp = require("child_process");
            const { Worker } = require("worker_threads");
            fs.writeFileSync("/tmp/n.txt", "hello");
            console.log(fs.readFileSync("/tmp/n.txt", "utf8"), crypto.createHash("sha256").update("x").digest("hex").slice(0, 8));
            console.log(cp.execSync("echo child").toString().trim());
            new Worker("require('worker_threads').parentPort.postMessage(7)", { eval: true })
              .on("message", m => setTimeout(() => console.log("worker", m), 5));
            """;
        AssertRuns(Bwrap.Run(Strict.Value, "/usr/bin/node", "-e", script), "hello 2d711642\nchild\nworker 7\n");
    }

    [BwrapFact(Needs = "/usr/bin/gcc")]
    public void Strict_CompilesAndRunsC_WithThreads()
    {
        const string program = """
            #include <pthread.h>
            #include <stdio.h>
            static void *twice(void *a) { return (void *)(2 * (long)a); }
            int main(void) { pthread_t t; void *r; pthread_create(&t, 0, twice, (void *)21); pthread_join(t, &r); printf("%ld\n", (long)r); return 0; }
            """;
        var result = Bwrap.Run(Strict.Value, "/bin/sh", "-c",
            "cd /tmp && printf '%s\\n' \"$1\" > t.c && gcc -O2 -pthread -o t t.c && ./t", "sh", program);
        AssertRuns(result, "42\n");
    }

    [BwrapFact(Needs = "/usr/bin/make")]
    public void Strict_RunsMake_WhosePosixSpawnResetsIds()
    {
        var result = Bwrap.Run(Strict.Value, "/bin/sh", "-c",
            "cd /tmp && printf 'out: in\n\tcp in out\n' > Makefile && echo made > in && make -s && cat out");
        AssertRuns(result, "made\n");
    }

    [BwrapFact]
    public void Strict_RunsAShellPipeline_WithCoreutils()
    {
        const string script = """
            set -e; mkdir -p /tmp/d/e; cd /tmp/d; printf 'b\na\nb\n' | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' '
            echo x > f; cp f g; mv g h; ln -s h l; readlink l; chmod 600 h; touch h; ls -la >/dev/null
            tar czf /tmp/t.tgz -C /tmp d; tar tzf /tmp/t.tgz | wc -l; sleep 0.01 & wait; rm -rf /tmp/d; echo done
            """;
        AssertRuns(Bwrap.Run(Strict.Value, "/bin/sh", "-c", script), "1a 2b h\n5\ndone\n");
    }

    [BwrapFact]
    public void Strict_RunsPython_AsyncioAndSqlite()
    {
        const string script = """
            import asyncio, sqlite3
            async def main():
                p = await asyncio.create_subprocess_exec("/bin/echo", "sub", stdout=asyncio.subprocess.PIPE)
                out, _ = await p.communicate()
                return out.decode().strip()
            print(asyncio.run(main()))
            db = sqlite3.connect("/tmp/t.sqlite"); db.execute("create table t(x)"); db.execute("insert into t values (5)"); db.commit()
            print(db.execute("select sum(x) from t").fetchone()[0])
            """;
        AssertRuns(Bwrap.Run(Strict.Value, Bwrap.Python, "-c", script), "sub\n5\n");
    }

    [BwrapFact]
    public void Strict_DeniesWhatItLeavesOut()
    {
        // Each of these would succeed without the filter (in bwrap's user namespace, on a tmpfs /tmp).
        const string script = """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            def call(name, nr, *args):
                ctypes.set_errno(0)
                r = libc.syscall(nr, *args)
                print(name, r if r >= 0 else -ctypes.get_errno())
            open("/tmp/f", "w").close()
            call("memfd_create", 319, b"x", 0)
            call("inotify_init1", 294, 0)
            call("timer_create", 222, 1, None, ctypes.byref(ctypes.c_int()))
            call("fchown", 93, os.open("/tmp/f", os.O_RDONLY), os.getuid(), os.getgid())
            call("mknodat-fifo", 259, -100, b"/tmp/p", 0o10600, 0)
            call("setxattr", 188, b"/tmp/f", b"user.k", b"v", 1, 0)
            call("personality", 135, 0xffffffff)
            call("socket-inet", 41, 2, 1, 0)
            call("socket-inet-high-bits", 41, (1 << 32) | 2, 1, 0)
            call("socket-alg", 41, 38, 5, 0)
            call("clone3", 435, None, 0)
            call("unshare", 272, 0x10000000)
            call("io_uring_setup", 425, 1, None)
            call("ptrace", 101, 0, 0, 0, 0)
            """;
        var result = Bwrap.Run(Strict.Value, Bwrap.Python, "-c", script);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.Equal("""
            memfd_create -1
            inotify_init1 -1
            timer_create -1
            fchown -1
            mknodat-fifo -1
            setxattr -1
            personality -1
            socket-inet -97
            socket-inet-high-bits -97
            socket-alg -97
            clone3 -38
            unshare -1
            io_uring_setup -1
            ptrace -1

            """, result.Stdout);
    }
}
