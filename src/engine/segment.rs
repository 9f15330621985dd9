//! Segments: 4 MiB aligned regions of 64 slices of 64 KiB, owned by one heap.
//!
//! Slice 0 holds this header; pages are runs of slices starting at slice 1 or later, so every
//! page starts on a 64 KiB boundary (the aligned fast path relies on it). A slice bitmap (one
//! `u64`) tracks which slices belong to pages; two more track which free slices have no memory
//! behind them (never touched, or purged) and which read as zeros.
//!
//! Memory return is lazy and in two steps, so a steady state never calls the OS: a free slice
//! that is still free one purge tick later is decommitted; a segment with no pages that is still
//! empty one tick later is unmapped.

use super::heap::Heap;
use super::page::Page;
use super::stats::counters;
use super::{SEGMENT_SIZE, SLICES, SLICE_SIZE};
use crate::os::{Os, OsMemory, OS_PAGE};
use crate::sync::{AtomicPtr, Ordering, UnsafeCell};
use core::ptr;

/// What a segment-sized region holds.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentKind {
    /// Pages of blocks, owned by a heap.
    Pages = 1,
    /// One huge block (see `huge`).
    Huge = 2,
}

/// Segment state, touched only under the owning heap's segment lock (see `Heap::lock_segments`):
/// by the owner, and by the background purger (`purging`, and the purge bookkeeping).
#[derive(Debug)]
pub(crate) struct SegmentLocal {
    /// Bit i: slice i belongs to a page (bit 0, the header, always set).
    pub(crate) used: u64,
    /// Bit i: free slice with no memory behind it (never touched, or purged).
    pub(crate) uncommitted: u64,
    /// Bit i: free slice that reads as zeros.
    pub(crate) zeroed: u64,
    /// Free committed slices seen at the last purge tick: purged at the next one if still free.
    pub(crate) purge_candidates: u64,
    /// The segment was empty at the last purge tick.
    pub(crate) empty_at_last_tick: bool,
    /// Bit i: free slice the background purger is decommitting (outside the lock). Counts as
    /// in use for everyone else: nobody takes it, and the segment is not released, until the
    /// purger clears the bit.
    pub(crate) purging: u64,
    /// Links in the owning heap's segment list.
    pub(crate) next: *mut Segment,
    /// Links in the owning heap's segment list.
    pub(crate) prev: *mut Segment,
}

/// Segment header. The first fields are shared with huge mappings (see `huge`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Segment {
    /// Owning heap; null for huge mappings. Set at creation, never changed while the segment
    /// lives (thread heaps are pooled whole, segments do not migrate).
    pub(crate) heap: AtomicPtr<Heap>,
    /// What the region holds; written once at creation.
    pub(crate) kind: SegmentKind,
    /// Huge mappings: the mapping this header belongs to, and the block's offset from the
    /// header. Owned by whoever holds the huge block.
    pub(crate) map_base: *mut u8,
    /// Huge mappings: mapping size.
    pub(crate) map_size: usize,
    /// Huge mappings: mapping alignment.
    pub(crate) map_align: usize,
    /// Huge mappings: bytes usable from the block's start (at most to the mapping's end).
    pub(crate) usable: usize,
    /// Huge mappings: the block's offset from the mapping base.
    pub(crate) block_offset: usize,
    /// Slice → first slice of the page that covers it. Written when a page is set up (before
    /// its blocks exist), read by anyone freeing a block (the block's hand-off orders the
    /// two). One cell per entry: the owner sets up a new page's entries while other threads
    /// read other entries.
    pub(crate) head_of: [UnsafeCell<u8>; SLICES],
    /// Owner-only state.
    pub(crate) local: UnsafeCell<SegmentLocal>,
    /// One page record per slice; a page spanning several slices uses its first slice's record.
    pub(crate) pages: [Page; SLICES],
    /// Feature `checked`: one live bit per 8 bytes of the segment, in a mapping of its own
    /// (see `checked`).
    #[cfg(feature = "checked")]
    pub(crate) live_bits: *mut crate::sync::AtomicUsize,
}

