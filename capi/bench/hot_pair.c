/* A malloc+free pair in a hot loop, for instruction counts under callgrind: run it with N1
 * and N2 pairs and divide the difference of the totals by N2 - N1 (start-up cancels out).
 * Usage: hot_pair PAIRS SIZE [SIZE...]   (sizes are cycled through). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PAIRS SIZE [SIZE...]\n", argv[0]);
        return 2;
    }
    long pairs = atol(argv[1]);
    int nsizes = argc - 2;
    size_t sizes[64];
    for (int i = 0; i < nsizes && i < 64; i++) sizes[i] = (size_t)atol(argv[i + 2]);
    if (nsizes > 64) nsizes = 64;
    /* One block kept live per size, so no page empties on the way. */
    void *keep[64];
    for (int i = 0; i < nsizes; i++) keep[i] = malloc(sizes[i]);
    unsigned long sum = 0;
    int k = 0;
    for (long i = 0; i < pairs; i++) {
        char *p = malloc(sizes[k]);
        p[0] = (char)i; /* touch it, so the pair cannot be optimised away */
        sum += (unsigned char)p[0];
        free(p);
        if (++k == nsizes) k = 0;
    }
    for (int i = 0; i < nsizes; i++) free(keep[i]);
    printf("%lu\n", sum);
    return 0;
}
