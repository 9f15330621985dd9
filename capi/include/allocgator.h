/* allocgator.h: liballocgator's own functions.
 *
 * liballocgator replaces the C allocation functions (malloc, calloc, realloc, free,
 * aligned_alloc, posix_memalign, memalign, valloc, pvalloc, malloc_usable_size,
 * reallocarray, free_sized, free_aligned_sized, cfree, malloc_trim and glibc's __libc_*
 * names) and every C++ operator new / operator delete; those keep their usual declarations
 * (<stdlib.h>, <malloc.h>, <new>). This header declares what it adds.
 *
 * Use it by LD_PRELOAD (LD_PRELOAD=/path/to/liballocgator.so program) or by linking
 * (cc prog.c -L/path/to -lallocgator). Environment: ALLOCGATOR_VERBOSE=1 prints the
 * statistics at exit; ALLOCGATOR_PURGE_DELAY_MS sets how long free memory stays committed.
 */
#ifndef ALLOCGATOR_H
#define ALLOCGATOR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Prints the engine's statistics (live blocks per size class, committed and reserved
 * bytes, pages by state) to stderr, without allocating. Any thread, any time. */
void allocgator_stats_print(void);

/* Gives free memory back to the OS now: the calling thread's empty pages, the huge-block
 * cache, and the heaps of threads that have exited. Any thread, any time. */
void allocgator_trim(void);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCGATOR_H */
