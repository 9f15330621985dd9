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
//! heap's segment lock, as the owner does too (see [`SegmentsGuard`] and `super::purge`).

use super::page::{Page, FLAG_FIRST, STATE_NORMAL};
use super::segment::{Segment, SegmentKind};
use super::size_class::{
    class_of, class_page_slices, class_size, direct_slot, direct_slots_of, CLASS_COUNT, DIRECT_MAX,
    DIRECT_SLOTS, MEDIUM_MAX,
};
use super::stats::{counters, owner_add, HeapCounters, LARGE_INDEX};
use super::{
    checked_round_up, huge, segment_of, Block, ALIGN_MAX, LARGE_ALIGN_MAX, LARGE_MAX, SLICE_SIZE,
};
use crate::os::{now_ms, Os, OsMemory, OS_PAGE};
use crate::sync::{AtomicBool, AtomicPtr, Ordering, UnsafeCell};
use core::ptr;

// How long a free slice stays committed before a purge tick gives it back (and an empty
// segment stays mapped): between one and two periods of `ALLOCGATOR_PURGE_DELAY_MS` (the
// options layer sets it in `purge`; 0 purges everything free at the next slow path).
use super::purge::delay_ms as purge_delay_ms;

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
// SAFETY: as above; a heap changes owner only through a synchronising hand-off (the pool lock,
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
    /// The heap's segment lists.
    ///
    /// # Safety
    /// No other borrow of the lists is live.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn lists(&self) -> &mut SegmentLists {
        // SAFETY: we hold the segment lock, which is what guards the lists; exclusivity among
        // our own borrows is the caller's promise.
        self.0.segs.with_mut(|p| unsafe { &mut *p })
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
    #[cfg_attr(not(test), allow(dead_code))] // private heaps: tests now, `Slab` next
    pub(crate) unsafe fn destroy(heap: *mut Heap) {
        // Blocks still live go with the heap: take them off the process-wide live bytes.
        // SAFETY: owner (caller).
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
        // SAFETY: we hold the lock; no other borrow of the lists.
        for head in unsafe { guard.lists() }.both() {
            let mut seg = head;
            while !seg.is_null() {
                // SAFETY: our segment; read its link before unmapping it.
                unsafe {
                    let next = Segment::local(seg).next;
                    Segment::destroy(seg);
                    seg = next;
                }
            }
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
        // SAFETY: owner (caller).
        unsafe { self.local().purged_in_background = true };
    }

    /// Owner access to the local state.
    ///
    /// # Safety
    /// The caller owns the heap and holds no other borrow of its local state.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn local(&self) -> &mut HeapLocal {
        // SAFETY: exclusive access is the caller's promise.
        self.local.with_mut(|p| unsafe { &mut *p })
    }

    /// True for the sentinel heap (a thread with no heap yet).
    #[inline]
    pub(crate) fn is_sentinel(&self) -> bool {
        // SAFETY: a shared read of a field written only at construction.
        self.local.with(|p| unsafe { (*p).sentinel })
    }

    /// Sets or lifts (`usize::MAX`) the cap on the bytes this heap holds in pages (and what
    /// its owner charges); a page or large block past it is refused.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn set_limit(&self, limit: usize) {
        // SAFETY: owner (caller).
        unsafe { self.local().limit = limit };
    }

    /// The bytes the limit counts, the limit, and the requests it refused.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn limit_figures(&self) -> (usize, usize, usize) {
        // SAFETY: owner (caller).
        let local = unsafe { self.local() };
        (local.held, local.limit, local.limit_refusals)
    }

    /// Counts `bytes` more as held if that stays within the limit; false if not (the
    /// caller counts the refusal with [`refuse`](Self::refuse) if the request fails for it).
    ///
    /// # Safety
    /// The caller owns the heap.
    #[inline]
    pub(crate) unsafe fn charge(&self, bytes: usize) -> bool {
        // SAFETY: owner (caller).
        let local = unsafe { self.local() };
        match local.held.checked_add(bytes) {
            Some(held) if held <= local.limit => {
                local.held = held;
                true
            }
            _ => false,
        }
    }

    /// Counts a request refused by the limit.
    ///
    /// # Safety
    /// The caller owns the heap.
    #[cold]
    pub(crate) unsafe fn refuse(&self) {
        // SAFETY: owner (caller).
        unsafe { self.local().limit_refusals += 1 };
    }

    /// Stops counting `bytes` as held.
    ///
    /// # Safety
    /// The caller owns the heap; `bytes` were charged.
    #[inline]
    pub(crate) unsafe fn uncharge(&self, bytes: usize) {
        // SAFETY: owner (caller).
        let local = unsafe { self.local() };
        local.held = local.held.wrapping_sub(bytes);
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
        // SAFETY: forwarded.
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
                unsafe {
                    let was_zero = ZERO && page.local().free_is_zero;
                    page.pop_known(block);
                    if ZERO {
                        zero_block(block, was_zero, page.block_size());
                    }
                    #[cfg(feature = "checked")]
                    super::checked::on_alloc(block.cast());
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
        // SAFETY: forwarded.
        unsafe {
            let p = self.alloc_fast(size, align);
            if !p.is_null() {
                return p;
            }
            self.alloc_slow(size, align, false)
        }
    }

    /// As [`alloc_fast`](Self::alloc_fast), and the whole usable block reads as zeros.
    ///
    /// # Safety
    /// As for [`alloc_fast`](Self::alloc_fast).
    #[inline(always)]
    pub(crate) unsafe fn alloc_zeroed_fast(&self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: forwarded.
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
            super::checked::on_free(p)
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
            // SAFETY: our own block: the page is ours, the block's memory ours to link.
            unsafe {
                let page = Segment::page_of(seg, p);
                let local = page.local();
                let block = p.cast::<Block>();
                Block::set_next(block, local.local_free);
                local.local_free = block;
                local.used -= 1;
                // An empty page is given back unless it heads its queue (so a loop that allocates
                // and frees one block does not give its page back each time).
                // Slow work only for a full page, or an emptied page that is not its queue's
                // head: `flags == FLAG_FIRST` (the common empty case of a hot loop) is one
                // compare, and so is `flags & FLAG_FULL` for a page still in use.
                if (local.used == 0 && local.flags != FLAG_FIRST) || local.in_full() {
                    self.free_local_slow(page);
                }
            }
            false
        } else {
            // SAFETY: a live block of another heap (caller); `seg` is its segment; `remote`
            // frees it as `free_remote` does (caller).
            unsafe { remote(self, p, seg) }
        }
    }

    /// Adds the page's blocks handed out (or given back) since its last fold to this heap's
    /// live-block counter for its class.
    ///
    /// The fast paths do not count: they change only the page's `used`, and the slow paths fold
    /// a page whenever they touch it (refill, full, un-full, retire, remote collection), as do
    /// `collect` (thread exit, `trim`) and a snapshot of the caller's own heap. A snapshot
    /// therefore sees other running threads' figures as of their last slow path (jemalloc
    /// counts at tcache fill and flush the same way); counting on every operation cost about
    /// 15% on a random-size loop (W2-A).
    ///
    /// # Safety
    /// The caller owns the heap and the page.
    #[inline]
    unsafe fn fold(&self, page: &Page) {
        // SAFETY: owner (caller).
        let local = unsafe { page.local() };
        let delta = local.used.wrapping_sub(local.counted);
        if delta != 0 {
            local.counted = local.used;
            let class = page.class() as usize;
            debug_assert!(class <= CLASS_COUNT);
            // Sign-extend the 32-bit difference: the counter wraps as a signed figure.
            let blocks = delta as i32 as isize as usize;
            // SAFETY: a page's class is a size class or LARGE (`CLASS_COUNT`), in range.
            owner_add(unsafe { self.counters.live.get_unchecked(class) }, blocks);
            self.counters
                .note_live_bytes(blocks.wrapping_mul(page.block_size()));
        }
    }

    /// Folds every page of this heap (see [`fold`](Self::fold)): the heap's counters are then
    /// exact.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn fold_all(&self) {
        let guard = self.lock_segments();
        // SAFETY: owner (caller); listed segments and their pages are ours; we hold the
        // segment lock.
        unsafe {
            for head in guard.lists().both() {
                let mut seg = head;
                while !seg.is_null() {
                    Segment::for_each_page(seg, |page| self.fold(page));
                    seg = Segment::local(seg).next;
                }
            }
        }
        self.counters.flush_pending();
    }

    // ----------------------------------------------------------------------------------------
    // Slow paths
    // ----------------------------------------------------------------------------------------

    /// Everything the fast path does not do: other sizes and alignments, refilling, large and
    /// huge blocks.
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc).
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn alloc_slow(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { self.alloc_slow_unchecked(size, align, zero) };
        #[cfg(feature = "checked")]
        if !p.is_null() {
            // SAFETY: a block just taken, not yet handed out.
            unsafe { super::checked::on_alloc(p) };
        }
        p
    }

    /// The body of [`alloc_slow`](Self::alloc_slow) (which adds the `checked` bookkeeping).
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc).
    #[inline(always)]
    unsafe fn alloc_slow_unchecked(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        if self.is_sentinel() || align > ALIGN_MAX {
            return ptr::null_mut();
        }
        let Some(rounded) = checked_round_up(size.max(1), align) else {
            return ptr::null_mut();
        };
        // SAFETY: owner (caller).
        unsafe {
            if rounded <= MEDIUM_MAX {
                // The class queue's head usually has a block (sizes past the direct table), or
                // its own frees waiting in `local_free` (a loop that allocates and frees).
                let class = class_of(rounded);
                if let Some(page) = self.local().queues[class].first.as_ref() {
                    self.fold(page);
                    // Or a few more never-used blocks carved from it (a page is carved about
                    // 4 KiB at a time, so a fresh page is not made resident all at once).
                    if page.take_local_free() || page.extend() {
                        return self.pop_counted(page, class, zero);
                    }
                }
            }
            self.alloc_refill(size, align, rounded, zero)
        }
    }

    /// The rest of the slow path, out of line so the refill from the queue head above keeps
    /// a small frame: collect pending pages, run a due purge tick, then a new page, a large
    /// block or a huge one.
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc); `rounded` is `size` rounded up to `align`.
    #[inline(never)]
    unsafe fn alloc_refill(
        &self,
        size: usize,
        align: usize,
        rounded: usize,
        zero: bool,
    ) -> *mut u8 {
        // SAFETY: owner (caller).
        unsafe {
            self.process_pending();
            self.maybe_purge();
            if rounded <= MEDIUM_MAX {
                self.alloc_class(class_of(rounded), zero)
            } else if rounded <= LARGE_MAX && align <= LARGE_ALIGN_MAX {
                self.alloc_large(rounded, align, zero)
            } else {
                huge::alloc(size, align, zero)
            }
        }
    }

    /// Allocates a block of `class`.
    unsafe fn alloc_class(&self, class: usize, zero: bool) -> *mut u8 {
        // SAFETY: owner (caller of the slow path); `find_page` returns a page with a block.
        unsafe {
            match self.find_page(class) {
                Some(page) => self.pop_counted(page, class, zero),
                None => ptr::null_mut(),
            }
        }
    }

    /// Pops the head of `page`'s non-empty free list and zeroes it if asked (the page's fold
    /// counts it later).
    ///
    /// # Safety
    /// The caller owns the page, whose `free` list is not empty; `class` is its class.
    #[inline(always)]
    unsafe fn pop_counted(&self, page: &Page, class: usize, zero: bool) -> *mut u8 {
        // SAFETY: forwarded (caller).
        unsafe {
            let block = page.free_head();
            let was_zero = page.local().free_is_zero;
            page.pop_known(block);
            if zero {
                zero_block(block, was_zero, class_size(class));
            }
            block.cast()
        }
    }

    /// A page of `class` with a free block, moved to the front of its queue.
    unsafe fn find_page(&self, class: usize) -> Option<&Page> {
        // SAFETY: owner (caller); every page on the queue is ours.
        unsafe {
            let mut page_ptr = self.local().queues[class].first;
            while let Some(page) = page_ptr.as_ref() {
                page.collect();
                self.fold(page);
                if page.free_head().is_null() {
                    page.extend();
                }
                if !page.free_head().is_null() {
                    if !ptr::eq(self.local().queues[class].first, page) {
                        self.queue_remove(class, page);
                        self.queue_push_front(class, page);
                    }
                    #[cfg(debug_assertions)]
                    page.check_invariant();
                    return Some(page);
                }
                let next = page.local().next;
                if !self.make_full(class, page) {
                    continue; // a remote free just arrived: collect it
                }
                page_ptr = next;
            }
            self.new_page(class)
        }
    }

    /// Takes a page with no free block out of its queue. Returns false (page left in place) if
    /// a remote free arrived meanwhile.
    unsafe fn make_full(&self, class: usize, page: &Page) -> bool {
        // SAFETY: owner (caller).
        unsafe {
            // A NOTIFIED page is (or will be) on the pending stack and comes back from there;
            // any other queued page is NORMAL and must be armed so the next remote free tells
            // us.
            if page.state() == STATE_NORMAL && !page.arm() {
                return false;
            }
            self.queue_remove(class, page);
            page.local().set_full(true);
            true
        }
    }

    /// Sets up a fresh page for `class` at the front of its queue.
    unsafe fn new_page(&self, class: usize) -> Option<&Page> {
        let slices = class_page_slices(class);
        // SAFETY: owner (caller); the span is free and ours.
        unsafe {
            let (page, seg, index, fresh) = self.take_span(slices, 1)?;
            page.init(
                Segment::slice_start(seg, index),
                slices,
                class as u8,
                class_size(class),
                fresh,
            );
            page.extend();
            self.queue_push_front(class, page);
            Some(page)
        }
    }

    /// A large block: a page of its own spanning `size / SLICE_SIZE` slices (rounded up).
    unsafe fn alloc_large(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let slices = size.div_ceil(SLICE_SIZE);
        let align_slices = (align / SLICE_SIZE).max(1);
        // SAFETY: owner (caller); the span is free and ours.
        unsafe {
            let Some((page, seg, index, fresh)) = self.take_span(slices, align_slices) else {
                return ptr::null_mut();
            };
            let bytes = slices * SLICE_SIZE;
            let start = Segment::slice_start(seg, index);
            page.init(start, slices, LARGE as u8, bytes, fresh);
            page.extend();
            let block = page.free_head();
            page.pop_known(block);
            // The page is full from the start: arm it so a remote free notifies us. Nobody
            // else can hold the block yet, so arming cannot fail.
            let armed = page.arm();
            debug_assert!(armed);
            page.local().set_full(true);
            self.fold(page);
            owner_add(&self.counters.large_bytes, bytes);
            if zero && !fresh {
                ptr::write_bytes(start, 0, bytes);
            } else if zero {
                Block::set_next(block, ptr::null_mut());
            }
            block.cast()
        }
    }

    /// Takes a free run of `slices` slices (start a multiple of `align_slices`), in an
    /// existing segment or a new one: its page record (not yet set up), segment and index, and
    /// whether it reads as zeros.
    ///
    /// # Safety
    /// The caller owns the heap.
    unsafe fn take_span(
        &self,
        slices: usize,
        align_slices: usize,
    ) -> Option<(&Page, *mut Segment, usize, bool)> {
        // SAFETY: owner (caller).
        if !unsafe { self.charge(slices * SLICE_SIZE) } {
            // SAFETY: owner (caller).
            unsafe { self.refuse() };
            return None;
        }
        loop {
            let guard = self.lock_segments();
            // SAFETY: owner (caller), holding the segment lock; the run is free (just found).
            unsafe {
                match self.find_span(guard.lists(), slices, align_slices) {
                    Span::Found(seg, index) => {
                        let (page, fresh) = Segment::take_span(seg, index, slices);
                        return Some((page, seg, index, fresh));
                    }
                    Span::None => {
                        drop(guard);
                        self.uncharge(slices * SLICE_SIZE);
                        return None;
                    }
                    Span::Claimed => {}
                }
            }
            // The background purger is decommitting some of our free slices: rather than map
            // a new segment (or fail, under an address-space limit), wait for it to finish
            // (one batch of `madvise` calls) and look again.
            drop(guard);
            crate::sync::yield_thread();
        }
    }

    /// A free run of `slices` slices (start a multiple of `align_slices`), in an existing
    /// segment or a new one — or `Claimed` if none is free but the background purger holds
    /// claims in these segments (the caller waits for them rather than map a segment).
    ///
    /// # Safety
    /// The caller owns the heap and holds its segment lock (`local` is its lists).
    unsafe fn find_span(
        &self,
        local: &mut SegmentLists,
        slices: usize,
        align_slices: usize,
    ) -> Span {
        // SAFETY: owner holding the lock (caller); all listed segments are ours.
        unsafe {
            let mut claims = false;
            let mut seg = local.segments.head;
            while !seg.is_null() {
                let next = Segment::local(seg).next;
                if let Some(index) = Segment::find_free_run(seg, slices, align_slices) {
                    if slices == Segment::slices_without_page(seg) {
                        // This span fills the segment: move it out of the searched list.
                        list_remove(&mut local.segments, seg);
                        list_push(&mut local.full_segments, seg);
                    }
                    return Span::Found(seg, index);
                }
                claims |= Segment::local(seg).purging != 0;
                seg = next;
            }
            if claims {
                return Span::Claimed;
            }
            let seg = Segment::create(self);
            if seg.is_null() {
                return Span::None;
            }
            let Some(index) = Segment::find_free_run(seg, slices, align_slices) else {
                return Span::None;
            };
            list_push(&mut local.segments, seg);
            Span::Found(seg, index)
        }
    }

    /// A local free hit a full page or emptied a page that is not first in its queue.
    ///
    /// `extern "C"` (here and on the other slow paths the fast paths call) declares it
    /// cannot unwind, which it cannot: a caller that must not unwind either — a C `free` —
    /// then needs no abort-on-unwind landing pad around the call and can make it a tail call.
    #[cold]
    #[inline(never)]
    unsafe extern "C" fn free_local_slow(&self, page: &Page) {
        let class = page.class() as usize;
        // SAFETY: owner (caller). Each `page.local()` borrow ends before the next call that
        // borrows the page again (queue and retire operations do).
        unsafe {
            self.fold(page);
            if class == LARGE {
                // The page's only block: nobody else can be freeing into it, so the page is
                // still ARMED and disarming succeeds.
                let disarmed = page.disarm();
                debug_assert!(disarmed);
                page.local().set_full(false);
                owner_add(&self.counters.large_bytes, page.block_size().wrapping_neg());
                self.retire_page(page);
                self.maybe_purge();
                return;
            }
            if page.local().in_full() {
                // If a remote freer took the notification (disarm fails), the page is coming
                // through the pending stack as well; queueing it now is still right.
                page.disarm();
                page.local().set_full(false);
                self.queue_push_back(class, page);
            }
            let local = page.local();
            if local.used == 0 && may_retire(page) && !local.is_first() {
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

    /// Frees a block this heap does not own: huge blocks are unmapped, others pushed on their
    /// page's `thread_free` (notifying the owner if the page was full).
    ///
    /// Returns whether this heap is the sentinel (see [`free`](Self::free)).
    ///
    /// # Safety
    /// As for [`free`](Self::free); `seg` is `segment_of(p)`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe extern "C" fn free_remote(&self, p: *mut u8, seg: *mut Segment) -> bool {
        // SAFETY: `p` is live, so its header is valid (caller).
        unsafe {
            // Checks that cost nothing on the fast path (on by default): a header that is not
            // ours, or a pointer inside a huge block. (Read as a byte: a foreign header may
            // hold any value.)
            let kind = ptr::addr_of!((*seg).kind).cast::<u8>().read();
            if kind == SegmentKind::Huge as u8 {
                if p != (*seg).map_base.wrapping_add((*seg).block_offset) {
                    super::checked::report(
                        "free of an interior pointer (inside a huge block)",
                        p as usize,
                    );
                }
                huge::free(seg);
                return false;
            }
            if kind != SegmentKind::Pages as u8 {
                super::checked::report(
                    "free of a pointer allocgator does not own (no segment header of ours at \
                     its 4 MiB boundary)",
                    p as usize,
                );
            }
            let page = Segment::page_of(seg, p);
            // Read what we need before the push: afterwards the owner may reuse the page.
            let class = page.class() as usize;
            let block_size = page.block_size();
            let large_bytes = if class == LARGE { block_size } else { 0 };
            // Relaxed: fixed while the segment has live blocks (ours is one).
            let owner = (*seg).heap.load(Ordering::Relaxed);
            if page.push_thread_free(p.cast()) {
                // We took the page's notification: the page stays put until its owner pops it,
                // and heaps with notifiable pages are never unmapped.
                (*owner).push_pending(page);
            }
            if self.is_sentinel() {
                // Shared by every thread without a heap: contended when several such threads
                // free at once, so the caller gives a thread that frees a heap of its own.
                let c = counters();
                // Relaxed: statistics.
                c.heapless_frees[class].fetch_add(1, Ordering::Relaxed);
                if large_bytes != 0 {
                    c.heapless_large_bytes
                        .fetch_add(large_bytes, Ordering::Relaxed);
                }
                c.live_bytes.fetch_sub(block_size, Ordering::Relaxed);
                true
            } else {
                // In range: `class <= CLASS_COUNT` (a size class or LARGE).
                owner_add(self.counters.live.get_unchecked(class), usize::MAX);
                owner_add(&self.counters.large_bytes, large_bytes.wrapping_neg());
                self.counters.note_remote_free(block_size);
                false
            }
        }
    }

    /// Pushes a page onto this heap's pending stack (called by the remote freer that took the
    /// page's notification).
    ///
    /// # Safety
    /// The caller took `page`'s notification (its push saw `ARMED`) and the page belongs to
    /// this heap.
    unsafe fn push_pending(&self, page: &Page) {
        // Relaxed: seeds the loop; the CAS publishes.
        let mut head = self.pending.load(Ordering::Relaxed);
        loop {
            // SAFETY: only the notifier writes `pending_next`, and the owner reads it only
            // after popping the page, which our CAS below happens-before.
            page.pending_next.with_mut(|next| unsafe { *next = head });
            const PUSH_ORDER: Ordering = crate::sync::weakened!(Release, "pending_push_relaxed");
            // Release: publishes `pending_next` (and our block push) to the owner's Acquire
            // swap.
            match self.pending.compare_exchange_weak(
                head,
                (page as *const Page).cast_mut(),
                PUSH_ORDER,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Takes the pending stack and brings its pages back: their remote frees are collected,
    /// full pages re-queued, empty ones retired.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn process_pending(&self) {
        // Relaxed peek: the common case has nothing pending.
        if self.pending.load(Ordering::Relaxed).is_null() {
            return;
        }
        // Acquire: pairs with `push_pending`'s Release, so each page's `pending_next` is
        // visible.
        let mut page_ptr: *const Page = self.pending.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: every page on the stack is ours, and stays valid until we handle it (a
        // NOTIFIED page is never retired before this point).
        unsafe {
            while let Some(page) = page_ptr.as_ref() {
                page_ptr = page.pending_next.with(|next| *next);
                let remote = page.take_all_and_reset();
                page.absorb_remote(remote);
                self.fold(page);
                let class = page.class() as usize;
                // Each `page.local()` borrow ends before the next call that borrows the page
                // again (queue and retire operations do).
                if class == LARGE {
                    page.local().set_full(false);
                    self.retire_page(page);
                    continue;
                }
                if page.local().in_full() {
                    page.local().set_full(false);
                    self.queue_push_back(class, page);
                }
                let local = page.local();
                if local.used == 0 && !local.is_first() {
                    self.queue_remove(class, page);
                    self.retire_page(page);
                }
            }
        }
    }

    /// Gives a page with no live block back to its segment.
    ///
    /// # Safety
    /// The caller owns the page; it is in no queue, has `used == 0` and state `NORMAL`.
    unsafe fn retire_page(&self, page: &Page) {
        // SAFETY: owner (caller); the page record lives in its segment's header.
        unsafe {
            self.fold(page);
            // From the page's `start` (derived from the segment's own pointer), not from the
            // `&Page`: a reference only carries provenance for the page record.
            let local = page.local();
            let (seg, index) = Segment::locate(local.start);
            debug_assert_eq!(local.used, 0);
            let slices = local.slice_count as usize;
            *local = super::page::PageLocal::EMPTY;
            self.uncharge(slices * SLICE_SIZE);
            {
                let guard = self.lock_segments();
                let lists = guard.lists();
                Segment::release_span(seg, index, slices);
                if Segment::slices_without_page(seg) == slices {
                    // It was in the full list: it has room again.
                    list_remove(&mut lists.full_segments, seg);
                    list_push(&mut lists.segments, seg);
                }
            }
            let heap = self.local();
            if heap.purge_due == 0 {
                heap.purge_due = now_ms() + purge_delay_ms();
                heap.waiting_news = heap.purged_in_background;
            }
        }
    }

    /// Runs a purge tick if one is due.
    ///
    /// Called only where the heap is consistent and nothing of it is borrowed (the start of
    /// the allocation refill, the end of a local free's slow path), since it may also tell
    /// `purge::memory_waiting`, which may allocate from this very heap.
    ///
    /// # Safety
    /// The caller owns the heap.
    unsafe fn maybe_purge(&self) {
        // SAFETY: owner (caller).
        unsafe {
            let due = self.local().purge_due;
            if due != 0 && now_ms() >= due {
                self.purge(purge_delay_ms() == 0);
            }
            if core::mem::take(&mut self.local().waiting_news) {
                super::purge::memory_waiting();
            }
        }
    }

    /// A purge tick: decommits slices free for a whole period and unmaps segments empty for a
    /// whole period (`now`: everything free, at once).
    unsafe fn purge(&self, now: bool) {
        let guard = self.lock_segments();
        // SAFETY: owner (caller), holding the segment lock; listed segments are ours.
        unsafe {
            let lists = guard.lists();
            let mut more = false;
            let mut seg = lists.segments.head;
            while !seg.is_null() {
                let next = Segment::local(seg).next;
                if Segment::purge(seg, now) {
                    list_remove(&mut lists.segments, seg);
                    Segment::destroy(seg);
                } else {
                    more |= Segment::has_dirty(seg);
                }
                seg = next;
            }
            drop(guard);
            self.local().purge_due = if more { now_ms() + purge_delay_ms() } else { 0 };
        }
    }

    /// Collects every page's remote frees, retires every empty page, and (if `release`) gives
    /// all free memory back to the OS now.
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn collect(&self, release: bool) {
        if self.is_sentinel() {
            return;
        }
        // SAFETY: owner (caller).
        unsafe {
            self.process_pending();
            self.fold_all();
            for class in 0..CLASS_COUNT {
                let mut page_ptr = self.local().queues[class].first;
                while let Some(page) = page_ptr.as_ref() {
                    page_ptr = page.local().next;
                    page.collect();
                    self.fold(page);
                    if page.local().used == 0 && may_retire(page) {
                        self.queue_remove(class, page);
                        self.retire_page(page);
                    }
                }
            }
            if release {
                self.purge(true);
            }
        }
    }

    /// Pages in use in this heap's segments (a walk; for tests and the heap map).
    ///
    /// # Safety
    /// The caller owns the heap.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    pub(crate) unsafe fn pages_in_use(&self) -> usize {
        let mut pages = 0;
        let guard = self.lock_segments();
        // SAFETY: owner (caller), holding the segment lock; listed segments are ours.
        unsafe {
            for head in guard.lists().both() {
                let mut seg = head;
                while !seg.is_null() {
                    pages += Segment::page_count(seg);
                    seg = Segment::local(seg).next;
                }
            }
        }
        pages
    }

    // ----------------------------------------------------------------------------------------
    // Queues
    // ----------------------------------------------------------------------------------------

    /// Makes `first` the head of `class`'s queue: moves the `is_first` mark and points the
    /// direct-table slots of `class` at it (or at the empty page).
    ///
    /// # Safety
    /// The caller owns the heap and the pages.
    #[inline]
    unsafe fn set_first(&self, class: usize, first: *const Page) {
        // SAFETY: owner (caller); queued pages are ours.
        unsafe {
            let local = self.local();
            let q = &mut local.queues[class];
            if let Some(old) = q.first.as_ref() {
                old.local().set_first(false);
            }
            q.first = first;
            let target = match first.as_ref() {
                Some(page) => {
                    page.local().set_first(true);
                    first
                }
                None => &self.empty_page as *const Page,
            };
            let (a, b) = DIRECT_RANGES[class];
            for slot in a as usize..b as usize {
                local.direct[slot] = target;
            }
        }
    }

    unsafe fn queue_push_front(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); queue pages are ours.
        unsafe {
            let q = &mut self.local().queues[class];
            let pl = page.local();
            pl.prev = ptr::null();
            pl.next = q.first;
            if let Some(first) = q.first.as_ref() {
                first.local().prev = page;
            } else {
                q.last = page;
            }
            self.set_first(class, page);
        }
    }

    unsafe fn queue_push_back(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); queue pages are ours.
        unsafe {
            let q = &mut self.local().queues[class];
            let pl = page.local();
            pl.next = ptr::null();
            pl.prev = q.last;
            if let Some(last) = q.last.as_ref() {
                last.local().next = page;
                q.last = page;
            } else {
                q.last = page;
                self.set_first(class, page);
            }
        }
    }

    unsafe fn queue_remove(&self, class: usize, page: &Page) {
        // SAFETY: owner (caller); `page` is on this queue.
        unsafe {
            let q = &mut self.local().queues[class];
            let pl = page.local();
            let (prev, next) = (pl.prev, pl.next);
            match next.as_ref() {
                Some(n) => n.local().prev = prev,
                None => q.last = prev,
            }
            pl.next = ptr::null();
            pl.prev = ptr::null();
            match prev.as_ref() {
                Some(p) => p.local().next = next,
                None => self.set_first(class, next),
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Whole-block queries
    // ----------------------------------------------------------------------------------------

    /// Bytes usable in the live block `p` (its size class, span or mapping).
    ///
    /// # Safety
    /// `p` is a live block of this engine.
    #[inline]
    pub(crate) unsafe fn usable_size(p: *mut u8) -> usize {
        let seg = segment_of(p);
        // SAFETY: live block, valid header.
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                huge::usable(seg)
            } else {
                Segment::page_of(seg, p).block_size()
            }
        }
    }

    /// Whether `p`, a pointer into a live block of this engine, is that block's first byte
    /// (the local allocators tell their own blocks, which sit inside engine blocks, from
    /// engine blocks they handed on this way).
    ///
    /// ```text
    /// engine block:  [ chunk header | pool block | pool block | ... ]
    ///                ^ true           ^ false      ^ false
    /// ```
    ///
    /// # Safety
    /// `p` points into a live block of this engine that the caller holds.
    // Feature `checked` builds tell the kinds apart by layout and check that claim instead.
    #[cfg_attr(feature = "checked", allow(dead_code))]
    pub(crate) unsafe fn is_block_start(p: *mut u8) -> bool {
        let seg = segment_of(p);
        // SAFETY: `p` is in a live block, so its segment header is valid; a huge header's
        // fields are written before the block is handed out, and a page's slice map and block
        // size before any of its blocks exists (see `Segment::page_of`).
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                return p == (*seg).map_base.wrapping_add((*seg).block_offset);
            }
            let offset = p as usize - seg as usize;
            let head = (*seg).head_of[offset >> super::SLICE_SHIFT].with(|h| *h) as usize;
            let block_size = (*seg).pages[head].block_size();
            // Blocks start at multiples of the block size from their page's first slice.
            (offset - head * SLICE_SIZE) % block_size == 0
        }
    }

    /// Resizes `p` to `new_size` without moving its contents: returns `p` if the block already
    /// fits (and would not waste more than half), a new address for a huge block whose pages
    /// were moved, or null if the caller must allocate, copy and free.
    ///
    /// # Safety
    /// `p` is a live block of this engine that the caller holds.
    pub(crate) unsafe fn resize_in_place(p: *mut u8, new_size: usize) -> *mut u8 {
        let seg = segment_of(p);
        // SAFETY: live block, valid header.
        unsafe {
            if (*seg).kind == SegmentKind::Huge {
                return if new_size > LARGE_MAX {
                    huge::resize(seg, p, new_size)
                } else {
                    ptr::null_mut()
                };
            }
            let block_size = Segment::page_of(seg, p).block_size();
            if new_size <= block_size && (new_size >= block_size / 2 || block_size <= 32) {
                p
            } else {
                ptr::null_mut()
            }
        }
    }

    /// As [`resize_in_place`](Self::resize_in_place), and a large block of this heap also grows
    /// into the free slices that follow it, or gives back the slices it no longer needs (a
    /// `Vec` growing past 64 KiB keeps its address and copies nothing).
    ///
    /// # Safety
    /// `p` is a live block of this engine that the caller holds; the caller owns this heap.
    pub(crate) unsafe fn resize(&self, p: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded (caller).
        unsafe {
            let same = Self::resize_in_place(p, new_size);
            if !same.is_null() {
                return same;
            }
            let seg = segment_of(p);
            if (*seg).kind != SegmentKind::Pages
                || (*seg).heap.load(Ordering::Relaxed) != (self as *const Heap).cast_mut()
            {
                return ptr::null_mut();
            }
            let page = Segment::page_of(seg, p);
            if page.class() as usize != LARGE || new_size <= MEDIUM_MAX || new_size > LARGE_MAX {
                return ptr::null_mut();
            }
            let index = Segment::locate(page.local().start).1;
            let old_slices = page.local().slice_count as usize;
            let new_slices = new_size.div_ceil(SLICE_SIZE);
            if new_slices > old_slices && !self.charge((new_slices - old_slices) * SLICE_SIZE) {
                return ptr::null_mut();
            }
            let guard = self.lock_segments();
            let lists = guard.lists();
            if new_slices > old_slices {
                if !Segment::extend_span(seg, index, old_slices, new_slices) {
                    drop(guard);
                    self.uncharge((new_slices - old_slices) * SLICE_SIZE);
                    return ptr::null_mut();
                }
                if Segment::slices_without_page(seg) == 0 {
                    list_remove(&mut lists.segments, seg);
                    list_push(&mut lists.full_segments, seg);
                }
                drop(guard);
            } else {
                // Shrinking to less than half: give the tail back.
                let was_full = Segment::slices_without_page(seg) == 0;
                Segment::release_span(seg, index + new_slices, old_slices - new_slices);
                self.uncharge((old_slices - new_slices) * SLICE_SIZE);
                if was_full {
                    list_remove(&mut lists.full_segments, seg);
                    list_push(&mut lists.segments, seg);
                }
                drop(guard);
                let local = self.local();
                if local.purge_due == 0 {
                    local.purge_due = now_ms() + purge_delay_ms();
                    local.waiting_news = local.purged_in_background;
                }
            }
            let (old_bytes, new_bytes) = (old_slices * SLICE_SIZE, new_slices * SLICE_SIZE);
            page.set_large_size(new_slices, new_bytes);
            owner_add(
                &self.counters.large_bytes,
                new_bytes.wrapping_sub(old_bytes),
            );
            self.counters
                .note_live_bytes(new_bytes.wrapping_sub(old_bytes));
            p
        }
    }
}

