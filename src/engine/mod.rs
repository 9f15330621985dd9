//! The per-thread slab engine.
//!
//! Layering (each layer calls only the ones below it):
//!
//! ```text
//! global / local allocators      thread-local heap, heap pool, Allocator impls
//!   heap, purge                  size-class queues, direct table, fast paths; purge ticks
//!     segment, huge              4 MiB aligned segments of 64 KiB slices; huge mappings
//!       page                     three free lists + the remote-free protocol
//!         size_class, os         the class table; reserve / decommit / release
//! ```
//!
//! A pointer finds its segment by masking (`(p - 1) & !(SEGMENT_SIZE - 1)`: the `- 1` lets
//! huge blocks aligned to a segment boundary keep their header in the segment-sized region
//! just before them) and its page through the segment's slice table.

#[cfg(all(feature = "hardened", not(loom)))]
pub(crate) mod canary;
pub(crate) mod checked;
#[cfg(all(feature = "hardened", not(loom)))]
pub(crate) mod hardened;
pub(crate) mod heap;
pub(crate) mod heap_pool;
pub(crate) mod huge;
pub(crate) mod map;
pub(crate) mod page;
pub(crate) mod purge;
pub(crate) mod segment;
#[cfg(segment_map)]
pub(crate) mod segment_map;
pub(crate) mod size_class;
pub(crate) mod stats;

/// log2 of the segment size.
pub(crate) const SEGMENT_SHIFT: usize = 22;
/// Segments are 4 MiB, aligned to 4 MiB.
pub(crate) const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
/// log2 of the slice size.
pub(crate) const SLICE_SHIFT: usize = 16;
/// Slices are 64 KiB: the unit pages are made of.
pub(crate) const SLICE_SIZE: usize = 1 << SLICE_SHIFT;
/// Slices per segment (slice 0 holds the segment header).
pub(crate) const SLICES: usize = SEGMENT_SIZE / SLICE_SIZE;
/// Largest request served from a page inside a segment; larger ones get their own mapping.
pub(crate) const LARGE_MAX: usize = SEGMENT_SIZE / 2;
/// Largest alignment served inside a segment.
pub(crate) const LARGE_ALIGN_MAX: usize = SEGMENT_SIZE / 2;
/// Largest alignment served at all (1 GiB); larger requests fail cleanly.
pub(crate) const ALIGN_MAX: usize = 1 << 30;

/// Bytes of the guard page the hardened build puts after every large and huge block (0 in
/// other builds): the OS page past the block's usable bytes, mapped without access, so a
/// linear overflow past the block faults at once.
pub(crate) const GUARD_PAGE: usize = if cfg!(all(feature = "hardened", not(loom))) {
    crate::os::OS_PAGE
} else {
    0
};

/// Whether a request of `rounded` bytes (already rounded up to `align`) aligned to `align` is
/// served by a large page inside a segment (else by a huge mapping of its own). A span at the
/// largest alignment starts at the segment's middle, so it has room for `LARGE_MAX` bytes
/// only without a guard page.
#[inline]
pub(crate) const fn fits_large(rounded: usize, align: usize) -> bool {
    rounded <= LARGE_MAX
        && align <= LARGE_ALIGN_MAX
        && (align < LARGE_ALIGN_MAX || rounded + GUARD_PAGE <= LARGE_MAX)
}

static_assertions::const_assert_eq!(SLICES, 64); // one u64 bitmap per segment
static_assertions::const_assert!(size_class::MEDIUM_PAGE_SLICES < SLICES);

/// A free block's link word (encoded in the hardened build: see [`hardened`]).
#[cfg(not(loom))]
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Block {
    #[cfg(not(feature = "hardened"))]
    next: *mut Block,
    #[cfg(feature = "hardened")]
    next: usize,
}

/// A free block's link word. Under loom it is a loom cell placed in the block, so the models
/// check that every link written by one thread is ordered before another thread reads it
/// (blocks in models must be large enough to hold it).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Block {
    next: loom::cell::UnsafeCell<*mut Block>,
}

