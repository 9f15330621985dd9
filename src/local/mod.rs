//! Local allocators on the engine: [`Slab`], [`Pool`], [`SyncPool`] (and its
//! [`SyncPoolHandle`]), [`StaticPool`] (and its zero-sized [`StaticPoolHandle`]) and [`Arena`].
//!
//! Where their memory comes from:
//!
//! - a [`Slab`] *is* an engine heap of its own (`Heap::create`), so dropping it unmaps
//!   everything at once;
//! - [`Arena`] chunks, [`Pool`] / [`SyncPool`] chunks and the engine fallback for layouts a pool
//!   does not serve are ordinary blocks of the global engine, taken from the calling thread's
//!   heap (the one [`Allocgator`](crate::Allocgator) uses). That shares segments with the rest
//!   of the program (a small pool or arena costs one block, not a 4 MiB segment), makes a new
//!   arena cheap (its chunks are recycled engine pages), and lets a chunk be given back from
//!   any thread (the engine's remote-free path), which is what makes these types `Send`.
//!
//! Every front end implements the crate's `RawAllocator` and gets its `Allocator` impls from
//! `api::impl_allocator!`.
//!
//! Under `--cfg loom` only `free_stack` and `chunk_table` (the lock-free parts of
//! [`SyncPool`], which the loom models drive) are compiled: the rest uses the global path.
#![cfg_attr(loom, allow(unused_imports))]

#[cfg(not(loom))]
mod arena;
#[cfg(target_pointer_width = "64")]
pub(crate) mod chunk_table;
#[cfg(any(loom, not(feature = "checked")))]
pub(crate) mod claimable;
#[cfg(not(loom))]
mod free_link;
#[cfg(target_pointer_width = "64")]
pub(crate) mod free_stack;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
mod slab;
#[cfg(all(not(loom), target_pointer_width = "64"))]
mod static_pool;
#[cfg(not(loom))]
mod stats;
#[cfg(all(not(loom), target_pointer_width = "64"))]
mod sync_pool;
#[cfg(all(not(loom), not(feature = "checked"), target_pointer_width = "64"))]
mod thread_cache;

#[cfg(not(loom))]
pub use arena::{Arena, Checkpoint};
#[cfg(not(loom))]
pub use pool::Pool;
#[cfg(not(loom))]
pub use slab::Slab;
#[cfg(all(not(loom), target_pointer_width = "64"))]
pub use static_pool::{HasStaticPool, StaticPool, StaticPoolHandle};
#[cfg(not(loom))]
pub use stats::{ChunkInfo, LocalMap, LocalStats};
#[cfg(all(not(loom), target_pointer_width = "64"))]
pub use sync_pool::{SyncPool, SyncPoolHandle};

#[cfg(not(loom))]
use crate::api::RawAllocator;
#[cfg(not(loom))]
use crate::engine::heap::Heap;
#[cfg(not(loom))]
use crate::Allocgator;
#[cfg(not(loom))]
use core::alloc::Layout;
#[cfg(not(loom))]
use core::ptr;

/// Whether a new engine block for `size` bytes at `align` stays within `room` bytes of an
/// allocation limit (`usize::MAX`: no limit). The usable size is known before asking for
/// size-class and large blocks; for a huge block only the request is checked here, and the
/// caller checks the block's usable size after (a cached mapping may be larger).
#[cfg(not(loom))]
fn fits_limit(size: usize, align: usize, room: usize) -> bool {
    if room == usize::MAX {
        return true;
    }
    match crate::engine::size_class::fresh_usable(size, align) {
        Some(usable) => usable <= room,
        None => size <= room,
    }
}

/// A block of the global engine (the calling thread's heap); null on failure.
#[cfg(not(loom))]
#[inline]
fn engine_alloc(layout: Layout, zeroed: bool) -> *mut u8 {
    if layout.size() == 0 {
        return ptr::null_mut();
    }
    // SAFETY: a valid layout of non-zero size.
    unsafe { Allocgator.raw_alloc(layout, zeroed) }
}

#[cfg(not(loom))]
/// A block of the global engine and its usable length; null on failure.
#[inline]
fn engine_alloc_usable(layout: Layout) -> (*mut u8, usize) {
    let p = engine_alloc(layout, false);
    if p.is_null() {
        return (p, 0);
    }
    // SAFETY: a live engine block.
    (p, unsafe { Heap::usable_size(p) })
}

#[cfg(not(loom))]
/// Frees a block of the global engine, from any thread.
///
/// # Safety
/// `p` is a live engine block allocated by [`engine_alloc`] (or its callers) and not used
/// afterwards.
#[inline]
unsafe fn engine_free(p: *mut u8, layout: Layout) {
    // SAFETY: `p` is a live engine block, allocated by `engine_alloc` with `layout`, and not
    // used afterwards (caller).
    unsafe { Allocgator.raw_free(p, layout) }
}

#[cfg(not(loom))]
/// Gives a live engine block back; the engine needs no layout (unlike `engine_free`'s
/// `Allocator`-style signature), so callers whose layout varies by type share one code path.
///
/// # Safety
/// `p` is a live engine block the caller holds, given back once.
#[inline]
unsafe fn engine_free_block(p: *mut u8) {
    // SAFETY: a live block of the engine, given back once (caller).
    unsafe { crate::global::free_block(p) }
}

#[cfg(not(loom))]
/// Usable bytes of a live engine block.
///
/// # Safety
/// `p` is a live engine block.
#[inline]
unsafe fn engine_usable(p: *mut u8) -> usize {
    // SAFETY: `p` is a live engine block (caller).
    unsafe { Heap::usable_size(p) }
}

#[cfg(not(loom))]
/// Resizes a live engine block without copying (see `RawAllocator::raw_resize_in_place`).
///
/// # Safety
/// `p` is a live engine block the caller holds, fitting `old`.
#[inline]
unsafe fn engine_resize(p: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: `p` is a live engine block the caller holds, fitting `old`.
    unsafe { Allocgator.raw_resize_in_place(p, old, new_size) }
}

#[cfg(not(loom))]
/// Resizes a live engine block, moving it (contents copied or pages remapped) if it cannot
/// stay; null on failure, and the block is untouched.
///
/// # Safety
/// `p` is a live engine block the caller holds, fitting `old`; `new_size` is non-zero and,
/// rounded up to `old.align()`, fits an `isize`.
#[inline]
unsafe fn engine_realloc(p: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: `p` is a live engine block fitting `old`, and `new_size` a valid non-zero
    // size for `old.align()` (caller): `GlobalAlloc::realloc`'s contract.
    unsafe { core::alloc::GlobalAlloc::realloc(&Allocgator, p, old, new_size) }
}