/// Whether an empty page may be retired now: not while a remote freer holds its notification
/// (`NOTIFIED`: the page is about to be pushed on the pending stack and must still be this
/// page when it is popped). A test-only switch skips the check, for the loom model
/// `remote_free_races_retire_and_decommit` to catch.
#[inline]
fn may_retire(page: &Page) -> bool {
    #[cfg(allocgator_mutation = "retire_notified_page")]
    let _ = page;
    #[cfg(allocgator_mutation = "retire_notified_page")]
    return true;
    #[cfg(not(allocgator_mutation = "retire_notified_page"))]
    return page.state() == STATE_NORMAL;
}

/// Zeroes a block just popped: only its link word if the rest is known to be zero.
///
/// # Safety
/// `block` is a block of `size` bytes the caller just allocated.
#[inline(always)]
unsafe fn zero_block(block: *mut Block, rest_is_zero: bool, size: usize) {
    // SAFETY: the block is ours and `size` bytes long (caller).
    unsafe {
        if rest_is_zero {
            Block::set_next(block, ptr::null_mut());
        } else {
            ptr::write_bytes(block.cast::<u8>(), 0, size);
        }
    }
}

/// Pushes a segment on the front of a list.
///
/// # Safety
/// The caller owns the segment, which is on no list.
unsafe fn list_push(list: &mut SegmentList, seg: *mut Segment) {
    // SAFETY: owner (caller); listed segments are ours.
    unsafe {
        let l = Segment::local(seg);
        l.prev = ptr::null_mut();
        l.next = list.head;
        if !list.head.is_null() {
            Segment::local(list.head).prev = seg;
        }
        list.head = seg;
    }
}