impl Block {
    /// The link of a free block.
    ///
    /// # Safety
    /// `b` is a free block whose link was written by [`set_next`](Self::set_next).
    #[inline(always)]
    pub(crate) unsafe fn next(b: *mut Block) -> *mut Block {
        #[cfg(all(not(loom), not(feature = "hardened")))]
        // SAFETY: `b` is a free block whose link was written (caller): its first word is
        // readable and holds the link.
        return unsafe { (*b).next };
        #[cfg(all(not(loom), feature = "hardened"))]
        // SAFETY: `b` is a free block whose link was written (caller); its first word holds
        // the encoded link, checked as it is decoded.
        return hardened::decode(unsafe { (*b).next }, b);
        #[cfg(loom)]
        // SAFETY: the caller's promise.
        return unsafe { (*b).next.with(|p| *p) };
    }

    /// Writes the link of a block that is (becoming) free.
    ///
    /// # Safety
    /// `b` is a block the caller may write (being freed, or free and owned).
    #[inline(always)]
    pub(crate) unsafe fn set_next(b: *mut Block, next: *mut Block) {
        #[cfg(all(not(loom), not(feature = "hardened")))]
        // SAFETY: the caller may write the block (caller), whose first word is the link.
        unsafe {
            (*b).next = next
        };
        #[cfg(all(not(loom), feature = "hardened"))]
        // SAFETY: the caller may write the block, whose first word holds the encoded link.
        unsafe {
            (*b).next = hardened::encode(next, b)
        };
        #[cfg(loom)]
        // SAFETY: the caller's promise; a fresh cell each time (the block's memory held user
        // data, not a cell, since it was last free).
        unsafe {
            core::ptr::write(
                b,
                Block {
                    next: loom::cell::UnsafeCell::new(next),
                },
            )
        };
    }

    /// Zeroes the link word of a block just allocated (for zeroed allocations: the rest of the
    /// block is zero already, or is zeroed by the caller). A plain zero in every build, where
    /// `set_next(b, null)` stores an encoded null in the hardened one.
    ///
    /// # Safety
    /// `b` is a block the caller owns, at least a word long.
    #[inline(always)]
    pub(crate) unsafe fn clear_link(b: *mut Block) {
        #[cfg(not(loom))]
        // SAFETY: the caller owns the block, whose first word is the link.
        unsafe {
            b.cast::<usize>().write(0)
        };
        #[cfg(loom)]
        // SAFETY: the caller owns the block; under loom the link is a cell, written afresh.
        unsafe {
            Block::set_next(b, core::ptr::null_mut())
        };
    }
}

/// The segment-sized region a block belongs to.
#[inline(always)]
pub(crate) fn segment_of(p: *mut u8) -> *mut segment::Segment {
    // `p - 1`: see the module docs.
    let seg = p.wrapping_sub(1).map_addr(|a| a & !(SEGMENT_SIZE - 1));
    // Under Miri, take the header's provenance from its mapping, not from the block pointer
    // (which may only cover the block; see `os::system::roots`).
    #[cfg(miri)]
    let seg = crate::os::system::roots::pointer_to(seg.addr());
    seg.cast()
}

/// `p` with the provenance of the engine memory it lies in, for a block pointer handed back by
/// a user and kept for reuse (a pool's free list). Natively the same pointer; under Miri the
/// pointer of its mapping (`os::system::roots`), because a pointer a user gives back may only
/// cover the value it held (a `Box`'s), and the block is handed out again whole.
#[inline(always)]
pub(crate) fn with_engine_provenance(p: *mut u8) -> *mut u8 {
    #[cfg(miri)]
    let p = crate::os::system::roots::pointer_to(p.addr());
    p
}

/// Rounds `x` up to a multiple of the power of two `align`, or `None` on overflow.
#[inline(always)]
pub(crate) const fn checked_round_up(x: usize, align: usize) -> Option<usize> {
    match x.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}
