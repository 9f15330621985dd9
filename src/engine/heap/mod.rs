//! Heaps: a thread's (or a `Slab`'s) set of segments, with one page queue per size class.
//!
//! # Fast paths
//!
//! - [`Heap::alloc`]: direct-table lookup, pop from the page's `free`, one branch.
//! - [`Heap::free`]: mask to the segment, owner check, push on the page's `local_free`.
//!
//! Everything else is in `#[cold]` functions. A heap with no page for a size class points its
//! direct-table entries at its own `empty_page` (whose `free` is always null), so the fast path
//! never tests for "no page" or "not initialised": the sentinel heap a thread starts with is a
//! heap whose every entry is its empty page.
//!
//! # Ownership
//!
//! Only the owner touches a heap's local state: the thread whose thread-local points at it, the
//! holder of a `Slab`, or whoever holds the heap pool's lock for a pooled heap. Other threads
//! touch only `pending` (atomic) and their own counters — and the background purger, which
//! touches the segment state (the segment lists and each segment's slice bitmaps) under the
//! heap's segment lock, as the owner does too (see [`SegmentsGuard`] and `engine::purge`).

use crate::engine::page::{Page, FLAG_FIRST, FLAG_FULL, STATE_NORMAL};
use crate::engine::segment::{Segment, SegmentKind};
use crate::engine::size_class::{
    class_of, class_page_slices, class_size, direct_slot, direct_slots_of, CLASS_COUNT, DIRECT_MAX,
    DIRECT_SLOTS, MEDIUM_MAX,
};
use crate::engine::stats::{counters, owner_add, HeapCounters, LARGE_INDEX};
use crate::engine::{
    checked_round_up, huge, segment_of, Block, ALIGN_MAX, GUARD_PAGE, LARGE_MAX, SLICE_SIZE,
};
use crate::os::{now_ms, Os, OsMemory, OS_PAGE};
use crate::sync::{AtomicBool, AtomicPtr, Ordering, UnsafeCell};
use core::ptr;

// How long a free slice stays committed before a purge tick gives it back (and an empty
// segment stays mapped): between one and two periods of `ALLOCGATOR_PURGE_DELAY_MS` (the
// options layer sets it in `purge`; 0 purges everything free at the next slow path).
use crate::engine::purge::delay_ms as purge_delay_ms;

// The struct, its state and the fast paths are here; the rest by concept:
mod limit; // the allocation limit of a `Slab`'s heap
mod queue; // size-class page queues and the direct table
mod refill; // the allocation slow path and large blocks
mod remote; // frees from other threads and the pending stack
mod resize; // usable sizes and resizing in place
mod retire; // retiring pages, purge ticks, collect
mod segments; // the span search, segment lists, the segment walk

use refill::zero_block;
use retire::may_retire;
use segments::list_remove;

/// Class id of single-block (large) pages; also their counter index.
pub(crate) const LARGE: usize = LARGE_INDEX;

/// The remote half of a free (see [`Heap::free_via`]): the heap freeing, the block, its
/// segment; returns whether the heap was the sentinel.
pub(crate) type RemoteFree = unsafe extern "C" fn(&Heap, *mut u8, *mut Segment) -> bool;

/// Direct-table slots per class, precomputed.
const DIRECT_RANGES: [(u8, u8); CLASS_COUNT] = {
    let mut t = [(0u8, 0u8); CLASS_COUNT];
    let mut c = 0;
    while c < CLASS_COUNT {
        let (a, b) = direct_slots_of(c);
        t[c] = (a as u8, b as u8);
        c += 1;
    }
    t
};

/// A doubly linked queue of pages of one class that may have free blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageQueue {
    first: *const Page,
    last: *const Page,
}

/// What [`Heap::find_span`] found.
enum Span {
    /// A free run: its segment and first slice.
    Found(*mut Segment, usize),
    /// Nothing free now, but the background purger holds claims in the heap's segments.
    Claimed,
    /// Nothing free, and no new segment (the OS refused, or the run cannot fit one).
    None,
}

