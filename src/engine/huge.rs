//! Huge blocks (over `LARGE_MAX`, or aligned beyond `LARGE_ALIGN_MAX`): one mapping each.
//!
//! The block's header is a [`Segment`] of kind `Huge` at the start of the segment-sized region
//! that `segment_of(block)` names, so `free` finds it by the same mask as every other block:
//!
//! - alignment below a segment: the header starts the mapping, the block follows it;
//! - alignment of a segment or more: the block starts on a segment boundary and its header sits
//!   one segment earlier (`segment_of` masks `p - 1`), in address space that is reserved but
//!   never touched beyond the header's page.
//!
//! Nobody owns a huge block's header but the block's holder, so any thread frees it directly.
//! Growing uses `mremap` (pages move, nothing is copied) where the OS has it.

use super::segment::{Segment, SegmentKind};
use super::stats::counters;
use super::{checked_round_up, segment_of, SEGMENT_SIZE};
use crate::os::{Os, OsMemory, OS_PAGE};
use crate::sync::{AtomicPtr, Ordering};
use core::ptr;

/// Room for the header before a block (the common fields of `Segment` only).
const HEADER_ROOM: usize = OS_PAGE;
static_assertions::const_assert!(core::mem::offset_of!(Segment, head_of) <= HEADER_ROOM);

/// Where a huge block sits relative to its mapping.
#[derive(Clone, Copy)]
struct Geometry {
    /// Header offset from the mapping base.
    header: usize,
    /// Block offset from the mapping base.
    block: usize,
    /// Mapping size.
    map_size: usize,
    /// Mapping alignment.
    map_align: usize,
}

fn geometry(size: usize, align: usize) -> Option<Geometry> {
    let payload = checked_round_up(size.max(1), OS_PAGE)?;
    let g = if align < SEGMENT_SIZE {
        // Header at the (segment-aligned) base, block after it at its alignment.
        let block = HEADER_ROOM.max(align);
        Geometry {
            header: 0,
            block,
            map_size: block.checked_add(payload)?,
            map_align: SEGMENT_SIZE,
        }
    } else {
        // Block on an `align` boundary, header one segment below it.
        Geometry {
            header: align - SEGMENT_SIZE,
            block: align,
            map_size: align.checked_add(payload)?,
            map_align: align,
        }
    };
    // Sizes the address space cannot hold fail here rather than in the OS.
    (g.map_size <= isize::MAX as usize / 2).then_some(g)
}

/// Maps a huge block. Null if the OS refuses or the request is impossible.
/// The block reads as zeros.
pub(crate) fn alloc(size: usize, align: usize) -> *mut u8 {
    let Some(g) = geometry(size, align) else {
        return ptr::null_mut();
    };
    // SAFETY: map_size is a non-zero multiple of OS_PAGE, map_align a power of two >= OS_PAGE.
    let base = unsafe { Os::map(g.map_size, g.map_align) };
    if base.is_null() {
        return base;
    }
    // SAFETY: header and block lie inside the fresh mapping.
    unsafe {
        let block = base.add(g.block);
        write_header(base, g, block);
        let c = counters();
        // Relaxed: statistics.
        c.reserved.fetch_add(g.map_size, Ordering::Relaxed);
        c.committed
            .fetch_add(g.map_size - g.header, Ordering::Relaxed);
        c.huge_blocks.fetch_add(1, Ordering::Relaxed);
        c.huge_bytes
            .fetch_add(g.map_size - g.block, Ordering::Relaxed);
        block
    }
}