// SAFETY: owner-only state is touched by the owning heap's thread only (see `Page`); the rest
// is atomic or written once before the segment is shared.
unsafe impl Sync for Segment {}

const ALL_SLICES: u64 = u64::MAX;
const HEADER_SLICE: u64 = 1;

static_assertions::const_assert!(core::mem::size_of::<Segment>() <= SLICE_SIZE);
// The hardened build's guard page takes the header slice's last OS page.
static_assertions::const_assert!(core::mem::size_of::<Segment>() <= SLICE_SIZE - OS_PAGE);

/// Bits `[index, index + count)`.
#[inline]
pub(crate) const fn span_bits(index: usize, count: usize) -> u64 {
    let ones = if count >= 64 {
        u64::MAX
    } else {
        (1u64 << count) - 1
    };
    ones << index
}

impl Segment {
    /// Maps and sets up a segment for `heap`. Null if the OS refuses.
    ///
    /// # Safety
    /// `heap` is a heap that will own the segment (it is only stored here).
    pub(crate) unsafe fn create(heap: *const Heap) -> *mut Segment {
        // SAFETY: a segment-sized, segment-aligned request, as `map` requires.
        let seg = unsafe { Os::map(SEGMENT_SIZE, SEGMENT_SIZE) }.cast::<Segment>();
        if seg.is_null() {
            return seg;
        }
        // SAFETY: `seg` is a fresh mapping large enough for the header (asserted above); we
        // initialise every field in place before anything reads it.
        unsafe {
            ptr::addr_of_mut!((*seg).heap).write(AtomicPtr::new(heap.cast_mut()));
            ptr::addr_of_mut!((*seg).kind).write(SegmentKind::Pages);
            ptr::addr_of_mut!((*seg).map_base).write(seg.cast());
            ptr::addr_of_mut!((*seg).map_size).write(SEGMENT_SIZE);
            ptr::addr_of_mut!((*seg).map_align).write(SEGMENT_SIZE);
            ptr::addr_of_mut!((*seg).usable).write(0);
            ptr::addr_of_mut!((*seg).block_offset).write(0);
            for i in 0..SLICES {
                ptr::addr_of_mut!((*seg).head_of[i]).write(UnsafeCell::new(i as u8));
                ptr::addr_of_mut!((*seg).pages[i]).write(Page::new());
            }
            ptr::addr_of_mut!((*seg).local).write(UnsafeCell::new(SegmentLocal {
                used: HEADER_SLICE,
                uncommitted: ALL_SLICES & !HEADER_SLICE,
                zeroed: ALL_SLICES & !HEADER_SLICE,
                purge_candidates: 0,
                empty_at_last_tick: false,
                purging: 0,
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
            }));
        }
        // The hardened build: the header slice's last OS page becomes a guard, so a linear
        // write running back from the first page (an underflow) faults before it reaches
        // the header, and one running on from the header never reaches a page.
        #[cfg(all(feature = "hardened", not(loom)))]
        // SAFETY: the last OS page of slice 0, inside our fresh mapping, past the header
        // (asserted above); nothing ever uses it.
        if !unsafe { Os::protect(seg.cast::<u8>().add(SLICE_SIZE - OS_PAGE), OS_PAGE, true) } {
            // SAFETY: the segment mapped above, with this size and alignment; nothing else
            // has seen it.
            unsafe { Os::unmap(seg.cast(), SEGMENT_SIZE, SEGMENT_SIZE) };
            return ptr::null_mut();
        }
        #[cfg(feature = "checked")]
        {
            // SAFETY: a request of whole OS pages, aligned to one, as `map` requires.
            let bits = unsafe { Os::map(super::checked::LIVE_BITS_BYTES, OS_PAGE) };
            if bits.is_null() {
                // SAFETY: the segment mapped above, with this size and alignment; nothing
                // else has seen it.
                unsafe { Os::unmap(seg.cast(), SEGMENT_SIZE, SEGMENT_SIZE) };
                return ptr::null_mut();
            }
            // SAFETY: the header was initialised above; `live_bits` is ours to set before the
            // segment is registered.
            unsafe { ptr::addr_of_mut!((*seg).live_bits).write(bits.cast()) };
        }
        #[cfg(segment_map)]
        super::segment_map::segment_added(seg);
        let c = counters();
        // Relaxed: statistics.
        c.reserved.fetch_add(SEGMENT_SIZE, Ordering::Relaxed);
        c.committed.fetch_add(SLICE_SIZE, Ordering::Relaxed);
        c.segments.fetch_add(1, Ordering::Relaxed);
        seg
    }