/// A list of segments.
#[derive(Debug, Clone, Copy)]
struct SegmentList {
    head: *mut Segment,
}

/// Owner-only heap state.
#[derive(Debug)]
pub(crate) struct HeapLocal {
    /// Size → page for requests up to `DIRECT_MAX` (the fast path's only lookup).
    direct: [*const Page; DIRECT_SLOTS],
    /// Pages with (possibly) free blocks, per class; full pages are in no queue.
    queues: [PageQueue; CLASS_COUNT],
    /// When the next purge tick is due (ms), or 0 if nothing is waiting.
    purge_due: u64,
    /// Free memory started waiting for a purge (`purge_due` was set from 0) since the last
    /// safe point: `maybe_purge` then calls `purge::memory_waiting` (which may allocate).
    waiting_news: bool,
    /// A thread heap, which the background purger also purges (see
    /// [`Heap::set_purged_in_background`]): only such a heap tells `memory_waiting`.
    purged_in_background: bool,
    /// Bytes the heap's allocation limit counts: the slices of its pages, and what its
    /// owner charged with [`Heap::charge`] (a `Slab`'s huge blocks).
    held: usize,
    /// Cap on `held` (`usize::MAX`: none). Only a `Slab` sets one.
    limit: usize,
    /// Requests refused because of the cap.
    limit_refusals: usize,
    /// This is the sentinel a thread starts with, not a real heap.
    sentinel: bool,
}

/// A heap's segments, under its segment lock (see [`SegmentsGuard`]).
#[derive(Debug)]
pub(crate) struct SegmentLists {
    /// Segments with at least one free slice.
    segments: SegmentList,
    /// Segments with every slice in use.
    full_segments: SegmentList,
}

/// A heap. Lives at a fixed address (OS memory, or a static for the sentinel).
#[derive(Debug)]
pub(crate) struct Heap {
    local: UnsafeCell<HeapLocal>,
    /// The segment lists; with the segments' own state (`SegmentLocal`), touched only under
    /// `segment_lock`.
    segs: UnsafeCell<SegmentLists>,
    /// Held by whoever touches this heap's segment state: the owner on its page-level slow
    /// paths (a page taken or given back, a purge tick, a walk), and the background purger
    /// (see `purge`), which is the only other thread that ever takes it.
    segment_lock: AtomicBool,
    /// Pages whose first remote free since they went full has arrived (see `page`): a stack
    /// that remote freers push onto and the owner takes whole.
    pending: AtomicPtr<Page>,
    /// Statistics, written by the owner only.
    pub(crate) counters: HeapCounters,
    /// The page every empty direct-table slot points at; never written.
    empty_page: Page,
    /// Link in the global registry of thread heaps (push-only; see `global`).
    pub(crate) registry_next: AtomicPtr<Heap>,
    /// Link in the pool of ownerless heaps (under the pool lock; see `global`).
    pub(crate) pool_next: AtomicPtr<Heap>,
}

// SAFETY: owner-only state is touched by the owner only (module docs); the rest is atomic.
// The sentinel's local state is never written.
unsafe impl Sync for Heap {}
// SAFETY: owner-only state is touched by one owner at a time: a heap changes owner only through a synchronising hand-off (the pool lock,
// or moving the `Slab` that owns it).
unsafe impl Send for Heap {}

impl HeapLocal {
    const fn new(empty_page: *const Page, sentinel: bool) -> Self {
        Self {
            direct: [empty_page; DIRECT_SLOTS],
            queues: [PageQueue {
                first: ptr::null(),
                last: ptr::null(),
            }; CLASS_COUNT],
            purge_due: 0,
            waiting_news: false,
            purged_in_background: false,
            held: 0,
            limit: usize::MAX,
            limit_refusals: 0,
            sentinel,
        }
    }
}

impl SegmentLists {
    const EMPTY: SegmentLists = SegmentLists {
        segments: SegmentList {
            head: ptr::null_mut(),
        },
        full_segments: SegmentList {
            head: ptr::null_mut(),
        },
    };

