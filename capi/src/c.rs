//! The C allocation functions: C17/C23 (`malloc`, `calloc`, `realloc`, `free`, `aligned_alloc`,
//! `free_sized`, `free_aligned_sized`), POSIX (`posix_memalign`), and glibc's (`memalign`,
//! `valloc`, `pvalloc`, `malloc_usable_size`, `reallocarray`, `cfree`, `malloc_trim` and the
//! `__libc_*` aliases that glibc's own code calls).
//!
//! Where the C standard leaves room, glibc's behaviour is followed; where glibc differs between
//! versions, its current one (2.38 on).

use crate::{c_align, c_request, set_errno, C_SIZE_MAX};
use core::ffi::{c_int, c_void};
use core::ptr;
use engine::raw;

/// The page size, for `valloc` and `pvalloc`.
fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions and does not allocate.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// `p` as a C pointer, with `errno = ENOMEM` if it is null.
#[inline(always)]
fn or_enomem(p: *mut u8) -> *mut c_void {
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// `malloc`: `size` bytes, 16-byte aligned when over 8 bytes; `malloc(0)` is a unique block.
///
/// # Safety
/// None beyond C's: the block is the caller's until freed.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // Small sizes first: one compare stands for the size limit and the engine's own test for
    // its direct size table (a size up to `DIRECT_MAX` rounds up to at most `DIRECT_MAX`).
    if size <= raw::DIRECT_MAX {
        let (request, align) = c_request(size);
        // SAFETY: `DIRECT_MAX` is a multiple of 16, so rounding a size up to a multiple of 16
        // (or to 8) does not pass it.
        unsafe { core::hint::assert_unchecked(request <= raw::DIRECT_MAX) };
        return raw::alloc(request, align).cast();
    }
    malloc_big(size)
}

// What `malloc`'s small path relies on.
const _: () = assert!(raw::DIRECT_MAX % 16 == 0 && raw::DIRECT_MAX <= C_SIZE_MAX);

/// `malloc` past the direct size table: the size limit, then the engine.
#[inline(never)]
fn malloc_big(size: usize) -> *mut c_void {
    if size > C_SIZE_MAX {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    // The engine sets `errno = ENOMEM` itself when it finds no memory.
    let (request, align) = c_request(size);
    raw::alloc(request, align).cast()
}

/// `calloc`: `n * size` zeroed bytes; `NULL` with `ENOMEM` if the product overflows.
///
/// # Safety
/// None beyond C's.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    if total > C_SIZE_MAX {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    let (request, align) = c_request(total);
    raw::alloc_zeroed(request, align).cast()
}

/// `free`: gives a block back (from any thread); `free(NULL)` does nothing; `errno` is kept.
///
/// # Safety
/// `p` is null or a live block from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: null or a live block of ours (caller).
    unsafe { raw::free(p.cast()) }
}

/// `realloc`: resizes, keeping the contents; `realloc(NULL, n)` is `malloc(n)`, and
/// `realloc(p, 0)` frees `p` and returns `NULL` (glibc). On failure `NULL` with `ENOMEM`, and
/// the old block is untouched.
///
/// # Safety
/// `p` is null or a live block from this library; after a success only the result is used.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if size == 0 && !p.is_null() {
        // SAFETY: a live block of ours (caller), given up.
        unsafe { raw::free(p.cast()) };
        return ptr::null_mut();
    }
    // SAFETY: null or a live block of ours (caller). Every block this library hands out for
    // `size > 8` is 16-aligned, and one of 8 bytes or less never fits a larger request, so the
    // block is aligned to `c_align(size)` whenever the engine keeps it in place.
    or_enomem(unsafe { raw::realloc(p.cast(), size, c_align(size)) })
}

/// `reallocarray`: `realloc(p, n * size)`, with `NULL` and `ENOMEM` if the product overflows.
///
/// # Safety
/// As for [`realloc`].
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: `p` is null or a live block from this library (caller); `total` is the
        // product, checked for overflow.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// A block aligned to `align` (a power of two), at least 16-aligned when over 8 bytes.