    /// Unmaps a segment with no pages in use.
    ///
    /// # Safety
    /// The caller owns the segment, has unlinked it, and no block of it is live.
    pub(crate) unsafe fn destroy(seg: *mut Segment) {
        // SAFETY: the caller owns the segment.
        let committed_slices =
            unsafe { Self::with_local(seg, |l| (!l.uncommitted).count_ones() as usize) };
        let c = counters();
        // Relaxed: statistics.
        c.reserved.fetch_sub(SEGMENT_SIZE, Ordering::Relaxed);
        c.committed
            .fetch_sub(committed_slices * SLICE_SIZE, Ordering::Relaxed);
        c.segments.fetch_sub(1, Ordering::Relaxed);
        // No block of the segment is live (caller), so no check looks it up again.
        #[cfg(segment_map)]
        super::segment_map::segment_removed(seg);
        #[cfg(feature = "checked")]
        {
            // SAFETY: the bitmap mapped in `create` with this size and alignment; nothing
            // reads it once the segment is unregistered.
            unsafe {
                Os::unmap(
                    (*seg).live_bits.cast(),
                    super::checked::LIVE_BITS_BYTES,
                    OS_PAGE,
                )
            };
        }
        // SAFETY: the mapping made in `create`; nothing in it is used any more (caller).
        unsafe { Os::unmap(seg.cast(), SEGMENT_SIZE, SEGMENT_SIZE) };
    }

    /// Runs `f` on the segment's local state; the borrow ends when `f` returns.
    ///
    /// # Safety
    /// The caller owns the segment (or holds its heap's segment lock, for the fields the lock
    /// guards), and `f` does not reach this segment's local state again.
    #[inline(always)]
    pub(crate) unsafe fn with_local<R>(
        seg: *mut Segment,
        f: impl FnOnce(&mut SegmentLocal) -> R,
    ) -> R {
        // SAFETY: `seg` is live and ours (caller); nothing else borrows its local state
        // while `f` runs (caller), and the `&mut` does not outlive the closure.
        unsafe { (*seg).local.with_mut(|p| f(&mut *p)) }
    }

    /// The page record covering `p`.
    ///
    /// # Safety
    /// `seg` is a live segment of kind `Pages` and `p` points into one of its pages.
    #[inline(always)]
    pub(crate) unsafe fn page_of<'a>(seg: *mut Segment, p: *mut u8) -> &'a Page {
        // `p` lies strictly inside its segment (the first slice is the header), so its offset
        // is its low bits: a mask, which compiles the same wherever this is inlined (the
        // subtraction `p - seg` was sometimes rewritten through `p - 1`, one instruction more).
        debug_assert!(p as usize - seg as usize == p as usize & (SEGMENT_SIZE - 1));
        let slice = (p as usize & (SEGMENT_SIZE - 1)) >> super::SLICE_SHIFT;
        // SAFETY: `slice < SLICES` since `p` is inside the segment; the entry was written
        // before the block was handed out (see the field's docs).
        unsafe {
            let head = (*seg).head_of.get_unchecked(slice).with(|h| *h) as usize;
            (*seg).pages.get_unchecked(head)
        }
    }

    /// The first byte of slice `index`.
    #[inline]
    pub(crate) fn slice_start(seg: *mut Segment, index: usize) -> *mut u8 {
        seg.cast::<u8>().wrapping_add(index * SLICE_SIZE)
    }

