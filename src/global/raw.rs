//! The global path without `Layout`s: allocate by size and alignment, free and resize without
//! knowing the block's layout, ask a block's usable size.
//!
//! These are the entry points a C ABI needs (`liballocgator.so` is built on them), and they
//! suit any code that keeps raw pointers without their layouts. Blocks are the global path's:
//! a block from [`alloc`] may be freed with `GlobalAlloc::dealloc` on [`Allocgator`] and the
//! other way round, from any thread.
//!
//! Every function here is safe to call with any size and alignment: a request that no block
//! can satisfy (an alignment that is not a power of two, a size that does not fit `isize`
//! once rounded up, memory the OS refuses) returns null. When the engine itself finds no
//! memory it also sets `errno` to `ENOMEM`, as C's `malloc` does, and freeing never changes
//! `errno`.
//!
//! ```
//! use allocgator::raw;
//!
//! let p = raw::alloc(100, 16);
//! assert!(!p.is_null() && p as usize % 16 == 0);
//! // SAFETY: `p` is a live block of the global path, at least 100 bytes long.
//! unsafe {
//!     assert!(raw::usable_size(p) >= 100);
//!     p.write_bytes(7, 100);
//!     let q = raw::realloc(p, 10_000, 16); // `p` is gone once this succeeds
//!     assert!(!q.is_null() && *q.add(99) == 7);
//!     raw::free(q);
//! }
//! assert!(raw::alloc(64, 3).is_null()); // not a power of two
//! ```
//!
//! [`Allocgator`]: crate::Allocgator

use super::{alloc_block, free_block, realloc_block};
use crate::engine::heap::Heap;

/// The largest size whose blocks come from the heap's direct size table, the shortest path
/// through [`alloc`]: a request whose size, rounded up to its alignment, is at most this many
/// bytes finds its page with one load. A caller that tests its size
/// against this first (as `liballocgator`'s `malloc` does) lets the compiler drop the
/// size-limit check of larger requests from that path.
///
/// ```
/// use allocgator::raw;
///
/// let size = 100;
/// assert!(size <= raw::DIRECT_MAX);
/// let p = raw::alloc(size, 8);
/// assert!(!p.is_null());
/// // SAFETY: a live block of the global path, freed once.
/// unsafe { raw::free(p) };
/// ```
pub const DIRECT_MAX: usize = crate::engine::size_class::DIRECT_MAX;

/// Whether `size` bytes at alignment `align` form a valid layout: `align` a power of two and
/// `size` rounded up to it within `isize::MAX`. With a constant `align` this is one compare.
#[inline(always)]
fn valid(size: usize, align: usize) -> bool {
    align.is_power_of_two() && size <= isize::MAX as usize - (align - 1)
}

/// Allocates `size` bytes aligned to `align` from the calling thread's heap; null if no block
/// can be had (see the [module docs](self)). A `size` of 0 gives a unique, freeable block.
///
/// ```
/// let p = allocgator::raw::alloc(0, 8);
/// assert!(!p.is_null());
/// // SAFETY: a live block of the global path, freed once.
/// unsafe { allocgator::raw::free(p) };
/// assert!(allocgator::raw::alloc(usize::MAX, 8).is_null());
/// ```
#[inline(always)]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if !valid(size, align) {
        return core::ptr::null_mut();
    }
    // SAFETY: a valid layout, checked above.
    unsafe { alloc_block(size, align, false) }
}

/// As [`alloc`], and every usable byte of the block reads as zero.
///
/// ```
/// let p = allocgator::raw::alloc_zeroed(4096, 64);
/// // SAFETY: a live block of at least 4096 bytes, freed once.
/// unsafe {
///     assert!(core::slice::from_raw_parts(p, 4096).iter().all(|&b| b == 0));
///     allocgator::raw::free(p);
/// }
/// ```
#[inline(always)]
pub fn alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    if !valid(size, align) {
        return core::ptr::null_mut();
    }
    // SAFETY: a valid layout, checked above.
    unsafe { alloc_block(size, align, true) }
}

/// Frees a block of the global path, from any thread, without its layout. Null is ignored.
///
/// A pointer allocgator never returned is reported and the process aborts where the engine
/// checks headers (a pointer whose 4 MiB-aligned segment is mapped but not ours, a pointer
/// inside a huge block); with the `checked` feature every double, foreign or interior free is.
///
/// # Safety
/// `p` is null or a live block of the global path ([`alloc`], [`realloc`], or `GlobalAlloc`
/// on [`Allocgator`](crate::Allocgator)), not used afterwards.
///
/// ```
/// // SAFETY: null is always accepted.
/// unsafe { allocgator::raw::free(core::ptr::null_mut()) };
/// ```
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    if !p.is_null() {
        // SAFETY: a live block of the global path (caller).
        unsafe { free_block(p) }
    }
}

/// The usable size of a live block: at least what was asked for, and all of it may be written.
/// 0 for null.
///
/// # Safety
/// `p` is null or a live block of the global path.
///
/// ```
/// let p = allocgator::raw::alloc(33, 8);
/// // SAFETY: a live block of the global path.
/// unsafe {
///     assert_eq!(allocgator::raw::usable_size(p), 40); // its size class
///     allocgator::raw::free(p);
/// }
/// ```
#[inline]
pub unsafe fn usable_size(p: *const u8) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: a live block of the engine (caller).
    unsafe { Heap::usable_size(p.cast_mut()) }
}

/// Resizes a block to `new_size` bytes aligned to `align`, keeping its contents up to the
/// smaller of the two sizes: in place when the block already fits (or, for large and huge
/// blocks, can grow where it is), else by allocating, copying and freeing. On failure (null)
/// the block is untouched and still live. A null `p` allocates.
///
/// # Safety
/// `p` is null or a live block of the global path, aligned to `align`, that the caller holds;
/// on success it is freed (or returned) and not used again through the old pointer.
///
/// ```
/// let p = allocgator::raw::alloc(16, 8);
/// // SAFETY: a live block; after a successful realloc only the new pointer is used.
/// unsafe {
///     p.write(42);
///     let q = allocgator::raw::realloc(p, 1 << 20, 8);
///     assert_eq!(q.read(), 42);
///     allocgator::raw::free(q);
/// }
/// ```
#[inline]
pub unsafe fn realloc(p: *mut u8, new_size: usize, align: usize) -> *mut u8 {
    if p.is_null() {
        return alloc(new_size, align);
    }
    if !valid(new_size, align) {
        return core::ptr::null_mut();
    }
    // SAFETY: a live block we hold, aligned to `align` (caller), with `usable_size` bytes; a
    // valid layout, checked above.
    unsafe { realloc_block(p, Heap::usable_size(p), new_size, align) }
}
