/* One heap attack per run (the mode is the first argument), for the hardened build's tests:
 * tests/attacks.rs runs this program under LD_PRELOAD=liballocgator.so and checks how each
 * ends (an abort naming the problem and the address the program printed, a fault on a guard
 * page, or, for the requests that must fail cleanly, a line starting with "ok").
 *
 * It is not linked with allocgator: like any program, it gets it by LD_PRELOAD. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

/* The frees and writes below are wrong on purpose. */
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

/* Sizes and offsets through a volatile, so the compiler neither folds nor rejects them. */
static volatile size_t opaque_zero = 0;
#define OPAQUE(x) ((x) + opaque_zero)

static int static_word;

static void announce(const void *p) {
    printf("%p\n", p);
    fflush(stdout);
}

/* Allocates blocks of `size` until the engine follows a corrupted link (it aborts first). */
static void allocate_many(size_t size) {
    for (int i = 0; i < 100000; i++) {
        void *volatile q = malloc(OPAQUE(size));
        (void)q;
    }
}

static void *free_it(void *p) {
    free(p);
    return NULL;
}

/* Frees `p` on a thread of its own (a thread that does not own the block). */
static void free_remotely(void *p) {
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *mode = argv[1];
    /* Neighbours, so the pages below stay in use. */
    void *keep[16];
    for (int i = 0; i < 16; i++) keep[i] = malloc(OPAQUE(48));

    if (strcmp(mode, "double_small") == 0) {
        char *p = malloc(OPAQUE(48));
        announce(p);
        free(p);
        free(p);
    } else if (strcmp(mode, "double_later") == 0) {
        /* A double free after other frees of the same page (not the last one freed). */
        char *p = malloc(OPAQUE(48));
        char *others[8];
        for (int i = 0; i < 8; i++) others[i] = malloc(OPAQUE(48));
        announce(p);
        free(p);
        for (int i = 0; i < 8; i++) free(others[i]);
        free(p);
    } else if (strcmp(mode, "double_large") == 0) {
        char *p = malloc(OPAQUE(200 << 10));
        announce(p);
        free(p);
        free(p);
    } else if (strcmp(mode, "double_huge") == 0) {
        char *p = malloc(OPAQUE(16 << 20));
        announce(p);
        free(p);
        free(p);
    } else if (strcmp(mode, "double_remote") == 0) {
        /* Freed twice by threads that do not own the block. */
        char *p = malloc(OPAQUE(48));
        announce(p);
        free_remotely(p);
        free_remotely(p);
    } else if (strcmp(mode, "stack") == 0) {
        char local[64];
        char *volatile p = local;
        announce(p);
        free(p);
    } else if (strcmp(mode, "global") == 0) {
        int *volatile p = &static_word;
        announce(p);
        free(p);
    } else if (strcmp(mode, "interior") == 0) {
        char *p = malloc(OPAQUE(64));
        announce(p + 16);
        free(p + OPAQUE(16));
    } else if (strcmp(mode, "misaligned") == 0) {
        char *p = malloc(OPAQUE(64));
        announce(p + 1);
        free(p + OPAQUE(1));
    } else if (strcmp(mode, "write_after_free") == 0) {
        /* The classic use after free: a freed block's first word overwritten, then the
         * allocations that would follow it. */
        char *p = malloc(OPAQUE(48));
        announce(p);
        free(p);
        memset(p, 0x41, OPAQUE(8));
        allocate_many(48);
    } else if (strcmp(mode, "overflow_1") == 0 || strcmp(mode, "overflow_8") == 0) {
        /* 200 bytes in a 224-byte class: the canary sits in the slack. */
        size_t by = mode[9] == '1' ? 1 : 8;
        char *p = malloc(OPAQUE(200));
        announce(p);
        memset(p, 0x41, OPAQUE(200 + by));
        free(p);
    } else if (strcmp(mode, "overflow_large") == 0 || strcmp(mode, "overflow_huge") == 0) {
        /* A linear overflow one byte past a large (200 KiB) or huge (16 MiB) block. */
        size_t size = mode[9] == 'l' ? 200 << 10 : 16 << 20;
        char *p = malloc(OPAQUE(size));
        size_t usable = malloc_usable_size(p);
        announce(p + usable);
        memset(p, 0x41, usable);
        puts("overflowing");
        fflush(stdout);
        ((volatile char *)p)[OPAQUE(usable)] = 0x41;
    } else if (strcmp(mode, "malloc_minus_8") == 0) {
        errno = 0;
        void *p = malloc(OPAQUE((size_t)-8));
        if (p != NULL || errno != ENOMEM) return 1;
        puts("ok: malloc(-8) is NULL with ENOMEM");
        return 0;
    } else if (strcmp(mode, "calloc_overflow") == 0) {
        errno = 0;
        void *p = calloc(OPAQUE(SIZE_MAX / 2), 4);
        if (p != NULL || errno != ENOMEM) return 1;
        puts("ok: calloc(SIZE_MAX / 2, 4) is NULL with ENOMEM");
        return 0;
    } else if (strcmp(mode, "malloc0_distinct") == 0) {
        void *ps[64];
        for (int i = 0; i < 64; i++) {
            ps[i] = malloc(OPAQUE(0));
            if (ps[i] == NULL) return 1;
            for (int j = 0; j < i; j++)
                if (ps[j] == ps[i]) return 1;
        }
        for (int i = 0; i < 64; i++) free(ps[i]);
        puts("ok: 64 malloc(0) pointers, all distinct");
        return 0;
    } else {
        return 2;
    }
    for (int i = 0; i < 16; i++) free(keep[i]);
    puts("not detected");
    return 0;
}
