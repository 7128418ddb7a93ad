/* Builds a seccomp filter with libseccomp from rules on stdin and writes libseccomp's BPF program to stdout, so that
 * compare.py can set it beside our compiler's program for the same profile.
 *
 * Input, one line each:  default ACTION  |  rule NR ACTION [IDX OP A B]...
 *   ACTION: a SECCOMP_RET_* value in hex (0x7fff0000 allow, 0x50001 errno(1), ...)
 *   OP: 1 ne, 2 lt, 3 le, 4 eq, 5 ge, 6 gt, 7 masked_eq (libseccomp's enum scmp_compare), A/B its datum_a/datum_b.
 * Build: cc -O2 -o libseccomp_build libseccomp_build.c -lseccomp     Run: libseccomp_build [OPTIMIZE] < rules > prog
 * OPTIMIZE: 1 (libseccomp's default, what runc and Docker get) or 2 (binary tree). */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char line[4096];
    scmp_filter_ctx ctx = NULL;
    int optimize = argc > 1 ? atoi(argv[1]) : 1;
    while (fgets(line, sizeof line, stdin)) {
        char *tok = strtok(line, " \n");
        if (tok == NULL) continue;
        if (strcmp(tok, "default") == 0) {
            ctx = seccomp_init((uint32_t)strtoul(strtok(NULL, " \n"), NULL, 0));
            if (ctx == NULL) { fprintf(stderr, "seccomp_init failed\n"); return 1; }
            /* as our filter: kill other architectures and x32 (libseccomp then emits its own x32 check) */
            seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
            if (optimize > 1 && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)optimize) != 0) {
                fprintf(stderr, "optimize level %d not supported\n", optimize); return 1;
            }
            continue;
        }
        int nr = atoi(strtok(NULL, " \n"));
        uint32_t action = (uint32_t)strtoul(strtok(NULL, " \n"), NULL, 0);
        struct scmp_arg_cmp args[6];
        unsigned count = 0;
        char *idx;
        while ((idx = strtok(NULL, " \n")) != NULL && count < 6) {
            args[count].arg = (unsigned)atoi(idx);
            args[count].op = (enum scmp_compare)atoi(strtok(NULL, " \n"));
            args[count].datum_a = strtoull(strtok(NULL, " \n"), NULL, 0);
            args[count].datum_b = strtoull(strtok(NULL, " \n"), NULL, 0);
            count++;
        }
        int rc = seccomp_rule_add_exact_array(ctx, action, nr, count, args);
        if (rc != 0) { fprintf(stderr, "rule for syscall %d: error %d\n", nr, rc); return 1; }
    }
    if (ctx == NULL || seccomp_export_bpf(ctx, 1) != 0) { fprintf(stderr, "export failed\n"); return 1; }
    seccomp_release(ctx);
    return 0;
}
