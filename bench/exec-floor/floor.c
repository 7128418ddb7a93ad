// The floor under the Exec round trip on this host: posix_spawn a program and wait for it, from a native process,
// with nothing else on the path (no IPC, no cgroup, no confinement, no first stage). Prints p50/p95/min wall and the
// children's CPU per spawn. bench/exec-floor/run.sh builds it and runs it for `true` and for a static no-op.
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

static int compare(const void* a, const void* b)
{
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double ms(struct timeval t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; }

int main(int argc, char** argv)
{
    if (argc < 3) { fprintf(stderr, "usage: floor N PROGRAM [ARGS...]\n"); return 2; }
    int n = atoi(argv[1]);
    double* wall = malloc(n * sizeof(double));
    for (int i = -20; i < n; i++) { // 20 untimed first
        struct timespec a, b;
        pid_t pid;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (posix_spawn(&pid, argv[2], 0, 0, argv + 2, environ)) { perror(argv[2]); return 1; }
        waitpid(pid, 0, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (i >= 0) wall[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    }
    struct rusage r;
    getrusage(RUSAGE_CHILDREN, &r);
    qsort(wall, n, sizeof(double), compare);
    printf("%-20s p50 %6.2f ms   p95 %6.2f ms   min %5.2f ms   children's CPU %.2f ms per spawn\n", argv[2], wall[n / 2],
        wall[n * 95 / 100], wall[0], (ms(r.ru_utime) + ms(r.ru_stime)) / (n + 20));
    return 0;
}
