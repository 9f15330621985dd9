//! A page: a run of slices inside a segment holding blocks of one size, owned by one heap.
//!
//! # The three free lists
//!
//! - `free`: the blocks the owner allocates from (the fast path pops here);
//! - `local_free`: blocks the owner freed; swapped into `free` when `free` runs dry, so the
//!   fast path never checks two lists;
//! - `thread_free`: an atomic stack other threads push their frees onto (one CAS); the owner
//!   takes the whole stack with one CAS and never walks it while others push.
//!
//! Invariant (owner's view, checked in debug builds by [`Page::check_invariant`]):
//!
//! ```text
//! used == capacity - |free| - |local_free|     (blocks handed out, remote-freed ones included)
//! live == used - |thread_free|                 (blocks the program still holds)
//! ```
//!
//! (It is tempting to write this as `used - |thread_free| == capacity - |free| - |local_free|`; with
//! `used` counting remote-freed blocks until they are collected, as in mimalloc, the left side
//! is the live count and the equation above is the one that holds.)
//!
//! # Full pages and the notification protocol
//!
//! A page with no free block leaves its size-class queue, so allocation never walks full pages.
//! It must come back when a block is freed. A local free sees the page's `FLAG_FULL`. A
//! remote free sees the page's *state*, kept in the two low bits of `thread_free`:
//!
//! | state | meaning | who leaves it |
//! |---|---|---|
//! | `NORMAL` | the page is in a queue, or its owner is working on it | owner → `ARMED` when the page goes full |
//! | `ARMED` | full, out of every queue; the next remote free must tell the owner | the remote freer whose CAS sees it → `NOTIFIED`; or the owner → `NORMAL` (a local free came first) |
//! | `NOTIFIED` | that freer is pushing (or has pushed) the page onto the heap's pending stack | the owner, when it pops the page → `NORMAL` |
//!
//! The freer pushes its block and flips `ARMED` → `NOTIFIED` in one CAS, then pushes the page
//! onto its heap's pending stack. While the state is `NOTIFIED` the owner never retires the page
//! (the notifier may still be writing `pending_next`), so the page, and its segment, outlive the
//! notifier's last access. Heaps whose pages can be notified are never unmapped (thread heaps
//! are pooled, see `global`), so the heap pointer a notifier reads is always valid.

use super::{Block, SLICE_SIZE};
use crate::sync::{AtomicPtr, Ordering, UnsafeCell};
use core::ptr;

/// `thread_free` state: nothing special.
pub(crate) const STATE_NORMAL: usize = 0;
/// `thread_free` state: full page waiting for the first remote free to notify the owner.
pub(crate) const STATE_ARMED: usize = 1;
/// `thread_free` state: a remote freer has taken the notification.
pub(crate) const STATE_NOTIFIED: usize = 2;
/// The state bits of `thread_free` (blocks are 8-aligned, so the low bits are free).
pub(crate) const STATE_MASK: usize = 3;

/// `PageLocal::flags`: the page is full and out of its queue.
pub(crate) const FLAG_FULL: u8 = 1;
/// `PageLocal::flags`: the page heads its class queue (kept even when empty; see `Heap::free`).
pub(crate) const FLAG_FIRST: u8 = 2;

/// A `thread_free` value with no block, only state bits (never dereferenced).
#[inline(always)]
const fn state_only(state: usize) -> *mut Block {
    ptr::without_provenance_mut(state)
}

/// What only the owning heap touches.
#[derive(Debug)]
pub(crate) struct PageLocal {
    /// Blocks to allocate from.
    pub(crate) free: *mut Block,
    /// Blocks the owner freed, waiting to become `free`.
    pub(crate) local_free: *mut Block,
    /// Blocks handed out and not yet freed locally or collected from `thread_free`.
    pub(crate) used: u32,
    /// Blocks carved out of the page so far (the rest of the page is untouched).
    pub(crate) capacity: u32,
    /// The part of `used` already added to the heap's live-block counter (see `Heap::fold`);
    /// wraps below zero when remote frees were collected before a fold.
    pub(crate) counted: u32,
    /// Blocks that fit in the page.
    pub(crate) reserved: u32,
    /// [`FLAG_FULL`] and [`FLAG_FIRST`]: one byte, so the free fast path decides "anything to
    /// do?" with one compare in the common cases.
    pub(crate) flags: u8,
    /// Every block on `free` is zero except its link word.
    pub(crate) free_is_zero: bool,
    /// The untouched part of the page (blocks `capacity..reserved`) reads as zeros.
    pub(crate) fresh: bool,
    /// Slices the page spans.
    pub(crate) slice_count: u8,
    /// Queue links (size-class queue of the owning heap).
    pub(crate) next: *const Page,
    /// Queue links (size-class queue of the owning heap).
    pub(crate) prev: *const Page,
    /// First byte of the page's block area.
    pub(crate) start: *mut u8,
}