    /// Both lists, the segments with room first.
    pub(crate) fn both(&self) -> [*mut Segment; 2] {
        [self.segments.head, self.full_segments.head]
    }
}

/// A heap's segment lock, held: its segment lists and its segments' `SegmentLocal` state may
/// be touched while it lives. Released on drop.
///
/// The lock exists for the background purger, which decommits free slices of heaps whose
/// owner is busy elsewhere or asleep. The owner takes it once per page-level slow path (one
/// uncontended exchange); the purger holds it only to read and mark slice bitmaps, never
/// across a system call, so an owner that finds it taken waits for a few hundred instructions
/// at most.
pub(crate) struct SegmentsGuard<'a>(&'a Heap);

/// Acquire and release orders of the segment lock (a test-only switch weakens them so the
/// loom model `purger_and_owner_share_a_segment` can show the hand-over they provide).
const SEGMENT_LOCK_ORDERS: (Ordering, Ordering) = (
    crate::sync::weakened!(Acquire, "segment_lock_relaxed"),
    crate::sync::weakened!(Release, "segment_lock_relaxed"),
);

impl SegmentsGuard<'_> {
    /// Runs `f` on the heap's segment lists; the borrow ends when `f` returns.
    ///
    /// # Safety
    /// No other borrow of the lists is live, and `f` does not reach them again (no
    /// [`segments`](Self::segments) walk, no `with_lists`).
    #[inline]
    pub(crate) unsafe fn with_lists<R>(&self, f: impl FnOnce(&mut SegmentLists) -> R) -> R {
        // SAFETY: we hold the segment lock, which is what guards the lists; no other borrow
        // of them while `f` runs (caller), and the `&mut` does not outlive the closure.
        self.0.segs.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Every segment of the heap, those with room first, then the full ones: the one walk
    /// over a heap's segments. Each segment's link is read before it is yielded, so the
    /// caller may destroy the segment it was given.
    ///
    /// # Safety
    /// The lists are not changed while the walk runs, except by destroying the segment just
    /// yielded; no other borrow of the lists is live while `next` reads them.
    #[inline]
    pub(crate) unsafe fn segments(&self) -> SegmentWalk<'_> {
        // SAFETY: no other borrow of the lists (caller); the heads are copied out.
        let heads = unsafe { self.with_lists(|l| l.both()) };
        SegmentWalk {
            heads,
            list: 0,
            next: ptr::null_mut(),
            _guard: core::marker::PhantomData,
        }
    }
}

impl SegmentsGuard<'_> {
    /// The segments with room only (full segments have no free slice), as
    /// [`segments`](Self::segments) walks them.
    ///
    /// # Safety
    /// As for [`segments`](Self::segments).
    #[inline]
    pub(crate) unsafe fn segments_with_room(&self) -> SegmentWalk<'_> {
        // SAFETY: as for `segments` (caller).
        let mut walk = unsafe { self.segments() };
        walk.heads[1] = ptr::null_mut();
        walk
    }
}

/// The walk of [`SegmentsGuard::segments`]: yields each listed segment once.
pub(crate) struct SegmentWalk<'a> {
    heads: [*mut Segment; 2],
    /// The list `next` belongs to, plus one (0: not started).
    list: usize,
    next: *mut Segment,
    /// The walk reads links under the lock: it cannot outlive the guard.
    _guard: core::marker::PhantomData<&'a SegmentsGuard<'a>>,
}

impl Iterator for SegmentWalk<'_> {
    type Item = *mut Segment;

    #[inline]
    fn next(&mut self) -> Option<*mut Segment> {
        while self.next.is_null() {
            if self.list == self.heads.len() {
                return None;
            }
            self.next = self.heads[self.list];
            self.list += 1;
        }
        let seg = self.next;
        // SAFETY: a listed segment of the heap, valid while the guard that made this walk is
        // held and the lists are unchanged (`segments`' contract); read before the caller
        // may destroy it.
        self.next = unsafe { Segment::with_local(seg, |l| l.next) };
        Some(seg)
    }
}

