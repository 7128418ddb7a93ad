// The floor under the container tier's Exec round trip through the agent's own spawn path, from a native process:
// what a native agent would cost. Per exec, as ProcessTable.Prepare and RunPrepared do it: four pipes, posix_spawn of
// the bundle's prepared first stage (sandbox-exec: SETSID, empty mask, every signal to default, the pipes as 0-3),
// then the request written to it (stdin none, the given uid:gid, cwd /, PATH's `true`), the request pipe closed, both
// output pipes read to EOF and the process reaped. The first stage confines itself (bounding set, securebits, ids,
// no_new_privs, capabilities) and execs `true`, as in a sandbox. Not here: sandboxd, the agent's IPC, the exec's cgroup,
// the sandbox's namespaces and seccomp filter. Run as root (the stage takes the workload's ids).
// Prints p50/p95/min wall of the whole exec (spawn to reaped, less the pause) and of its request part alone (request written to
// reaped: what an Exec waits for once its first stage was prepared), and the children's CPU per exec.
// A 2 ms pause between the spawn and the request (as between a sandbox's execs: its next first stage is prepared
// after each exec) lets the first stage reach its wait, so the request part is the request's alone.
// usage: stage-floor N SANDBOX-EXEC PROGRAM UID GID
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int compare(const void* a, const void* b)
{
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double ms(struct timeval t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void check(int ok, const char* what)
{
    if (!ok) { perror(what); exit(1); }
}

int main(int argc, char** argv)
{
    if (argc != 6) { fprintf(stderr, "usage: stage-floor N SANDBOX-EXEC PROGRAM UID GID\n"); return 2; }
    int n = atoi(argv[1]);
    const char* stage = argv[2];
    char payload[4096];
    // PreparedExec.Encode: stdin, uid, gid, nproc, cwd, path, argc, argv..., env...
    int size = snprintf(payload, sizeof payload, "0%c%s%c%s%c0%c/%c%s%c1%ctrue%cPATH=/usr/bin:/bin%c", 0, argv[4], 0, argv[5], 0, 0, 0,
        argv[3], 0, 0, 0, 0);
    double* whole = malloc(n * sizeof(double));
    double* request = malloc(n * sizeof(double));
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    char* stageArgv[] = { "sandbox-exec", 0 };
    char* noEnv[] = { 0 };
    for (int i = -20; i < n; i++) { // 20 untimed first
        int out[2], err[2], in[2], req[2];
        double a = now();
        check(!pipe2(out, O_CLOEXEC) && !pipe2(err, O_CLOEXEC) && !pipe2(in, O_CLOEXEC) && !pipe2(req, O_CLOEXEC), "pipe2");
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
        posix_spawn_file_actions_adddup2(&actions, req[0], 3);
        posix_spawn_file_actions_addchdir_np(&actions, "/");
        posix_spawnattr_setsigmask(&attr, &empty);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid;
        check(!posix_spawn(&pid, stage, &actions, &attr, stageArgv, noEnv), stage);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        close(out[1]), close(err[1]), close(in[0]), close(req[0]);
        struct timespec pause = { 0, 2000000 };
        nanosleep(&pause, 0);
        double b = now();
        check(write(req[1], payload, size) == size, "write");
        close(req[1]), close(in[1]);
        struct pollfd fds[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };
        for (int open = 2; open > 0;) {
            check(poll(fds, 2, -1) > 0, "poll");
            for (int f = 0; f < 2; f++) {
                char buf[256];
                if (fds[f].fd < 0 || !fds[f].revents) continue;
                if (read(fds[f].fd, buf, sizeof buf) <= 0) { close(fds[f].fd); fds[f].fd = -1; open--; }
            }
        }
        int status;
        check(waitpid(pid, &status, 0) == pid, "waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "the exec failed: status 0x%x\n", status); return 1; }
        double c = now();
        if (i >= 0) whole[i] = c - a - 2, request[i] = c - b;
    }
    struct rusage r;
    getrusage(RUSAGE_CHILDREN, &r);
    qsort(whole, n, sizeof(double), compare);
    qsort(request, n, sizeof(double), compare);
    printf("%s through %s: whole exec p50 %6.2f ms   p95 %6.2f ms   min %5.2f ms; from the request p50 %6.2f ms   p95 %6.2f ms   "
           "min %5.2f ms; children's CPU %.2f ms per exec\n", argv[3], stage, whole[n / 2], whole[n * 95 / 100], whole[0],
        request[n / 2], request[n * 95 / 100], request[0], (ms(r.ru_utime) + ms(r.ru_stime)) / (n + 20));
    return 0;
}
