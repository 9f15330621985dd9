/* Frees that are wrong, one per run (the mode is the first argument): each must abort with a
 * message naming the problem and the address, never corrupt the heap and carry on. Run by
 * tests/c_programs.rs, which checks the signal and the message. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The frees below are wrong on purpose. */
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *mode = argv[1];
    if (strcmp(mode, "foreign") == 0) {
        /* Mapped memory with no allocgator header at its 4 MiB boundary. */
        size_t seg = (size_t)4 << 20;
        unsigned char *m = mmap(NULL, 2 * seg, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 2;
        unsigned char *base = (unsigned char *)(((uintptr_t)m + seg - 1) & ~(uintptr_t)(seg - 1));
        memset(base, 0xAB, 4096);
        printf("%p\n", (void *)(base + 256));
        fflush(stdout);
        free(base + 256);
    } else if (strcmp(mode, "interior") == 0) {
        /* A pointer inside a huge block. */
        unsigned char *p = malloc(16 << 20);
        printf("%p\n", (void *)(p + 8192));
        fflush(stdout);
        free(p + 8192);
    } else if (strcmp(mode, "glibc") == 0) {
        /* A block glibc's own malloc handed out (as before the library was loaded). */
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        void *(*glibc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
        if (!glibc_malloc) return 2;
        void *p = glibc_malloc(64);
        printf("%p\n", p);
        fflush(stdout);
        free(p);
    } else if (strcmp(mode, "double") == 0) {
        void *keep = malloc(48); /* the page stays in use */
        void *p = malloc(48);
        printf("%p\n", p);
        fflush(stdout);
        free(p);
        free(p);
        free(keep);
    } else {
        return 2;
    }
    puts("no abort");
    return 0;
}