impl Drop for SegmentsGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: our changes to the segment state reach the next holder's Acquire.
        self.0.segment_lock.store(false, SEGMENT_LOCK_ORDERS.1);
    }
}

impl Heap {
    /// Takes this heap's segment lock, waiting while the background purger holds it (it
    /// holds it only briefly; see [`SegmentsGuard`]).
    #[inline]
    pub(crate) fn lock_segments(&self) -> SegmentsGuard<'_> {
        // Acquire: the previous holder's changes to the segment state are visible to us.
        // (An RMW each try, not a spin on a load: the lock is almost always free, and an
        // RMW keeps the loom models free of unbounded stale-read loops.)
        while self
            .segment_lock
            .compare_exchange_weak(false, true, SEGMENT_LOCK_ORDERS.0, Ordering::Relaxed)
            .is_err()
        {
            crate::sync::spin_hint();
        }
        SegmentsGuard(self)
    }

    /// Takes this heap's segment lock if it is free (the purger's way: it never waits for an
    /// owner).
    #[inline]
    pub(crate) fn try_lock_segments(&self) -> Option<SegmentsGuard<'_>> {
        // Acquire: as in `lock_segments`.
        self.segment_lock
            .compare_exchange(false, true, SEGMENT_LOCK_ORDERS.0, Ordering::Relaxed)
            .ok()
            .map(|_| SegmentsGuard(self))
    }

    /// The sentinel heap threads start with: every lookup finds `empty_page`.
    ///
    /// `this` must be the address the sentinel will live at.
    #[cfg(not(loom))]
    pub(crate) const fn sentinel(this: *const Heap) -> Heap {
        // SAFETY: only computes the address of a field of the (static) sentinel.
        let empty_page = unsafe { ptr::addr_of!((*this).empty_page) };
        Heap {
            local: UnsafeCell::new(HeapLocal::new(empty_page, true)),
            segs: UnsafeCell::new(SegmentLists::EMPTY),
            segment_lock: AtomicBool::new(false),
            pending: AtomicPtr::new(ptr::null_mut()),
            counters: HeapCounters::new(),
            empty_page: Page::new(),
            registry_next: AtomicPtr::new(ptr::null_mut()),
            pool_next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Maps and sets up a new, empty heap. Null if the OS refuses.
    pub(crate) fn create() -> *mut Heap {
        #[cfg(all(feature = "hardened", not(loom)))]
        crate::engine::hardened::init();
        let size = checked_round_up(core::mem::size_of::<Heap>(), OS_PAGE).unwrap_or(0);
        // SAFETY: a non-zero multiple of OS_PAGE, page-aligned.
        let heap = unsafe { Os::map(size, OS_PAGE) }.cast::<Heap>();
        if heap.is_null() {
            return heap;
        }
        // SAFETY: a fresh mapping large enough for a Heap; every field is written before use.
        unsafe {
            let empty_page = ptr::addr_of!((*heap).empty_page);
            ptr::addr_of_mut!((*heap).local)
                .write(UnsafeCell::new(HeapLocal::new(empty_page, false)));
            ptr::addr_of_mut!((*heap).segs).write(UnsafeCell::new(SegmentLists::EMPTY));
            ptr::addr_of_mut!((*heap).segment_lock).write(AtomicBool::new(false));
            ptr::addr_of_mut!((*heap).pending).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*heap).counters).write(HeapCounters::new());
            ptr::addr_of_mut!((*heap).empty_page).write(Page::new());
            ptr::addr_of_mut!((*heap).registry_next).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*heap).pool_next).write(AtomicPtr::new(ptr::null_mut()));
        }
        let c = counters();
        // Relaxed: statistics.
        c.reserved.fetch_add(size, Ordering::Relaxed);
        c.committed.fetch_add(size, Ordering::Relaxed);
        heap
    }

    /// Releases every segment of a heap, live blocks included, and the heap itself (a private
    /// heap's drop).
    ///
    /// # Safety
    /// The caller owns the heap; no block of it is used afterwards, no other thread frees into
    /// it, and the heap is not used again.
    #[cfg_attr(not(test), allow(dead_code))] // private heaps: `Slab`, the tests, loom models
    pub(crate) unsafe fn destroy(heap: *mut Heap) {
        // Blocks still live go with the heap: take them off the process-wide live bytes.
        // SAFETY: the caller owns the heap and no longer uses it or its blocks.
        unsafe {
            (*heap).fold_all();
            let counters = &(*heap).counters;
            // Relaxed: owner-only figure.
            let live = counters.live_bytes.load(Ordering::Relaxed);
            counters.note_live_bytes(live.wrapping_neg());
            counters.flush_pending();
        }
        // SAFETY: the heap is valid (caller).
        let guard = unsafe { (*heap).lock_segments() };
        // SAFETY: we hold the lock; no other borrow of the lists, which change only by the
        // destruction of the segment just yielded.
        for seg in unsafe { guard.segments() } {
            // SAFETY: our segment, which nothing uses any more (caller).
            unsafe { Segment::destroy(seg) };
        }
        drop(guard);
        let size = checked_round_up(core::mem::size_of::<Heap>(), OS_PAGE).unwrap_or(0);
        let c = counters();
        // Relaxed: statistics.
        c.reserved.fetch_sub(size, Ordering::Relaxed);
        c.committed.fetch_sub(size, Ordering::Relaxed);
        // SAFETY: the mapping made in `create`, no longer used (caller).
        unsafe { Os::unmap(heap.cast(), size, OS_PAGE) };
    }

    /// Marks a thread heap, which the background purger walks too: from now on it tells
    /// `purge::memory_waiting` when its free memory starts waiting for a purge (a private
    /// heap's, a `Slab`'s, would start a purger that never looks at it).
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn set_purged_in_background(&self) {
        // SAFETY: the caller owns the heap.
        unsafe { self.with_local(|l| l.purged_in_background = true) };
    }

    /// Runs `f` on the heap's local state; the borrow ends when `f` returns.
    ///
    /// # Safety
    /// The caller owns the heap, and `f` does not reach the heap's local state again.
    #[inline(always)]
    unsafe fn with_local<R>(&self, f: impl FnOnce(&mut HeapLocal) -> R) -> R {
        // SAFETY: the owner's access (caller); nothing else borrows the local state while `f`
        // runs (caller), and the `&mut` does not outlive the closure.
        self.local.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// True for the sentinel heap (a thread with no heap yet).
    #[inline]
    pub(crate) fn is_sentinel(&self) -> bool {
        // SAFETY: a shared read of a field written only at construction.
        self.local.with(|p| unsafe { (*p).sentinel })
    }

    /// The page the direct table gives for `slot`.
    #[inline(always)]
    fn direct_page(&self, slot: usize) -> &Page {
        // SAFETY: `slot < DIRECT_SLOTS` (callers pass `direct_slot` of a size <= DIRECT_MAX); a
        // shared read (the sentinel is read by many threads and never written); every entry
        // points at a live page of this heap or at `empty_page`.
        unsafe { &**self.local.with(|p| (*p).direct.as_ptr().add(slot)) }
    }

    // ----------------------------------------------------------------------------------------
    // Fast paths
    // ----------------------------------------------------------------------------------------

    /// The allocation fast path alone: a block from the direct table, or null (the caller then
    /// takes [`alloc_slow`](Self::alloc_slow)). Kept separate so a caller can make the miss a
    /// tail call, which leaves the fast path without a stack frame.
    ///
    /// # Safety
    /// The caller owns the heap (the sentinel may be used by anyone); `align` is a power of
    /// two and `size` rounded up to `align` does not overflow `isize` (as for a `Layout`).
    #[inline(always)]
    pub(crate) unsafe fn alloc_fast(&self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: `pop_direct` asks what this function does: the caller owns the heap (or it
        // is the sentinel), and `size`/`align` are a valid layout.
        unsafe { self.pop_direct::<false>(size, align) }
    }

    /// The shared body of the fast paths: pop from the direct table's page for the size, or
    /// null. `ZERO` (a constant, so each fast path keeps only its own branch) zeroes the block.
    ///
    /// # Safety
    /// As for [`alloc_fast`](Self::alloc_fast).
    #[inline(always)]
    unsafe fn pop_direct<const ZERO: bool>(&self, size: usize, align: usize) -> *mut u8 {
        let rounded = (size + align - 1) & !(align - 1);
        if rounded <= DIRECT_MAX {
            let page = self.direct_page(direct_slot(rounded));
            let block = page.free_head();
            if !block.is_null() {
                // SAFETY: the page is ours (its free list is non-empty, so it is not the
                // empty page) and `block` is its head; as the owner we may read its flags.
                // Once popped, the block (of the page's block size, a size class of at least
                // `rounded >= size` bytes) is ours to zero and to write its canary into.
                unsafe {
                    let was_zero = ZERO && page.free_is_zero();
                    page.pop_known(block);
                    if ZERO {
                        zero_block(block, was_zero, page.block_size());
                    }
                    #[cfg(all(feature = "hardened", not(loom)))]
                    crate::engine::canary::set(block.cast(), page.block_size(), size);
                    #[cfg(feature = "checked")]
                    crate::engine::checked::on_alloc(block.cast());
                }
                return block.cast();
            }
        }
        ptr::null_mut()
    }

    /// Allocates `size` bytes aligned to `align`. Null on failure, or if this is the sentinel
    /// (the caller then sets up a real heap and retries).
    ///
    /// # Safety
    /// As for [`alloc_fast`](Self::alloc_fast).
    #[inline(always)]
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // private heaps: tests, loom, `Slab`
    pub(crate) unsafe fn alloc(&self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: the caller owns the heap (or it is the sentinel); a valid layout.
        let p = unsafe { self.alloc_fast(size, align) };
        if !p.is_null() {
            return p;
        }
        // SAFETY: as for `alloc_fast`, which `alloc_slow` asks too.
        unsafe { self.alloc_slow(size, align, false) }
    }

    /// As [`alloc_fast`](Self::alloc_fast), and the whole usable block reads as zeros.
    ///
    /// # Safety
    /// As for [`alloc_fast`](Self::alloc_fast).
    #[inline(always)]
    pub(crate) unsafe fn alloc_zeroed_fast(&self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: `pop_direct` asks what this function does: the caller owns the heap (or it
        // is the sentinel), and `size`/`align` are a valid layout.
        unsafe { self.pop_direct::<true>(size, align) }
    }

    /// Frees a block, from any heap: local blocks go on their page's `local_free`, others to
    /// their owner's `thread_free`. Returns whether this heap is the sentinel (the free was
    /// counted in the process-wide heapless counters, which every heapless thread shares: the
    /// caller may give the thread a heap of its own).
    ///
    /// # Safety
    /// `p` is a live block of this engine (any heap, any thread) and is not used afterwards.
    /// The caller owns this heap (or it is the sentinel).
    #[inline(always)]
    pub(crate) unsafe fn free(&self, p: *mut u8) -> bool {
        // SAFETY: `p` is a live engine block, not used afterwards, and the caller owns this heap
        // (or it is the sentinel); `free_remote` is the remote half `free_via` expects.
        unsafe { self.free_via(p, Heap::free_remote) }
    }

    /// As [`free`](Self::free), with `remote` in place of [`free_remote`](Self::free_remote)
    /// for blocks of other heaps: a caller with more to do on that path (the global path
    /// gives a heapless thread a heap) passes a function that calls `free_remote` and does
    /// it, and the fast path still ends in a jump, with no stack frame of its own.
    ///
    /// # Safety
    /// As for [`free`](Self::free); `remote` frees `p` as `free_remote` does.
    #[inline(always)]
    pub(crate) unsafe fn free_via(&self, p: *mut u8, remote: RemoteFree) -> bool {
        #[cfg(feature = "checked")]
        // SAFETY: the check reads only memory it has proved is ours.
        unsafe {
            crate::engine::checked::on_free(p)
        };
        #[cfg(all(feature = "hardened", not(loom)))]
        // SAFETY: the check reads only memory it has proved is ours.
        unsafe {
            crate::engine::hardened::check_free(p)
        };
        let seg = segment_of(p);
        // The block with the segment's provenance: the same pointer natively (`segment_of`
        // derives `seg` from `p`), but under Miri the mapping's own, which covers the whole
        // block — `p` may only cover the value a `Box` held, shorter than the link we write.
        let p = seg.cast::<u8>().with_addr(p.addr());
        // Relaxed: the segment's owner is fixed while it has live blocks; the block's hand-off
        // to us ordered its initialisation.
        // SAFETY: `p` is a live block, so its segment header is mapped.
        if unsafe { (*seg).heap.load(Ordering::Relaxed) } == (self as *const Heap).cast_mut() {
            #[cfg(all(feature = "hardened", not(loom)))]
            {
                // SAFETY: `seg` is a `Pages` segment (this heap's) and `p` lies in it.
                let page = unsafe { Segment::page_of(seg, p) };
                // SAFETY: the caller owns this heap and so the page; `p` lies in the page.
                let suspicious = unsafe {
                    page.with_local(|local| {
                        crate::engine::hardened::suspicious_local(local, page, p.cast())
                    })
                };
                if suspicious {
                    // SAFETY: the caller owns this heap, and `p` lies in one of its pages.
                    return unsafe { self.free_local_suspicious(p) };
                }
            }
            // SAFETY: the caller owns this heap, and `p` is a live block of one of its
            // pages, freed once (caller).
            unsafe { self.free_local(seg, p) };
            false
        } else {
            // SAFETY: a live block of another heap (caller); `seg` is its segment; `remote`
            // frees it as `free_remote` does (caller).
            unsafe { remote(self, p, seg) }
        }
    }

    /// The local half of a free: the block goes on its page's `local_free`.
    ///
    /// # Safety
    /// The caller owns this heap; `p` is a live block of one of its pages (in segment `seg`),
    /// not used afterwards.
    #[inline(always)]
    unsafe fn free_local(&self, seg: *mut Segment, p: *mut u8) {
        // SAFETY: `seg` is a `Pages` segment (this heap's: heaps own only those) and `p` a
        // live block in one of its pages.
        let page = unsafe { Segment::page_of(seg, p) };
        let block = p.cast::<Block>();
        #[cfg(all(feature = "hardened", not(loom)))]
        // SAFETY: `block` is a block of the page, freed by its owner (caller) and no longer
        // used: its bytes are ours.
        unsafe {
            crate::engine::hardened::scrub(block, page.block_size())
        };
        // SAFETY: the caller owns this heap, so its page's local state is ours; the closure
        // does not reach it again. `block` is a freed block of the page, not used again by
        // the caller (`# Safety`), so its first word may hold our link.
        let (emptied, flags) = unsafe {
            page.with_local(|local| {
                Block::set_next(block, local.local_free);
                local.local_free = block;
                local.used -= 1;
                (local.used == 0, local.flags)
            })
        };
        // An empty page is given back unless it heads its queue (so a loop that allocates and
        // frees one block does not give its page back each time). Slow work only for a full
        // page, or an emptied page that is not its queue's head: `flags == FLAG_FIRST` (the
        // common empty case of a hot loop) is one compare, and so is `flags & FLAG_FULL` for a
        // page still in use. Written as two branches: as one boolean expression the compiler
        // sometimes evaluated both halves with `setcc`s, four instructions more on every free.
        if emptied {
            if flags != FLAG_FIRST {
                // SAFETY: the caller owns this heap, and `p` is the block of ours just freed,
                // which is what `free_local_slow` takes.
                unsafe { self.free_local_slow(p) };
            }
        } else if flags & FLAG_FULL != 0 {
            // SAFETY: the caller owns this heap, and `p` is the block of ours just freed.
            unsafe { self.free_local_slow(p) };
        }
    }

    /// Hardened build: a local free that [`hardened::suspicious_local`] flagged. Aborts with a
    /// report if it is a bad free, and frees the block otherwise. Out of line and in tail
    /// position, so the free fast path keeps no stack frame for it. Returns false (a local
    /// free, as `free_via` returns).
    ///
    /// [`hardened::suspicious_local`]: crate::engine::hardened::suspicious_local
    ///
    /// # Safety
    /// The caller owns this heap, and `p` lies in one of its pages.
    #[cfg(all(feature = "hardened", not(loom)))]
    #[cold]
    #[inline(never)]
    unsafe extern "C" fn free_local_suspicious(&self, p: *mut u8) -> bool {
        let seg = segment_of(p);
        // SAFETY: `seg` is one of this heap's `Pages` segments and `p` lies in it (caller).
        let page = unsafe { Segment::page_of(seg, p) };
        // SAFETY: the caller owns the heap and so the page; the closure does not reach the
        // page's local state again.
        unsafe {
            page.with_local(|local| crate::engine::hardened::diagnose_local(local, page, p.cast()))
        };
        // SAFETY: the diagnosis returned: `p` is a live block of the page, freed once.
        unsafe { self.free_local(seg, p) };
        false
    }

    /// A local free of the block at `p` hit a full page or emptied a page that is not first in
    /// its queue. (It takes the block, not its page, so that the fast path keeps no page
    /// address live for the call: the compiler had hoisted its computation above the branch.)
    ///
    /// `extern "C"` (here and on the other slow paths the fast paths call) declares it
    /// cannot unwind, which it cannot: a caller that must not unwind either — a C `free` —
    /// then needs no abort-on-unwind landing pad around the call and can make it a tail call.
    #[cold]
    #[inline(never)]
    unsafe extern "C" fn free_local_slow(&self, p: *mut u8) {
        // SAFETY: `p` was a live block of ours, just freed: its segment and page are ours.
        let page = unsafe { Segment::page_of(segment_of(p), p) };
        let class = page.class() as usize;
        // SAFETY: the caller owns the heap and so the page.
        unsafe { self.fold(page) };
        // Each borrow of the page's local state below ends within its statement: queue and
        // retire operations borrow it again.
        if class == LARGE {
            // The page's only block: nobody else can be freeing into it, so the page is
            // still ARMED and disarming succeeds.
            // SAFETY: the caller owns the page.
            let disarmed = unsafe { page.disarm() };
            debug_assert!(disarmed);
            // SAFETY: the caller owns the page; the closure touches only its flags.
            unsafe { page.with_local(|l| l.set_full(false)) };
            owner_add(&self.counters.large_bytes, page.block_size().wrapping_neg());
            // SAFETY: a large page is on no queue; its one block was just freed (`used ==
            // 0`) and it is disarmed (`NORMAL`). Nothing of the heap is borrowed for the
            // purge tick.
            unsafe {
                self.retire_page(page);
                self.maybe_purge();
            }
            return;
        }
        // SAFETY: the caller owns the page; the closure reads only its flags.
        if unsafe { page.with_local(|l| l.in_full()) } {
            // If a remote freer took the notification (disarm fails), the page is coming
            // through the pending stack as well; queueing it now is still right.
            // SAFETY: the caller owns the page, which, being full, is on no queue: it joins
            // its class's queue.
            unsafe {
                page.disarm();
                page.with_local(|l| l.set_full(false));
                self.queue_push_back(class, page);
            }
        }
        // SAFETY: the caller owns the page; the closure only reads.
        let empty = unsafe { page.with_local(|l| l.used == 0 && !l.is_first()) };
        if empty && may_retire(page) {
            // SAFETY: the page is on queue `class`, has no live block and is `NORMAL`
            // (`may_retire`); nothing of the heap is borrowed for the purge tick.
            unsafe {
                self.queue_remove(class, page);
                self.retire_page(page);
                // A page emptied: the purge tick's other trigger besides the allocation slow
                // path, so a program that frees a burst and then stays on the fast paths
                // still gives the burst back (whatever was freed a delay before the last
                // emptied page).
                self.maybe_purge();
            }
        }
    }
}

#[cfg(test)]
mod tests;
