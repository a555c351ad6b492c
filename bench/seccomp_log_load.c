/* A sustained stream of real SECCOMP audit records for bench/agent_throughput.py --sustained:
   getppid() under a SECCOMP_RET_LOG filter (every call is one audit record), paced to RATE
   calls a second for SECONDS seconds. Prints "calls=N seconds=S".
   Usage: seccomp_log_load RATE SECONDS */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s RATE SECONDS\n", argv[0]);
        return 2;
    }
    double rate = atof(argv[1]), seconds = atof(argv[2]);
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_LOG),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("seccomp");
        return 1;
    }
    /* Pace in 1 ms slots: each slot makes the calls due by its end, then sleeps. */
    double start = now(), end = start + seconds;
    long calls = 0;
    for (;;) {
        double t = now();
        if (t >= end) break;
        long due = (long)((t - start + 0.001) * rate);
        for (long n = 0; calls < due && n < 1000; n++) { /* re-check the clock every 1000 calls */
            syscall(__NR_getppid);
            calls++;
        }
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    printf("calls=%ld seconds=%.3f\n", calls, now() - start);
    return 0;
}