/// What blocks a page holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageInfo {
    /// Size class, or `heap::LARGE` for a single-block page.
    pub(crate) class: u8,
    /// Block size in bytes.
    pub(crate) block_size: usize,
    /// Hardened build: `M` such that an offset `n < 2³²` from the page's start is a multiple
    /// of the block size exactly when `n * M < M` in wrapping 64-bit arithmetic (Lemire,
    /// Kaser and Kurz, "Faster remainder by direct computation", 2019: `M = u64::MAX /
    /// size + 1`): a block-start check with a multiply, not a division. 1 for a large page
    /// (only offset 0 passes), 0 for a page with no blocks (none does).
    #[cfg(all(feature = "hardened", not(loom)))]
    pub(crate) multiple_of: u64,
}

impl PageInfo {
    /// A page with no blocks.
    const NONE: PageInfo = PageInfo {
        class: 0,
        block_size: 0,
        #[cfg(all(feature = "hardened", not(loom)))]
        multiple_of: 0,
    };

    /// Blocks of `block_size` in class `class` (`heap::LARGE` for one large block).
    #[inline]
    fn new(class: u8, block_size: usize) -> PageInfo {
        PageInfo {
            class,
            block_size,
            #[cfg(all(feature = "hardened", not(loom)))]
            multiple_of: if class as usize >= super::size_class::CLASS_COUNT {
                1
            } else {
                u64::MAX / block_size as u64 + 1
            },
        }
    }
}

/// Page metadata; lives in its segment's header.
///
/// 128-byte aligned: finding a page from a slice index is a shift, not a multiply, and two
/// pages' `thread_free` words never share a cache line.
#[derive(Debug)]
#[repr(C, align(128))]
pub(crate) struct Page {
    /// Owner-only state.
    pub(crate) local: UnsafeCell<PageLocal>,
    /// Remote frees (a stack of blocks) plus the two state bits in the pointer's low bits
    /// (set and cleared with `map_addr`, so the pointer keeps its provenance).
    pub(crate) thread_free: AtomicPtr<Block>,
    /// Link in the owning heap's pending stack; written by the one notifier, read by the owner
    /// after it popped the page.
    pub(crate) pending_next: UnsafeCell<*const Page>,
    /// What the page holds: written when the page is set up, before any of its blocks exists,
    /// and read by anyone holding one of its blocks (the block's hand-off orders the two).
    /// A plain cell, not atomics: the fast free path reads `class`.
    pub(crate) info: UnsafeCell<PageInfo>,
}

// SAFETY: the owner-only fields are touched only by the thread that owns the heap the page
// belongs to (or holds the heap pool's lock for a pooled heap); everything other threads touch
// is atomic. The static empty page is never written.
unsafe impl Sync for Page {}
// SAFETY: as for `Sync`; a page is moved only while it is not yet shared (segment set-up).
unsafe impl Send for Page {}

