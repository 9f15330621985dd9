/* Freed memory goes back to the OS without malloc_trim: a burst of about 600 MiB of small
 * blocks (4 Mi blocks of 16-256 bytes) is freed, then the program keeps allocating on the
 * fast paths ("busy"), sleeps ("idle"), or had run the burst on a thread that has exited
 * ("exited"). Prints "rss: peak= P after_1s= A after_2s= B" (bytes, from /proc/self/statm). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCKS (4u << 20)

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        perror("statm");
        exit(2);
    }
    fclose(f);
    return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *burst(void *out) {
    char **blocks = malloc(BLOCKS * sizeof *blocks);
    if (!blocks) exit(3);
    uint32_t x = 0x9e3779b9u;
    for (unsigned i = 0; i < BLOCKS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t size = 16 + x % 241;
        blocks[i] = malloc(size);
        if (!blocks[i]) exit(3);
        memset(blocks[i], (int)size, size);
    }
    *(size_t *)out = rss_bytes();
    for (unsigned i = 0; i < BLOCKS; i++) free(blocks[i]);
    free(blocks);
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "idle";
    size_t peak = 0;
    if (strcmp(mode, "exited") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, burst, &peak) != 0 || pthread_join(t, NULL) != 0) return 4;
    } else {
        burst(&peak);
    }
    double freed = now_s();
    size_t samples[2];
    volatile uintptr_t sink = 0;
    for (int i = 0; i < 2; i++) {
        double until = freed + i + 1;
        if (strcmp(mode, "busy") == 0) {
            while (now_s() < until) {
                for (int k = 0; k < 1000; k++) {
                    void *p = malloc(16);
                    sink += (uintptr_t)p;
                    free(p);
                }
            }
        } else {
            double left = until - now_s();
            if (left > 0) usleep((useconds_t)(left * 1e6));
        }
        samples[i] = rss_bytes();
    }
    printf("rss: peak= %zu after_1s= %zu after_2s= %zu\n", peak, samples[0], samples[1]);
    return 0;
}
