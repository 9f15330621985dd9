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
use crate::os::now_ms;
use crate::os::{Os, OsMemory, OS_PAGE};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use core::ptr;

/// Room for the header before a block (the common fields of `Segment` only).
const HEADER_ROOM: usize = OS_PAGE;
/// The hardened build's guard page after every huge block: its mapping's last page.
const GUARD: usize = super::GUARD_PAGE;
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
            map_size: block.checked_add(payload)?.checked_add(GUARD)?,
            map_align: SEGMENT_SIZE,
        }
    } else {
        // Block on an `align` boundary, header one segment below it.
        Geometry {
            header: align - SEGMENT_SIZE,
            block: align,
            map_size: align.checked_add(payload)?.checked_add(GUARD)?,
            map_align: align,
        }
    };
    // Sizes the address space cannot hold fail here rather than in the OS.
    (g.map_size <= isize::MAX as usize / 2).then_some(g)
}

/// Maps a huge block (or reuses a cached mapping). Null if the OS refuses or the request is
/// impossible. If `zero`, the block's usable bytes read as zeros.
pub(crate) fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    let Some(g) = geometry(size, align) else {
        return ptr::null_mut();
    };
    let cached = cache_take(g);
    if !cached.is_null() {
        // SAFETY: a cached mapping we now own, laid out as `g` (checked by `cache_take`): its
        // header is mapped, and the block lies `g.block` bytes into the mapping.
        let block = unsafe { (*cached).map_base.add(g.block) };
        let usable = g.map_size - g.block - GUARD;
        // SAFETY: the cached mapping's header is mapped and ours to write until the block is
        // handed out.
        unsafe { ptr::addr_of_mut!((*cached).usable).write(usable) };
        if zero {
            // SAFETY: the block's `usable` bytes lie inside the mapping, which we own.
            unsafe { ptr::write_bytes(block, 0, usable) };
        }
        let c = counters();
        // Relaxed: statistics.
        c.huge_blocks.fetch_add(1, Ordering::Relaxed);
        c.huge_bytes.fetch_add(usable, Ordering::Relaxed);
        super::stats::raise_peak(c.live_bytes.load(Ordering::Relaxed));
        #[cfg(segment_map)]
        super::segment_map::segment_added(cached);
        return block;
    }
    // SAFETY: map_size is a non-zero multiple of OS_PAGE, map_align a power of two >= OS_PAGE.
    let base = unsafe { Os::map(g.map_size, g.map_align) };
    if base.is_null() {
        return base;
    }
    // SAFETY: `g.block < g.map_size`: the block lies inside the fresh mapping.
    let block = unsafe { base.add(g.block) };
    // SAFETY: the mapping's last `GUARD` bytes, page-aligned, past the block's usable bytes:
    // nothing uses them.
    if GUARD != 0 && !unsafe { Os::protect(base.add(g.map_size - GUARD), GUARD, true) } {
        // SAFETY: the fresh mapping, which nothing else has seen.
        unsafe { Os::unmap(base, g.map_size, g.map_align) };
        return ptr::null_mut();
    }
    // SAFETY: the header lies at the start of the fresh (zeroed) mapping laid out as `g`, and
    // nothing else has seen it.
    unsafe { write_header(base, g, block) };
    let c = counters();
    // Relaxed: statistics.
    c.reserved.fetch_add(g.map_size, Ordering::Relaxed);
    c.committed
        .fetch_add(g.map_size - g.header, Ordering::Relaxed);
    c.huge_blocks.fetch_add(1, Ordering::Relaxed);
    c.huge_bytes
        .fetch_add(g.map_size - g.block - GUARD, Ordering::Relaxed);
    super::stats::raise_peak(c.live_bytes.load(Ordering::Relaxed));
    #[cfg(segment_map)]
    super::segment_map::segment_added(segment_of(block));
    block
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
        ptr::addr_of_mut!((*seg).usable).write(g.map_size - g.block - GUARD);
        ptr::addr_of_mut!((*seg).block_offset).write(g.block);
    }
}