impl Page {
    /// A page with no blocks (free slices, or the static empty page).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            local: UnsafeCell::new(PageLocal::EMPTY),
            thread_free: AtomicPtr::new(ptr::null_mut()),
            pending_next: UnsafeCell::new(ptr::null()),
            info: UnsafeCell::new(PageInfo::NONE),
        }
    }

    /// A page with no blocks (free slices).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            local: UnsafeCell::new(PageLocal::EMPTY),
            thread_free: AtomicPtr::new(ptr::null_mut()),
            pending_next: UnsafeCell::new(ptr::null()),
            info: UnsafeCell::new(PageInfo::NONE),
        }
    }

    /// Runs `f` on the page's local state, which only the owner touches; the `&mut` lives
    /// only inside `f`.
    ///
    /// # Safety
    /// The caller owns the page's heap, and `f` does not reach this page's local state another
    /// way (no `with_local` on the same page inside `f`).
    #[inline(always)]
    pub(crate) unsafe fn with_local<R>(&self, f: impl FnOnce(&mut PageLocal) -> R) -> R {
        // SAFETY: the owner's exclusive access, for the length of `f` (caller).
        self.local.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// The fast path's read of `free`; a shared read, so the static empty page (whose `free`
    /// is null) may be read by every thread at once.
    #[inline(always)]
    pub(crate) fn free_head(&self) -> *mut Block {
        // SAFETY: a plain read of a pointer field; the owner is the only writer and is the
        // calling thread (or, for the static empty page, nobody writes at all).
        self.local.with(|p| unsafe { (*p).free })
    }

    /// Whether the blocks on `free` are known to read as zeros (never-used memory of a fresh
    /// mapping).
    ///
    /// # Safety
    /// The caller owns the page.
    #[inline(always)]
    pub(crate) unsafe fn free_is_zero(&self) -> bool {
        // SAFETY: a plain read by the owner, the only writer (caller).
        self.local.with(|p| unsafe { (*p).free_is_zero })
    }

    /// Pops a block from `free`, which the caller saw non-empty.
    ///
    /// # Safety
    /// The caller owns the page and `block` is the current head of `free`.
    #[inline(always)]
    pub(crate) unsafe fn pop_known(&self, block: *mut Block) {
        // SAFETY: owner access (caller); `block` is a free block of this page, so its link
        // word is ours to read.
        unsafe {
            self.with_local(|local| {
                local.free = Block::next(block);
                local.used += 1;
            });
            // The hardened build hands out no link: the program reads no encoded pointer
            // (nothing about the secret leaks), and a block the program never wrote does
            // not look free to the double-free check (`hardened::check_local_free`).
            #[cfg(all(feature = "hardened", not(loom)))]
            Block::clear_link(block);
        }
    }

    /// Size class (or `heap::LARGE`).
    #[inline(always)]
    pub(crate) fn class(&self) -> u8 {
        // SAFETY: written only by `init`, before any block of the page exists; the caller holds
        // a block (or owns the page), so that write happened-before this read.
        self.info.with(|p| unsafe { (*p).class })
    }

    /// Block size in bytes.
    #[inline(always)]
    pub(crate) fn block_size(&self) -> usize {
        // SAFETY: as for `class`.
        self.info.with(|p| unsafe { (*p).block_size })
    }

    /// The block-start multiplier of the hardened build (see [`PageInfo::multiple_of`]).
    #[cfg(all(feature = "hardened", not(loom)))]
    #[inline(always)]
    pub(crate) fn multiple_of(&self) -> u64 {
        // SAFETY: as for `class`.
        self.info.with(|p| unsafe { (*p).multiple_of })
    }

    /// Sets the page up for blocks of `block_size` (owner, while nothing else can see it).
    ///
    /// # Safety
    /// The caller owns the page, which is not in use; `start` is the page's first byte and the
    /// page spans `slice_count` slices; `fresh` is true only if that memory reads as zeros.
    pub(crate) unsafe fn init(
        &self,
        start: *mut u8,
        slice_count: usize,
        class: u8,
        block_size: usize,
        fresh: bool,
    ) {
        // SAFETY: no other thread can reach this page until its blocks are handed out, and
        // every hand-off synchronises.
        self.info
            .with_mut(|p| unsafe { *p = PageInfo::new(class, block_size) });
        // Relaxed: as above.
        self.thread_free.store(ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: owner access (caller).
        self.local.with_mut(|local| {
            // SAFETY: owner access (caller): nothing else touches the local state while
            // this closure runs.
            let local = unsafe { &mut *local };
            *local = PageLocal {
                reserved: ((slice_count * SLICE_SIZE) / block_size) as u32,
                fresh,
                slice_count: slice_count as u8,
                start,
                ..PageLocal::EMPTY
            };
        })
    }

    /// Changes the span of a single-block (large) page.
    ///
    /// # Safety
    /// The caller owns the page, holds its one block, and has resized its slices accordingly.
    pub(crate) unsafe fn set_large_size(&self, slice_count: usize, block_size: usize) {
        // SAFETY: the caller owns the page and holds its one block; nobody else reads `info`
        // without holding the block.
        unsafe {
            self.info.with_mut(|p| (*p).block_size = block_size);
            self.with_local(|l| l.slice_count = slice_count as u8);
        }
    }

    /// Pushes a block freed by a thread that does not own the page. Returns true if this free
    /// took the page's notification (state was `ARMED`): the caller must then push the page
    /// onto its heap's pending stack.
    ///
    /// # Safety
    /// `block` is a live block of this page, now freed; nothing of it is used afterwards.
    #[inline]
    pub(crate) unsafe fn push_thread_free(&self, block: *mut Block) -> bool {
        // Relaxed: the value only seeds the CAS loop; the link we write points at whatever the
        // successful CAS replaced.
        let mut old = self.thread_free.load(Ordering::Relaxed);
        loop {
            let state = old.addr() & STATE_MASK;
            // SAFETY: the block is ours until the CAS publishes it.
            unsafe { Block::set_next(block, old.map_addr(|a| a & !STATE_MASK)) };
            let new_state = if state == STATE_ARMED {
                STATE_NOTIFIED
            } else {
                state
            };
            const PUSH_ORDER: Ordering =
                crate::sync::weakened!(Release, "thread_free_push_relaxed");
            // Release: publishes the link we just wrote (and the program's last writes to the
            // block) to the owner, whose Acquire collection takes the list.
            match self.thread_free.compare_exchange_weak(
                old,
                block.map_addr(|a| a | new_state),
                PUSH_ORDER,
                Ordering::Relaxed,
            ) {
                Ok(_) => return state == STATE_ARMED,
                Err(current) => old = current,
            }
        }
    }

    /// Takes every block on `thread_free`, leaving the state bits as they are.
    /// Returns the list (null if empty).
    ///
    /// # Safety
    /// The caller owns the page.
    #[inline]
    pub(crate) unsafe fn take_thread_free(&self) -> *mut Block {
        // Relaxed: a peek; the CAS below is the synchronising read.
        let mut old = self.thread_free.load(Ordering::Relaxed);
        loop {
            if old.addr() & !STATE_MASK == 0 {
                return ptr::null_mut();
            }
            const TAKE_ORDER: Ordering =
                crate::sync::weakened!(Acquire, "thread_free_take_relaxed");
            // Acquire: pairs with the pushers' Release, so every link on the list (and every
            // write the freeing threads made to their blocks) is visible before we walk it.
            match self.thread_free.compare_exchange_weak(
                old,
                state_only(old.addr() & STATE_MASK),
                TAKE_ORDER,
                Ordering::Relaxed,
            ) {
                Ok(_) => return old.map_addr(|a| a & !STATE_MASK),
                Err(current) => old = current,
            }
        }
    }

    /// The current state bits of `thread_free`.
    #[inline]
    pub(crate) fn state(&self) -> usize {
        // Relaxed: callers are the owner deciding about its own page; the transitions that
        // matter are CASes (`arm`, `disarm`, `take_all_and_reset`).
        self.thread_free.load(Ordering::Relaxed).addr() & STATE_MASK
    }

    /// The owner marks a full page `ARMED`. Fails (returns false) if a remote free arrived in
    /// the meantime (the page has blocks to collect) or the page is `NOTIFIED`.
    ///
    /// # Safety
    /// The caller owns the page.
    pub(crate) unsafe fn arm(&self) -> bool {
        // Release on success: nothing to publish strictly, but it orders our earlier owner-side
        // writes before a notifier's reads of the page. Relaxed on failure: we retry by
        // collecting, which synchronises on its own.
        self.thread_free
            .compare_exchange(
                state_only(STATE_NORMAL),
                state_only(STATE_ARMED),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The owner takes back an `ARMED` page (a local free made it non-full). Returns false if a
    /// remote freer already took the notification (the page will come back through the pending
    /// stack; it must stay un-retired until then).
    ///
    /// # Safety
    /// The caller owns the page.
    pub(crate) unsafe fn disarm(&self) -> bool {
        // Relaxed: an ARMED page has an empty thread_free, so there is nothing to acquire; if
        // a freer got there first we see NOTIFIED (or a list) and leave the state alone.
        self.thread_free
            .compare_exchange(
                state_only(STATE_ARMED),
                state_only(STATE_NORMAL),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The owner, having popped this page from the pending stack, takes its remote frees and
    /// resets the state to `NORMAL`.
    ///
    /// # Safety
    /// The caller owns the page and popped it from the pending stack.
    pub(crate) unsafe fn take_all_and_reset(&self) -> *mut Block {
        // Acquire: as in `take_thread_free`.
        let old = self.thread_free.swap(ptr::null_mut(), Ordering::Acquire);
        old.map_addr(|a| a & !STATE_MASK)
    }

    /// Moves `local_free` into `free` if `free` is empty (no atomics: the cheapest refill).
    /// Returns true if `free` now has a block.
    ///
    /// # Safety
    /// The caller owns the page.
    #[inline]
    pub(crate) unsafe fn take_local_free(&self) -> bool {
        self.local.with_mut(|local| {
            // SAFETY: owner access (caller): nothing else touches the local state while
            // this closure runs.
            let local = unsafe { &mut *local };
            if local.free.is_null() && !local.local_free.is_null() {
                local.free = local.local_free;
                local.local_free = ptr::null_mut();
                local.free_is_zero = false;
            }
            !local.free.is_null()
        })
    }

    /// Moves `local_free` and the remote frees into `free`, when `free` is empty.
    /// Returns how many remote frees were collected.
    ///
    /// # Safety
    /// The caller owns the page.
    pub(crate) unsafe fn collect(&self) -> u32 {
        // SAFETY: the caller owns the page.
        let remote = unsafe { self.take_thread_free() };
        // SAFETY: the caller owns the page, and `remote` is the list just taken, now ours.
        unsafe { self.absorb_remote(remote) }
    }

    /// Appends a list taken from `thread_free` to the owner's lists and moves `local_free` to
    /// `free` if `free` is empty. Returns the number of blocks in `remote`.
    ///
    /// # Safety
    /// The caller owns the page and the list `remote` (null for none).
    pub(crate) unsafe fn absorb_remote(&self, remote: *mut Block) -> u32 {
        self.local.with_mut(|local| {
            // SAFETY: owner access (caller): nothing else touches the local state while
            // this closure runs.
            let local = unsafe { &mut *local };
            let mut count = 0u32;
            if !remote.is_null() {
                // Walk once: count (for `used`) and find the tail to splice.
                let mut tail = remote;
                count = 1;
                // SAFETY: every block on the list is a freed block of this page, its link written
                // before the pushing CAS our Acquire synchronised with.
                unsafe {
                    while !Block::next(tail).is_null() {
                        tail = Block::next(tail);
                        count += 1;
                        // More blocks than the page holds: the stack runs in a cycle, which
                        // a block freed twice by other threads makes (the hardened build
                        // reports it; the default one trusts its callers).
                        #[cfg(all(feature = "hardened", not(loom)))]
                        if count > local.reserved {
                            crate::engine::checked::report(
                                "double free (a block freed twice by other threads) in the \
                                 page of the block",
                                remote.addr(),
                            );
                        }
                    }
                    Block::set_next(tail, local.local_free);
                }
                local.local_free = remote;
                local.used -= count;
                // The freeing threads counted these frees in their own heaps already.
                local.counted = local.counted.wrapping_sub(count);
            }
            if local.free.is_null() && !local.local_free.is_null() {
                local.free = local.local_free;
                local.local_free = ptr::null_mut();
                local.free_is_zero = false;
            }
            count
        })
    }

    /// Carves up to a few KiB of never-used blocks into `free` (which is empty).
    /// Returns false if the page has no untouched blocks left.
    ///
    /// # Safety
    /// The caller owns the page, and `free` is empty.
    pub(crate) unsafe fn extend(&self) -> bool {
        let block_size = self.block_size();
        self.local.with_mut(|local| {
            // SAFETY: owner access (caller): nothing else touches the local state while
            // this closure runs.
            let local = unsafe { &mut *local };
            debug_assert!(local.free.is_null());
            if local.capacity >= local.reserved {
                return false;
            }
            // Touch about 4 KiB per extension, and at least 4 blocks: a fresh page stays mostly
            // untouched (not resident) until it is needed. (A floor of 64 blocks made a page of
            // 8 KiB blocks resident whole at its first allocation: espresso's peak RSS was 2.75×
            // mimalloc's.)
            let step = (4096 / block_size).max(4) as u32;
            let count = step.min(local.reserved - local.capacity);
            let first = local.capacity as usize;
            // SAFETY: `first * block_size` is inside the page's area (first < reserved).
            let base = unsafe { local.start.add(first * block_size) };
            // The hardened build links them in a shuffled order (see `hardened`), unless
            // `ALLOCGATOR_SHUFFLE=0` turned that off.
            #[cfg(all(feature = "hardened", not(loom)))]
            let head = if super::hardened::shuffle() {
                // SAFETY: blocks `first..first+count` lie inside the page's area (count <=
                // reserved - capacity) and are unused.
                unsafe { super::hardened::carve_shuffled(base, count as usize, block_size) }
            } else {
                // SAFETY: the same blocks, inside the page's area and unused.
                unsafe { carve_in_order(base, count as usize, block_size) }
            };
            // SAFETY: blocks `first..first+count` lie inside the page's area (count <=
            // reserved - capacity) and are unused.
            #[cfg(not(all(feature = "hardened", not(loom))))]
            let head = unsafe { carve_in_order(base, count as usize, block_size) };
            local.free = head;
            local.capacity += count;
            local.free_is_zero = local.fresh;
            true
        })
    }

    /// Checks the free-list invariant (debug builds): `used == capacity - |free| - |local_free|`,
    /// and every listed block lies inside the page on a block boundary.
    ///
    /// # Safety
    /// The caller owns the page.
    #[cfg(debug_assertions)]
    pub(crate) unsafe fn check_invariant(&self) {
        let block_size = self.block_size();
        self.local.with_mut(|local| {
            // SAFETY: owner access (caller): nothing else touches the local state while
            // this closure runs.
            let local = unsafe { &mut *local };
            if local.reserved == 0 {
                return; // free slices
            }
            let end = local
                .start
                .wrapping_add(local.reserved as usize * block_size);
            let count = |mut b: *mut Block| {
                let mut n = 0u32;
                while !b.is_null() {
                    let a = b as usize;
                    assert!(
                        a >= local.start as usize
                            && a < end as usize
                            && (a - local.start as usize) % block_size == 0,
                        "allocgator: corrupted free list at {b:p}"
                    );
                    n += 1;
                    assert!(n <= local.capacity, "allocgator: free list cycle");
                    // SAFETY: a free block of this page (checked above), its link is ours.
                    b = unsafe { Block::next(b) };
                }
                n
            };
            let free = count(local.free);
            let local_free = count(local.local_free);
            assert_eq!(
                local.used,
                local.capacity - free - local_free,
                "allocgator: page invariant broken"
            );
        })
    }
}

/// Links `count` (at least one) never-used blocks of `block_size` from `base` into a list in
/// address order, and returns its head.
///
/// # Safety
/// The blocks are unused blocks of a page the caller owns, inside its area.
unsafe fn carve_in_order(base: *mut u8, count: usize, block_size: usize) -> *mut Block {
    debug_assert!(count > 0);
    for i in 0..count - 1 {
        let b = base.wrapping_add(i * block_size).cast::<Block>();
        // SAFETY: unused blocks of the caller's page (caller): ours to write.
        unsafe { Block::set_next(b, base.wrapping_add((i + 1) * block_size).cast()) };
    }
    let last = base.wrapping_add((count - 1) * block_size).cast::<Block>();
    // SAFETY: the last of the caller's unused blocks: ours to write.
    unsafe { Block::set_next(last, ptr::null_mut()) };
    base.cast()
}

impl PageLocal {
    /// The page is full and out of its queue.
    #[inline(always)]
    pub(crate) fn in_full(&self) -> bool {
        self.flags & FLAG_FULL != 0
    }

    /// Marks the page full (out of its queue) or not.
    #[inline(always)]
    pub(crate) fn set_full(&mut self, full: bool) {
        self.flags = (self.flags & !FLAG_FULL) | if full { FLAG_FULL } else { 0 };
    }

    /// The page heads its class queue.
    #[inline(always)]
    pub(crate) fn is_first(&self) -> bool {
        self.flags & FLAG_FIRST != 0
    }

    /// Marks the page as its queue's head or not.
    #[inline(always)]
    pub(crate) fn set_first(&mut self, first: bool) {
        self.flags = (self.flags & !FLAG_FIRST) | if first { FLAG_FIRST } else { 0 };
    }

    /// The state of free slices and of the static empty page.
    pub(crate) const EMPTY: Self = Self {
        free: ptr::null_mut(),
        local_free: ptr::null_mut(),
        used: 0,
        capacity: 0,
        counted: 0,
        reserved: 0,
        flags: 0,
        free_is_zero: false,
        fresh: false,
        slice_count: 0,
        next: ptr::null(),
        prev: ptr::null(),
        start: ptr::null_mut(),
    };
}