/// Writes the header of a huge block whose mapping starts at `base`.
///
/// # Safety
/// `base..base + g.map_size` is our mapping and `block == base + g.block`.
unsafe fn write_header(base: *mut u8, g: Geometry, block: *mut u8) {
    let seg = segment_of(block);
    debug_assert_eq!(seg.cast::<u8>(), base.wrapping_add(g.header));
    // SAFETY: the header lies inside the mapping (caller) and is ours to write.
    unsafe {
        ptr::addr_of_mut!((*seg).heap).write(AtomicPtr::new(ptr::null_mut()));
        ptr::addr_of_mut!((*seg).kind).write(SegmentKind::Huge);
        ptr::addr_of_mut!((*seg).map_base).write(base);
        ptr::addr_of_mut!((*seg).map_size).write(g.map_size);
        ptr::addr_of_mut!((*seg).map_align).write(g.map_align);
        ptr::addr_of_mut!((*seg).usable).write(g.map_size - g.block);
    }
}

/// Unmaps a huge block.
///
/// # Safety
/// `seg` is the header of the live huge block the caller holds and frees.
pub(crate) unsafe fn free(seg: *mut Segment) {
    // SAFETY: the header is valid while the block lives (caller).
    let (base, size, align, usable) = unsafe {
        (
            (*seg).map_base,
            (*seg).map_size,
            (*seg).map_align,
            (*seg).usable,
        )
    };
    let c = counters();
    // Relaxed: statistics.
    c.reserved.fetch_sub(size, Ordering::Relaxed);
    c.committed
        .fetch_sub(size - (seg as usize - base as usize), Ordering::Relaxed);
    c.huge_blocks.fetch_sub(1, Ordering::Relaxed);
    c.huge_bytes.fetch_sub(usable, Ordering::Relaxed);
    // SAFETY: the block's own mapping; the caller frees the block.
    unsafe { Os::unmap(base, size, align) };
}

/// Bytes usable in a huge block.
///
/// # Safety
/// `seg` is the header of a live huge block.
pub(crate) unsafe fn usable(seg: *mut Segment) -> usize {
    // SAFETY: valid header (caller).
    unsafe { (*seg).usable }
}

/// Resizes a huge block to `new_size` without copying: in place when it fits, else by moving
/// its pages (`mremap`). Returns null if that is not possible (the block is then unchanged).
///
/// # Safety
/// `block` is a live huge block (header `seg`) the caller holds; `new_size` is over
/// `LARGE_MAX`.
pub(crate) unsafe fn resize(seg: *mut Segment, block: *mut u8, new_size: usize) -> *mut u8 {
    // SAFETY: valid header (caller).
    let (base, map_size, map_align, usable) = unsafe {
        (
            (*seg).map_base,
            (*seg).map_size,
            (*seg).map_align,
            (*seg).usable,
        )
    };
    if new_size <= usable && new_size >= usable / 2 {
        return block;
    }
    let block_offset = block as usize - base as usize;
    let header_offset = seg as usize - base as usize;
    let Some(payload) = checked_round_up(new_size, OS_PAGE) else {
        return ptr::null_mut();
    };
    let Some(new_map_size) = block_offset.checked_add(payload) else {
        return ptr::null_mut();
    };
    // SAFETY: our mapping (caller); sizes are multiples of OS_PAGE.
    let new_base = unsafe { Os::remap(base, map_size, new_map_size, map_align) };
    if new_base.is_null() {
        return new_base;
    }
    let g = Geometry {
        header: header_offset,
        block: block_offset,
        map_size: new_map_size,
        map_align,
    };
    let new_block = new_base.wrapping_add(block_offset);
    // SAFETY: the remapped region is ours, laid out as before.
    unsafe { write_header(new_base, g, new_block) };
    let c = counters();
    let new_usable = new_map_size - block_offset;
    // Relaxed: statistics. (Wrapping adds of the difference, either sign.)
    c.reserved
        .fetch_add(new_map_size.wrapping_sub(map_size), Ordering::Relaxed);
    c.committed
        .fetch_add(new_map_size.wrapping_sub(map_size), Ordering::Relaxed);
    c.huge_bytes
        .fetch_add(new_usable.wrapping_sub(usable), Ordering::Relaxed);
    new_block
}