#[inline]
fn aligned(align: usize, size: usize) -> *mut u8 {
    raw::alloc(size, align.max(c_align(size)))
}

/// `posix_memalign`: `EINVAL` unless `align` is a power of two and a multiple of
/// `sizeof(void *)`, `ENOMEM` if no memory; `*memptr` is set only on success.
///
/// # Safety
/// `memptr` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    if !align.is_power_of_two() || align % size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    let p = aligned(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: `memptr` is writable (caller).
    unsafe { *memptr = p.cast() };
    0
}

/// `aligned_alloc` (C11): `NULL` with `EINVAL` unless `align` is a power of two (glibc 2.38
/// on; `size` need not be a multiple of it).
///
/// # Safety
/// None beyond C's.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    or_enomem(aligned(align, size))
}

/// `memalign` (glibc): an alignment that is not a power of two is rounded up to the next one,
/// as glibc does; one too large for that (over half the address space) fails with `EINVAL`.
///
/// # Safety
/// None beyond C's.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    or_enomem(aligned(align, size))
}

/// `valloc`: `memalign(page size, size)`.
///
/// # Safety
/// None beyond C's.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    or_enomem(aligned(page_size(), size))
}

/// `pvalloc`: page-aligned, the size rounded up to whole pages (`pvalloc(0)` is one page).
///
/// # Safety
/// None beyond C's.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let page = page_size();
    let Some(rounded) = size.max(1).checked_next_multiple_of(page) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    or_enomem(aligned(page, rounded))
}

/// `malloc_usable_size`: the bytes usable in a block (at least what was asked for); 0 for
/// `NULL`.
///
/// # Safety
/// `p` is null or a live block from this library.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: null or a live block of ours (caller).
    unsafe { raw::usable_size(p.cast()) }
}

/// `cfree`: an old name of `free`.
///
/// # Safety
/// As for [`free`].
#[no_mangle]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: `p` is null or a live block from this library, not used afterwards (caller).
    unsafe { free(p) }
}

/// `free_sized` (C23): `free`; the size is not needed.
///
/// # Safety
/// As for [`free`]; C23 also asks that `size` be the size the block was allocated with.
#[no_mangle]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: `p` is null or a live block from this library, not used afterwards (caller).
    unsafe { free(p) }
}

/// `free_aligned_sized` (C23): `free`; alignment and size are not needed.
///
/// # Safety
/// As for [`free`]; C23 also asks that both be those the block was allocated with.
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: `p` is null or a live block from this library, not used afterwards (caller).
    unsafe { free(p) }
}

/// `malloc_trim` (glibc): gives free memory back to the OS now (see `allocgator_trim`);
/// returns 1, as glibc does when it released memory. The padding argument is ignored.
///
/// # Safety
/// None.
#[no_mangle]
pub unsafe extern "C" fn malloc_trim(_pad: usize) -> c_int {
    engine::trim();
    1
}

/// Defines glibc's `__libc_*` (and mimalloc's `__posix_memalign`) names for the functions
/// above: glibc's own code, and some programs, call them directly.
macro_rules! aliases {
    ($($alias:ident => $target:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?;)*) => {$(
        #[doc = concat!("`", stringify!($alias), "`: the same as [`", stringify!($target), "`].")]
        ///
        /// # Safety
        #[doc = concat!("As for [`", stringify!($target), "`].")]
        #[no_mangle]
        pub unsafe extern "C" fn $alias($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: the same contract as the function it names (caller).
            unsafe { $target($($arg),*) }
        }
    )*};
}

aliases! {
    __libc_malloc => malloc(size: usize) -> *mut c_void;
    __libc_calloc => calloc(n: usize, size: usize) -> *mut c_void;
    __libc_realloc => realloc(p: *mut c_void, size: usize) -> *mut c_void;
    __libc_free => free(p: *mut c_void);
    __libc_memalign => memalign(align: usize, size: usize) -> *mut c_void;
    __libc_valloc => valloc(size: usize) -> *mut c_void;
    __libc_pvalloc => pvalloc(size: usize) -> *mut c_void;
    __posix_memalign => posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int;
}