/// Frees a huge block: its mapping goes to the cache if there is room, else back to the OS.
///
/// # Safety
/// `seg` is the header of the live huge block the caller holds and frees.
pub(crate) unsafe fn free(seg: *mut Segment) {
    #[cfg(segment_map)]
    super::segment_map::segment_removed(seg);
    // SAFETY: the header is valid while the block lives (caller).
    let usable = unsafe { (*seg).usable };
    let c = counters();
    // Relaxed: statistics.
    c.huge_blocks.fetch_sub(1, Ordering::Relaxed);
    c.huge_bytes.fetch_sub(usable, Ordering::Relaxed);
    // SAFETY: we own the mapping now (the block is freed).
    if !unsafe { cache_put(seg, now_ms() as usize) } {
        // SAFETY: we own the mapping (its block is freed), and the cache did not take it.
        unsafe { unmap(seg) };
    }
    purge_cache(false);
}

/// Unmaps the mapping of huge header `seg` and updates the figures.
///
/// # Safety
/// The caller owns the mapping and nothing in it is used afterwards.
unsafe fn unmap(seg: *mut Segment) {
    // SAFETY: valid header of a mapping we own (caller).
    let (base, size, align) = unsafe { ((*seg).map_base, (*seg).map_size, (*seg).map_align) };
    let c = counters();
    // Relaxed: statistics.
    c.reserved.fetch_sub(size, Ordering::Relaxed);
    c.committed
        .fetch_sub(size - (seg as usize - base as usize), Ordering::Relaxed);
    // SAFETY: the block's own mapping (caller).
    unsafe { Os::unmap(base, size, align) };
}

// ---------------------------------------------------------------------------------------------
// The cache of freed huge mappings
// ---------------------------------------------------------------------------------------------
//
// A program that builds a big buffer again and again (a `Vec` growing to megabytes, per
// request) would otherwise pay `mmap`, `munmap` and a page fault per 4 KiB each time. A few
// freed mappings wait here, still resident, for a request of the same layout; each leaves after
// a purge delay, and `trim()` empties the cache. Slots are taken with `swap` (so only the taker
// reads a header) and filled with a CAS from null: lock-free and ABA-free (a slot's content is
// only ever read by its current owner).

/// Mappings kept at most.
#[cfg(not(loom))]
const CACHE_SLOTS: usize = 8;
/// Two slots under loom: enough for a mapping to move between slots, and every slot is a
/// branch point of each scan.
#[cfg(loom)]
const CACHE_SLOTS: usize = 2;
/// Bytes kept at most, all mappings together.
const CACHE_MAX_BYTES: usize = 64 << 20;

struct HugeCache {
    slots: [AtomicPtr<Segment>; CACHE_SLOTS],
    /// When the mapping in each slot was freed (ms): set before the filling CAS (a racing
    /// filler may overwrite it; an entry then just leaves a little early or late).
    since: [AtomicUsize; CACHE_SLOTS],
    /// Bytes in cached mappings (a reservation taken before filling a slot).
    bytes: AtomicUsize,
}

impl HugeCache {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            slots: [const { AtomicPtr::new(ptr::null_mut()) }; CACHE_SLOTS],
            since: [const { AtomicUsize::new(0) }; CACHE_SLOTS],
            bytes: AtomicUsize::new(0),
        }
    }
    #[cfg(loom)]
    fn new() -> Self {
        Self {
            slots: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            since: core::array::from_fn(|_| AtomicUsize::new(0)),
            bytes: AtomicUsize::new(0),
        }
    }
}

#[cfg(not(loom))]
fn cache() -> &'static HugeCache {
    static CACHE: HugeCache = HugeCache::new();
    &CACHE
}

#[cfg(loom)]
fn cache() -> &'static HugeCache {
    loom::lazy_static! { static ref CACHE: HugeCache = HugeCache::new(); }
    &CACHE
}

