//! The link a free block holds in its first word, for the local allocators whose free lists
//! run through their blocks: a `Pool`'s free list and a static pool's thread caches.
//!
//! The default build stores the pointer itself (with its provenance, which Miri follows). The
//! hardened build stores it encoded with the engine's secret and the block's own address
//! (`engine::hardened`), clears it before the block is handed out, and [`load`] returns the
//! decoded value unchecked: a pool's blocks span more than one segment, so the engine's own
//! check does not apply, and each caller checks the value against its pool's chunks.

/// Stores `next` as the link of free block `block`.
///
/// # Safety
/// `block` is a free block the caller holds, at least a pointer long and aligned.
#[inline(always)]
pub(super) unsafe fn store(block: *mut u8, next: *mut u8) {
    #[cfg(feature = "hardened")]
    // SAFETY: a free block the caller holds, a pointer long and aligned (caller).
    unsafe {
        block
            .cast::<usize>()
            .write(crate::engine::hardened::encode(next.cast(), block.cast()))
    };
    #[cfg(not(feature = "hardened"))]
    // SAFETY: a free block the caller holds, a pointer long and aligned (caller): its first
    // word is ours to write.
    unsafe {
        block.cast::<*mut u8>().write(next)
    };
}

/// The link of free block `block`, as [`store`] wrote it (the hardened build: decoded, not
/// checked; the caller checks it, then gives it the provenance of its chunk).
///
/// # Safety
/// `block` is a free block the caller holds, its first word written by [`store`] (or
/// overwritten since by the program: the hardened caller's check is for that case).
#[inline(always)]
pub(super) unsafe fn load(block: *mut u8) -> *mut u8 {
    #[cfg(feature = "hardened")]
    {
        // SAFETY: the block's first word holds its encoded link (caller).
        let word = unsafe { block.cast::<usize>().read() };
        crate::engine::hardened::decode_unchecked(word, block.cast()).cast::<u8>()
    }
    #[cfg(not(feature = "hardened"))]
    // SAFETY: the block's first word holds its link, a pointer (caller).
    unsafe {
        block.cast::<*mut u8>().read()
    }
}

/// A block about to be handed out: the hardened build clears its encoded link, so the
/// program never reads one.
///
/// # Safety
/// `block` is a pool block the caller is handing out, at least a pointer long and aligned.
#[inline(always)]
pub(super) unsafe fn clear(block: *mut u8) {
    #[cfg(feature = "hardened")]
    // SAFETY: a block of ours, a pointer long and aligned (caller).
    unsafe {
        block.cast::<usize>().write(0)
    };
    let _ = block;
}