/// Unlinks a segment from a list it is on.
///
/// # Safety
/// The caller owns the segment, which is on `list`.
unsafe fn list_remove(list: &mut SegmentList, seg: *mut Segment) {
    // SAFETY: owner (caller); listed segments are ours.
    unsafe {
        let l = Segment::local(seg);
        if l.prev.is_null() {
            list.head = l.next;
        } else {
            Segment::local(l.prev).next = l.next;
        }
        if !l.next.is_null() {
            Segment::local(l.next).prev = l.prev;
        }
        l.next = ptr::null_mut();
        l.prev = ptr::null_mut();
    }
}

impl Heap {
    /// Calls `f` for each of this heap's segments (for the heap map and page states).
    ///
    /// # Safety
    /// The caller owns the heap, and `f` does not allocate from or free into it.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn for_each_segment(&self, mut f: impl FnMut(*mut Segment)) {
        let guard = self.lock_segments();
        // SAFETY: owner (caller), holding the segment lock; listed segments are ours.
        unsafe {
            for head in guard.lists().both() {
                let mut seg = head;
                while !seg.is_null() {
                    let next = Segment::local(seg).next;
                    f(seg);
                    seg = next;
                }
            }
        }
    }

    /// This heap's segments and the bytes committed in them, by a walk (for `Slab::stats`).
    ///
    /// # Safety
    /// The caller owns the heap.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn footprint(&self) -> (usize, usize) {
        let (mut segments, mut committed) = (0, 0);
        let guard = self.lock_segments();
        // SAFETY: owner (caller), holding the segment lock; listed segments are ours.
        unsafe {
            for head in guard.lists().both() {
                let mut seg = head;
                while !seg.is_null() {
                    let l = Segment::local(seg);
                    segments += 1;
                    committed += (!l.uncommitted).count_ones() as usize * SLICE_SIZE;
                    seg = l.next;
                }
            }
        }
        (segments, committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::size_class::CLASS_SIZES;

    /// A private heap (the engine of a `Slab`) serves every class, large and huge blocks,
    /// frees them, and gives everything back when destroyed.
    #[test]
    fn private_heap_serves_and_releases_everything() {
        let heap = Heap::create();
        assert!(!heap.is_null());
        // SAFETY: we own the heap; every block is freed once, before the heap is destroyed.
        unsafe {
            let h = &*heap;
            let mut blocks = Vec::new();
            let sizes = CLASS_SIZES
                .iter()
                .copied()
                .chain([100_000, 1 << 20, 3 << 20]);
            for (i, size) in sizes.enumerate() {
                for k in 0..4 {
                    let p = h.alloc(size, 8);
                    assert!(!p.is_null(), "size {size}");
                    assert!(Heap::usable_size(p) >= size);
                    p.write((i + k) as u8);
                    blocks.push((p, (i + k) as u8));
                }
            }
            for &(p, v) in &blocks {
                assert_eq!(p.read(), v);
            }
            for &(p, _) in blocks.iter() {
                h.free(p);
            }
            // Every page is retired once its blocks are freed and collected.
            h.collect(true);
            assert_eq!(h.pages_in_use(), 0);
            // Destroying with live blocks is allowed: the memory goes back at once.
            for size in [24, 5000, 300_000] {
                assert!(!h.alloc(size, 8).is_null());
            }
            assert_eq!(h.pages_in_use(), 3);
            Heap::destroy(heap);
        }
        // That destroying gives the memory back is asserted on process-wide figures in its own
        // test binary (`tests/local_slab_release.rs`): here other tests map memory in parallel.
    }

    /// `fresh_usable` predicts a new block's usable length exactly, for every class size and
    /// its neighbours, large sizes and the alignments local allocators use; huge sizes are
    /// not predicted.
    #[test]
    fn fresh_usable_matches_the_heap() {
        use crate::engine::size_class::fresh_usable;
        let heap = Heap::create();
        // SAFETY: we own the heap; each block is freed once, before the heap is destroyed.
        unsafe {
            let h = &*heap;
            let sizes = CLASS_SIZES.iter().flat_map(|&s| [s - 1, s, s + 1]).chain([
                100_000,
                65_537,
                1 << 20,
                (2 << 20) - 1,
                2 << 20,
            ]);
            for size in sizes {
                for align in [8, 16, 64, 4096] {
                    let p = h.alloc(size, align);
                    assert!(!p.is_null());
                    assert_eq!(
                        fresh_usable(size, align),
                        Some(Heap::usable_size(p)),
                        "size {size} align {align}"
                    );
                    h.free(p);
                }
            }
            assert_eq!(fresh_usable((2 << 20) + 1, 8), None);
            assert_eq!(fresh_usable(usize::MAX, 16), None);
            Heap::destroy(heap);
        }
    }

    /// A large block grows into the free slices after it (no move, no copy) and gives slices
    /// back when it shrinks to less than half.
    #[test]
    fn large_blocks_grow_and_shrink_in_place() {
        let heap = Heap::create();
        // SAFETY: we own the heap; one block, freed before the heap is destroyed.
        unsafe {
            let h = &*heap;
            let p = h.alloc(100_000, 8);
            for i in 0..100_000 {
                p.add(i).write(i as u8);
            }
            for size in [200_000, 500_000, 1_000_000, 2 << 20] {
                assert_eq!(h.resize(p, size), p, "grow to {size} moved");
                assert!(Heap::usable_size(p) >= size);
            }
            assert!((0..100_000).all(|i| p.add(i).read() == i as u8));
            let seg = segment_of(p);
            let free_before = Segment::slices_without_page(seg);
            assert_eq!(h.resize(p, 300_000), p);
            assert_eq!(Segment::slices_without_page(seg), free_before + 32 - 5);
            assert!(Heap::usable_size(p) >= 300_000);
            assert!((0..100_000).all(|i| p.add(i).read() == i as u8));
            h.free(p);
            h.collect(true);
            assert_eq!(h.pages_in_use(), 0);
            Heap::destroy(heap);
        }
    }

    /// Live-block counts stay exact across local frees, remote frees and their collection,
    /// whichever comes first (folds happen only on slow paths and in `fold_all`).
    #[test]
    fn live_counts_are_exact_after_folding() {
        let (owner, other) = (Heap::create(), Heap::create());
        let live = |heaps: &[*mut Heap]| -> isize {
            let mut sum = 0usize;
            for &h in heaps {
                // SAFETY: this thread owns both heaps.
                unsafe { (*h).fold_all() };
                // SAFETY: valid heaps.
                for c in unsafe { &(*h).counters.live } {
                    sum = sum.wrapping_add(c.load(Ordering::Relaxed));
                }
            }
            sum as isize
        };
        // SAFETY: this thread owns both heaps; every block is freed once.
        unsafe {
            let (o, r) = (&*owner, &*other);
            let blocks: Vec<*mut u8> = (0..3000)
                .map(|i| o.alloc([24, 200, 5000, 100_000][i % 4], 8))
                .collect();
            assert_eq!(live(&[owner, other]), 3000);
            for &p in &blocks[..1000] {
                o.free(p); // local
            }
            assert_eq!(live(&[owner, other]), 2000);
            for &p in &blocks[1000..1500] {
                r.free(p); // remote: counted by `other` at once, collected by `owner` later
            }
            assert_eq!(live(&[owner, other]), 1500);
            o.collect(false);
            assert_eq!(live(&[owner, other]), 1500);
            let more: Vec<*mut u8> = (0..700).map(|_| o.alloc(200, 8)).collect();
            assert_eq!(live(&[owner, other]), 2200);
            for &p in blocks[1500..].iter().chain(&more) {
                o.free(p);
            }
            assert_eq!(live(&[owner, other]), 0);
            Heap::destroy(owner);
            Heap::destroy(other);
        }
    }

    /// Remote frees into a full page come back to the owner through the pending stack.
    #[test]
    fn remote_frees_into_full_pages_are_collected() {
        let owner = Heap::create();
        let other = Heap::create();
        // SAFETY: each heap is used by this thread only; blocks are freed once.
        unsafe {
            let (o, r) = (&*owner, &*other);
            // Fill several pages of the 64-byte class completely.
            let blocks: Vec<*mut u8> = (0..5000).map(|_| o.alloc(64, 8)).collect();
            for &p in &blocks {
                r.free(p); // remote: `r` does not own them
            }
            assert!(
                !o.pending.load(Ordering::Relaxed).is_null(),
                "no page was notified"
            );
            // The owner gets the same memory back instead of mapping more.
            let again: Vec<*mut u8> = (0..5000).map(|_| o.alloc(64, 8)).collect();
            let slices = |v: &[*mut u8]| {
                let mut s: Vec<usize> = v.iter().map(|&p| p as usize & !(SLICE_SIZE - 1)).collect();
                s.sort_unstable();
                s.dedup();
                s
            };
            assert_eq!(
                slices(&again),
                slices(&blocks),
                "the owner did not reuse the pages of the remotely freed blocks"
            );
            Heap::destroy(owner);
            Heap::destroy(other);
        }
    }
}