/// Offers a mapping freed at `freed_at` (ms) to the cache. Returns false if there is no room
/// (the caller unmaps).
///
/// # Safety
/// The caller owns the mapping of `seg` (its block is freed).
unsafe fn cache_put(seg: *mut Segment, freed_at: usize) -> bool {
    // SAFETY: a header we own.
    let size = unsafe { (*seg).map_size };
    // SAFETY: we own the mapping.
    unsafe { handoff::give(seg) };
    let cache = cache();
    // Relaxed: a budget counter; the slot CAS below publishes the mapping itself.
    if cache.bytes.fetch_add(size, Ordering::Relaxed) + size > CACHE_MAX_BYTES {
        cache.bytes.fetch_sub(size, Ordering::Relaxed);
        return false;
    }
    for (slot, since) in cache.slots.iter().zip(&cache.since) {
        // Relaxed: a peek; the CAS decides.
        if slot.load(Ordering::Relaxed).is_null() {
            // Relaxed: published by the Release CAS below.
            since.store(freed_at, Ordering::Relaxed);
            const PUBLISH: Ordering = crate::sync::weakened!(Release, "huge_cache_put_relaxed");
            // Release: the header writes we made happen-before the taker's Acquire swap.
            if slot
                .compare_exchange(ptr::null_mut(), seg, PUBLISH, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
    }
    // Relaxed: as above.
    cache.bytes.fetch_sub(size, Ordering::Relaxed);
    false
}

/// Takes a cached mapping laid out like `g` (same alignment and offsets, large enough, at most
/// twice the size needed). Null if none.
fn cache_take(g: Geometry) -> *mut Segment {
    let cache = cache();
    for (slot, since) in cache.slots.iter().zip(&cache.since) {
        // Relaxed: a peek; the swap decides.
        if slot.load(Ordering::Relaxed).is_null() {
            continue;
        }
        let seg = take_slot(slot);
        if seg.is_null() {
            continue;
        }
        // Relaxed: read after the Acquire swap, so the time its filler stored, or a racing
        // filler's (which only moves this entry's departure a little).
        let freed_at = since.load(Ordering::Relaxed);
        // SAFETY: the swap made the mapping ours.
        let (base, size, align, block) = unsafe {
            (
                (*seg).map_base,
                (*seg).map_size,
                (*seg).map_align,
                (*seg).block_offset,
            )
        };
        let fits = align == g.map_align
            && seg as usize - base as usize == g.header
            && block == g.block
            && size >= g.map_size
            && size / 2 <= g.map_size;
        if fits {
            // Relaxed: budget counter.
            cache.bytes.fetch_sub(size, Ordering::Relaxed);
            return seg;
        }
        // Not for us: put it back with its own age, so that requests of other layouts do not
        // keep it young forever (or, if the slots filled up meanwhile, release it).
        // SAFETY: we own it; `cache_put` re-reserves its bytes, so undo ours first.
        unsafe {
            cache.bytes.fetch_sub(size, Ordering::Relaxed);
            if !cache_put(seg, freed_at) {
                unmap(seg);
            }
        }
    }
    ptr::null_mut()
}

/// Empties a cache slot and returns what it held (null if it was empty): the mapping is then
/// the caller's alone.
fn take_slot(slot: &AtomicPtr<Segment>) -> *mut Segment {
    #[cfg(not(allocgator_mutation = "huge_cache_take_not_atomic"))]
    // Acquire: pairs with the filler's Release CAS, so the header is visible. A swap, so two
    // takers never both get the mapping.
    let seg = slot.swap(ptr::null_mut(), Ordering::Acquire);
    #[cfg(allocgator_mutation = "huge_cache_take_not_atomic")]
    let seg = {
        // The mutation (loom only): Acquire as the swap, but two takers can both load `seg`.
        let seg = slot.load(Ordering::Acquire);
        slot.store(ptr::null_mut(), Ordering::Relaxed);
        seg
    };
    if !seg.is_null() {
        // SAFETY: the slot held a mapping given to the cache, now ours.
        unsafe { handoff::take(seg) };
    }
    seg
}

/// Under loom, a cell in each cached block (whose memory is free) that the thread giving the
/// mapping to the cache writes and the thread taking it out writes again, so the models check
/// that a slot's Release/Acquire orders the giver's writes before the taker's accesses, and
/// that no two threads ever hold the same mapping (loom reports two unordered writes).
/// Nothing outside loom.
mod handoff {
    use super::Segment;

    /// The cell: at the block's start.
    #[cfg(loom)]
    type Cell = crate::sync::UnsafeCell<usize>;

    /// # Safety
    /// `seg` is the header of a freed huge block whose mapping the caller owns.
    #[cfg(loom)]
    unsafe fn cell(seg: *mut Segment) -> *mut Cell {
        // SAFETY: a valid header (caller).
        unsafe { (*seg).map_base.add((*seg).block_offset).cast() }
    }

    /// Marks the mapping as given by this thread.
    ///
    /// # Safety
    /// The caller owns the mapping of `seg` and its block is freed.
    #[inline(always)]
    pub(super) unsafe fn give(seg: *mut Segment) {
        #[cfg(loom)]
        // SAFETY: the block is free and ours (caller); a fresh cell, as the block held user
        // data until now.
        unsafe {
            core::ptr::write(cell(seg), Cell::new(seg as usize))
        };
        let _ = seg;
    }

    /// Checks the mark of a mapping just taken from a slot, and claims it.
    ///
    /// # Safety
    /// `seg` was just taken from a cache slot.
    #[inline(always)]
    pub(super) unsafe fn take(seg: *mut Segment) {
        #[cfg(loom)]
        // SAFETY: `give` wrote the cell before the mapping entered the slot.
        unsafe {
            (*cell(seg)).with_mut(|v| {
                assert_eq!(*v, seg as usize, "huge cache: a mapping taken twice");
                *v = 0;
            })
        };
        let _ = seg;
    }
}

/// Bytes of the mappings the cache holds (for the loom models' balance checks).
#[cfg(loom)]
pub(crate) fn cached_bytes() -> usize {
    // Relaxed: read after the model's threads are joined.
    cache().bytes.load(Ordering::Relaxed)
}

/// Unmaps cached mappings older than the purge delay (all of them if `all`).
pub(crate) fn purge_cache(all: bool) {
    let cache = cache();
    let now = now_ms() as usize;
    for (slot, since) in cache.slots.iter().zip(&cache.since) {
        // Relaxed: a peek; the swap decides.
        if slot.load(Ordering::Relaxed).is_null() {
            continue;
        }
        // Relaxed: a timestamp; a stale or racing value only moves the purge a little.
        let age = now.saturating_sub(since.load(Ordering::Relaxed));
        if !all && age < super::purge::delay_ms() as usize {
            continue;
        }
        let seg = take_slot(slot);
        if !seg.is_null() {
            // SAFETY: the swap made the mapping ours; nothing uses it.
            unsafe {
                cache.bytes.fetch_sub((*seg).map_size, Ordering::Relaxed);
                unmap(seg);
            }
        }
    }
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
    let Some(new_map_size) = block_offset
        .checked_add(payload)
        .and_then(|n| n.checked_add(GUARD))
    else {
        return ptr::null_mut();
    };
    // The header may move: take it out of the segment map before the old range can be
    // reused by anyone else's mapping.
    #[cfg(segment_map)]
    super::segment_map::segment_removed(seg);
    // The hardened build's guard moves to the new end, before the remap: when the block
    // grows, the old guard becomes part of it; when it shrinks, the new last page becomes
    // the guard (past the new usable bytes) and the old one goes with the tail.
    let grows = new_map_size > map_size;
    let guard_page = if grows { map_size } else { new_map_size } - GUARD;
    // SAFETY: a page-aligned page of our mapping (caller): the old guard, or a page past the
    // block's new usable bytes, which the caller no longer uses.
    if GUARD != 0 && !unsafe { Os::protect(base.add(guard_page), GUARD, !grows) } {
        #[cfg(segment_map)]
        super::segment_map::segment_added(seg);
        return ptr::null_mut();
    }
    // SAFETY: our mapping (caller); sizes are multiples of OS_PAGE.
    let new_base = unsafe { Os::remap(base, map_size, new_map_size, map_align) };
    if new_base.is_null() {
        if GUARD != 0 {
            // SAFETY: the same page-aligned page of our untouched mapping (the remap
            // failed), put back as it was.
            unsafe { Os::protect(base.add(guard_page), GUARD, grows) };
        }
        #[cfg(segment_map)]
        super::segment_map::segment_added(seg);
        return new_base;
    }
    let g = Geometry {
        header: header_offset,
        block: block_offset,
        map_size: new_map_size,
        map_align,
    };
    let new_block = new_base.wrapping_add(block_offset);
    if GUARD != 0 && new_map_size > map_size {
        // SAFETY: the new last page of the remapped region, which is ours and fresh. If the
        // OS refuses, the block works on without a guard.
        unsafe { Os::protect(new_base.add(new_map_size - GUARD), GUARD, true) };
    }
    // SAFETY: the remapped region is ours, laid out as before.
    unsafe { write_header(new_base, g, new_block) };
    let c = counters();
    let new_usable = new_map_size - block_offset - GUARD;
    // Relaxed: statistics. (Wrapping adds of the difference, either sign.)
    c.reserved
        .fetch_add(new_map_size.wrapping_sub(map_size), Ordering::Relaxed);
    c.committed
        .fetch_add(new_map_size.wrapping_sub(map_size), Ordering::Relaxed);
    c.huge_bytes
        .fetch_add(new_usable.wrapping_sub(usable), Ordering::Relaxed);
    super::stats::raise_peak(c.live_bytes.load(Ordering::Relaxed));
    #[cfg(segment_map)]
    super::segment_map::segment_added(segment_of(new_block));
    new_block
}
