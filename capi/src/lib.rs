//! # liballocgator
//!
//! The allocgator engine as a drop-in `malloc`: `liballocgator.so` (and `liballocgator.a`)
//! exports the C allocation functions, glibc's aliases and extensions, and every C++
//! `operator new`/`operator delete`, so any program — C, C++, Python, a Rust binary on
//! `System` — runs on the engine's per-thread heaps, by `LD_PRELOAD` or by linking:
//!
//! ```text
//! cargo build --release -p allocgator-capi
//! LD_PRELOAD=target/release/liballocgator.so python3 -c 'print(1)'
//! cc prog.c -Ltarget/release -lallocgator -o prog    # or link it
//! ```
//!
//! Every entry point is a thin layer over [`engine::raw`], the engine's global path by size
//! and alignment: the fast paths inline into `malloc` and `free`, and the thread's heap is
//! reached with the initial-exec TLS model (two instructions, no call; see the engine's
//! `tls-initial-exec` feature for what that means for `dlopen`).
//!
//! What a C program may rely on, as with glibc:
//! - `malloc(0)` returns a unique pointer that can be freed; `free(NULL)` does nothing;
//! - every block of 16 bytes or more is 16-byte aligned (blocks of 1 to 8 bytes are 8-aligned);
//! - every failure returns `NULL` with `errno = ENOMEM` (`posix_memalign` returns the code
//!   instead and leaves `*memptr` alone); `realloc` keeps the old block when it fails;
//! - `calloc` and `reallocarray` detect `n * size` overflow; `realloc(p, 0)` frees `p` and
//!   returns `NULL`; `free` preserves `errno`;
//! - `malloc_usable_size(p)` is at least the size asked for, and all of it may be written.
//!
//! Nothing here panics or unwinds into C. The one exception is C++'s own: a throwing
//! `operator new` that cannot get memory calls the program's `new_handler` and then throws
//! `std::bad_alloc`, as the C++ standard requires (see [`cxx`]).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod c;
pub mod cxx;
pub mod ext;

/// Sets the calling thread's `errno`.
#[cold]
#[inline(never)]
fn set_errno(code: libc::c_int) {
    // SAFETY: `__errno_location` returns the calling thread's `errno`, always valid.
    unsafe { *libc::__errno_location() = code };
}

/// The alignment a C program gets from `malloc(size)`: 16 bytes (glibc's `MALLOC_ALIGNMENT`,
/// what `max_align_t` needs) for every block of more than 8 bytes, 8 for smaller blocks (no
/// object of 8 bytes or less needs more).
#[inline(always)]
fn c_align(size: usize) -> usize {
    if size <= 8 {
        8
    } else {
        16
    }
}

/// The largest size [`c_size`] takes.
const C_SIZE_MAX: usize = isize::MAX as usize - 15;

/// The size `malloc(size)` asks the engine for, at alignment 8: 8 for 0 to 8 bytes, else
/// `size` rounded up to a multiple of 16. The engine's classes include every multiple of 16,
/// and a class's blocks are aligned to the largest power of two dividing its size (up to the
/// 64 KiB page), so this gives the alignment [`c_align`] promises with one rounding, not an
/// alignment check and a rounding. `size <= C_SIZE_MAX`.
#[inline(always)]
fn c_size(size: usize) -> usize {
    if size <= 8 {
        8
    } else {
        (size + 15) & !15
    }
}

/// The size and alignment `malloc(size)` asks the engine for: [`c_size`] at 8, or in the
/// hardened build the size itself at [`c_align`], so the engine knows where the request ends
/// and puts its canary there (the rounding to 16 would leave an overflow into the rounding
/// unnoticed). Both give the same block. At most `size` rounded up to 16.
#[inline(always)]
fn c_request(size: usize) -> (usize, usize) {
    if cfg!(feature = "hardened") {
        (size, c_align(size))
    } else {
        (c_size(size), 8)
    }
}