    /// The segment and slice index of a page's first byte (its `start`).
    #[inline]
    pub(crate) fn locate(page_start: *mut u8) -> (*mut Segment, usize) {
        let seg = super::segment_of(page_start);
        (
            seg,
            (page_start as usize - seg as usize) >> super::SLICE_SHIFT,
        )
    }

    /// Finds `count` free contiguous slices whose first index is a multiple of
    /// `align_slices`, preferring slices that are still committed (no page faults on reuse).
    /// Returns the run's first index and whether all of it is committed (warm).
    ///
    /// # Safety
    /// The caller owns the segment.
    pub(crate) unsafe fn find_free_run(
        seg: *mut Segment,
        count: usize,
        align_slices: usize,
    ) -> Option<(usize, bool)> {
        // SAFETY: the caller owns the segment.
        let (taken, uncommitted) =
            unsafe { Self::with_local(seg, |l| (l.used | l.purging, l.uncommitted)) };
        let free = !taken;
        if free == 0 || (free.count_ones() as usize) < count {
            return None;
        }
        if count == 1 && align_slices == 1 {
            let warm = free & !uncommitted;
            let pick = if warm != 0 { warm } else { free };
            return Some((pick.trailing_zeros() as usize, warm != 0));
        }
        let mut fallback = None;
        let mut index = align_slices.max(1);
        while index + count <= SLICES {
            let bits = span_bits(index, count);
            if taken & bits == 0 {
                if uncommitted & bits == 0 {
                    return Some((index, true));
                }
                fallback = fallback.or(Some((index, false)));
            }
            index += align_slices;
        }
        fallback
    }

    /// Marks `[index, index + count)` as one page and returns its record, and whether its
    /// memory reads as zeros.
    ///
    /// # Safety
    /// The caller owns the segment; the run is free (from `find_free_run`).
    pub(crate) unsafe fn take_span<'a>(
        seg: *mut Segment,
        index: usize,
        count: usize,
    ) -> (&'a Page, bool) {
        // SAFETY: the caller owns the segment, and the run is free.
        let fresh = unsafe { Self::mark_used(seg, index, count, index) };
        // SAFETY: `index < SLICES`.
        (unsafe { (*seg).pages.get_unchecked(index) }, fresh)
    }

    /// Extends the page starting at `index` from `old_count` to `new_count` slices if the slices
    /// after it are free. Returns false (nothing changed) if they are not.
    ///
    /// # Safety
    /// The caller owns the segment; `index..index + old_count` is one of its pages.
    pub(crate) unsafe fn extend_span(
        seg: *mut Segment,
        index: usize,
        old_count: usize,
        new_count: usize,
    ) -> bool {
        if index + new_count > SLICES {
            return false;
        }
        let extra = span_bits(index + old_count, new_count - old_count);
        // SAFETY: the caller owns the segment.
        if unsafe { Self::with_local(seg, |l| (l.used | l.purging) & extra != 0) } {
            return false;
        }
        // SAFETY: the extra slices are free and ours; mark them used and point them at the
        // page's first slice, exactly as `take_span` does for a new page.
        unsafe { Self::mark_used(seg, index + old_count, new_count - old_count, index) };
        true
    }

    /// Marks free slices `[first, first + count)` as part of the page starting at `head`.
    /// Returns whether all of them read as zeros.
    ///
    /// # Safety
    /// The caller owns the segment and the slices are free.
    unsafe fn mark_used(seg: *mut Segment, first: usize, count: usize, head: usize) -> bool {
        let bits = span_bits(first, count);
        // SAFETY: the caller owns the segment.
        let (fresh, newly_committed) = unsafe {
            Self::with_local(seg, |local| {
                debug_assert_eq!((local.used | local.purging) & bits, 0);
                let fresh = local.zeroed & bits == bits;
                let newly_committed = (local.uncommitted & bits).count_ones() as usize;
                local.used |= bits;
                local.uncommitted &= !bits;
                local.zeroed &= !bits;
                local.purge_candidates &= !bits;
                local.empty_at_last_tick = false;
                (fresh, newly_committed)
            })
        };
        if newly_committed != 0 {
            // Relaxed: statistics.
            counters()
                .committed
                .fetch_add(newly_committed * SLICE_SIZE, Ordering::Relaxed);
        }
        for i in first..first + count {
            // SAFETY: `i < SLICES`; no block of these slices exists yet, so nobody reads these
            // entries (see `head_of`).
            unsafe {
                (*seg)
                    .head_of
                    .get_unchecked(i)
                    .with_mut(|h| *h = head as u8)
            };
        }
        fresh
    }

    /// Returns a page's slices to the segment (they stay committed until a purge tick).
    /// Returns true if the segment now has no pages.
    ///
    /// # Safety
    /// The caller owns the segment; the page is one of its pages and has no live block.
    pub(crate) unsafe fn release_span(seg: *mut Segment, index: usize, count: usize) -> bool {
        let bits = span_bits(index, count);
        // SAFETY: the caller owns the segment.
        unsafe {
            Self::with_local(seg, |local| {
                debug_assert_eq!(local.used & bits, bits);
                local.used &= !bits;
                local.used == HEADER_SLICE
            })
        }
    }

    /// Decommits free committed slices: all of them if `now`, else only those that were
    /// already free at the previous tick. Returns true if the segment has been empty for a whole
    /// tick (or `now`) and should be unmapped.
    ///
    /// # Safety
    /// The caller owns the segment.
    pub(crate) unsafe fn purge(seg: *mut Segment, now: bool) -> bool {
        // SAFETY: the caller owns the segment.
        let to_purge = unsafe {
            Self::with_local(seg, |local| {
                let dirty_free = !local.used & !local.uncommitted & !local.purging;
                if now {
                    dirty_free
                } else {
                    dirty_free & local.purge_candidates
                }
            })
        };
        if to_purge != 0 {
            // SAFETY: free slices of this live segment, which nobody takes while we hold the
            // lock (caller).
            unsafe { Self::decommit_slices(seg, to_purge) };
            // Relaxed: statistics.
            counters().committed.fetch_sub(
                to_purge.count_ones() as usize * SLICE_SIZE,
                Ordering::Relaxed,
            );
        }
        // SAFETY: the caller owns the segment.
        unsafe {
            Self::with_local(seg, |local| {
                local.uncommitted |= to_purge;
                if Os::DECOMMIT_ZEROES {
                    local.zeroed |= to_purge;
                }
                local.purge_candidates = !local.used & !local.uncommitted & !local.purging;
                let empty = local.used == HEADER_SLICE && local.purging == 0;
                let release = empty && (now || local.empty_at_last_tick);
                local.empty_at_last_tick = empty;
                release
            })
        }
    }

    /// Calls `f` for every page in use (by their first slices).
    ///
    /// # Safety
    /// The caller owns the segment.
    pub(crate) unsafe fn for_each_page(seg: *mut Segment, mut f: impl FnMut(&Page)) {
        // SAFETY: the caller owns the segment.
        let used = unsafe { Self::with_local(seg, |l| l.used) } & !HEADER_SLICE;
        let mut i = 1;
        while i < SLICES {
            if used & (1 << i) != 0 {
                // SAFETY: `seg` is a live segment (the caller owns it) and `i < SLICES`.
                let page = unsafe { &(*seg).pages[i] };
                // SAFETY: slice `i` heads a page of the segment (we jump over page spans),
                // whose owner is the caller; the closure only reads.
                let slices = unsafe {
                    debug_assert_eq!((*seg).head_of[i].with(|h| *h) as usize, i);
                    page.with_local(|l| l.slice_count)
                };
                i += slices.max(1) as usize;
                f(page);
            } else {
                i += 1;
            }
        }
    }

    /// Pages in use.
    ///
    /// # Safety
    /// The caller owns the segment.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    pub(crate) unsafe fn page_count(seg: *mut Segment) -> usize {
        let mut count = 0;
        // SAFETY: the caller owns the segment.
        unsafe { Self::for_each_page(seg, |_| count += 1) };
        count
    }

    /// Number of slices that belong to no page (free ones and those the purger has claimed).
    /// Whether a segment is on its heap's list of full segments is decided by this count
    /// (none: full), so that a claim by the purger never moves a segment between lists.
    ///
    /// # Safety
    /// The caller holds the owning heap's segment lock.
    pub(crate) unsafe fn slices_without_page(seg: *mut Segment) -> usize {
        // SAFETY: under the segment lock (caller).
        unsafe { Segment::with_local(seg, |l| l.used.count_zeros() as usize) }
    }

    /// True if some free slice is still committed (a purge tick has work to do).
    ///
    /// # Safety
    /// The caller owns the segment.
    pub(crate) unsafe fn has_dirty(seg: *mut Segment) -> bool {
        // SAFETY: the caller owns the segment.
        unsafe {
            Self::with_local(seg, |l| {
                !l.used & !l.uncommitted & !l.purging != 0 || l.used == HEADER_SLICE
            })
        }
    }

    // ----------------------------------------------------------------------------------------
    // The background purger's three steps (see `super::purge`)
    // ----------------------------------------------------------------------------------------

    /// Step 1, under the lock: claims the free committed slices that were already free at the
    /// previous tick (marking them `purging`, so nobody takes them), makes the other free
    /// committed slices the next tick's candidates, and returns the claimed slices.
    ///
    /// # Safety
    /// The caller holds the owning heap's segment lock.
    pub(crate) unsafe fn claim_for_purge(seg: *mut Segment) -> u64 {
        // SAFETY: under the segment lock (caller).
        unsafe {
            Self::with_local(seg, |local| {
                let dirty_free = !local.used & !local.uncommitted & !local.purging;
                let ready = dirty_free & local.purge_candidates;
                #[cfg(not(allocgator_mutation = "purge_without_claim"))]
                {
                    local.purging |= ready;
                }
                local.purge_candidates = dirty_free & !ready;
                ready
            })
        }
    }

    /// Step 2, without the lock: decommits the slices `claim_for_purge` returned (also the
    /// owner's purge, under the lock), one call per run of adjacent slices.
    ///
    /// # Safety
    /// `bits` are free slices of this live segment that nobody takes, and the segment is not
    /// released, until the caller marks them decommitted: claimed by `claim_for_purge` and not
    /// yet finished, or free slices under the segment lock the caller holds.
    pub(crate) unsafe fn decommit_slices(seg: *mut Segment, bits: u64) {
        let mut rest = bits;
        while rest != 0 {
            let start = rest.trailing_zeros() as usize;
            let run = (!(rest >> start)).trailing_zeros() as usize;
            // SAFETY: free slices of a live segment that nobody uses or takes meanwhile
            // (caller).
            unsafe { Os::decommit(Self::slice_start(seg, start), run * SLICE_SIZE) };
            rest &= !span_bits(start, run);
        }
    }

    /// The tick's last pass, under the lock: every free committed slice becomes a candidate for
    /// the next tick. Returns whether there is any (work for a later tick).
    ///
    /// # Safety
    /// The caller holds the owning heap's segment lock.
    pub(crate) unsafe fn mark_purge_candidates(seg: *mut Segment) -> bool {
        // SAFETY: under the segment lock (caller).
        unsafe {
            Self::with_local(seg, |local| {
                let dirty_free = !local.used & !local.uncommitted & !local.purging;
                local.purge_candidates = dirty_free;
                dirty_free != 0
            })
        }
    }

    /// Step 3, under the lock again: the claimed slices are free and decommitted.
    ///
    /// # Safety
    /// The caller holds the owning heap's segment lock; `bits` were claimed by
    /// `claim_for_purge` and decommitted.
    pub(crate) unsafe fn finish_purge(seg: *mut Segment, bits: u64) {
        // SAFETY: under the segment lock (caller).
        unsafe {
            Self::with_local(seg, |local| {
                local.purging &= !bits;
                local.uncommitted |= bits;
                if Os::DECOMMIT_ZEROES {
                    local.zeroed |= bits;
                }
            })
        };
        // Relaxed: statistics.
        counters()
            .committed
            .fetch_sub(bits.count_ones() as usize * SLICE_SIZE, Ordering::Relaxed);
    }
}
