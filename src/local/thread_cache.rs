//! Per-thread caches of a [`StaticPool`](crate::StaticPool)'s free blocks.
//!
//! A `SyncPool`'s shared stacks cost a locked compare-and-swap on every allocation and free,
//! and on x86 a locked instruction waits for every earlier store to reach the cache (the
//! message just written, on a line that usually misses): the protocol example measured a
//! `SyncPool` at 0.3x the engine's speed on one thread. A static pool gives each thread that
//! uses it a cache of free blocks, linked through the blocks' first word, that only that
//! thread touches: allocating pops from it and freeing pushes onto it with plain loads and
//! stores. Blocks move between a cache and the pool a chain at a time: a cache that grows past
//! its capacity cuts half of itself off as one chain (linked through the blocks) and pushes
//! the chain's first block onto the pool's stack of chains (one CAS, the same tagged stack as
//! a `SyncPool`'s, with its link out of line, so a stale popper reads nothing a block's holder
//! writes), and a cache that runs dry pops one chain (one CAS). A thread that only allocates
//! and one that only frees meet once per chain, and a thread takes one chain, not everything
//! others gave back. A thread that exits gives its caches back (a thread-local destructor).
//!
//! Nothing walks a chain it receives: a cache does not know how many blocks a refill brought
//! (its count only decides when to give blocks back), and the pool's live-block statistic
//! comes from each cache's own allocation and free counters instead.
//!
//! Each pool has [`SLOTS`] caches, claimed by threads on first use. Threads past that, pools
//! past the first [`MAX_POOLS`], and frees while a thread's locals are being torn down use the
//! `SyncPool` stacks directly (a CAS per block), and draw on the chains only when those are
//! empty. Every pool block is free in exactly one place, a cache, a chain or the `SyncPool`
//! stacks, or in the program's hands.

use super::claimable::Claimable;
use super::free_stack::FreeStack;
use super::sync_pool::Shared;
use crate::sync::{AtomicUsize, Ordering};
use core::cell::Cell;
use core::ptr;

/// Thread caches per pool.
const SLOTS: usize = 64;
/// Static pools that can have caches (ids `1..=MAX_POOLS`).
const MAX_POOLS: usize = 64;
/// Bytes of free blocks a cache holds (by its count) before it gives half back.
const CACHE_BYTES: usize = 32 * 1024;

/// The owner's view of its cache.
struct CacheLocal {
    /// Free blocks, linked through their first word.
    head: *mut u8,
    /// Blocks freed into the cache minus blocks taken from it since it was last known empty
    /// (a refill's blocks are not counted): decides when to give half back.
    count: isize,
}

// SAFETY: the blocks a cache lists are free pool blocks, which any thread may use (they are
// the pool's, not the thread's); the list moves with the cache's ownership.
unsafe impl Send for CacheLocal {}

/// One thread's cache of one pool.
#[repr(align(64))]
struct CacheSlot {
    /// Claimed by a thread on first use, released at its exit (the next owner finds it
    /// emptied and its counters folded); only the owner touches it.
    local: Claimable<CacheLocal>,
    /// Blocks allocated through this cache: written by the owner only (load + store, no
    /// RMW), read by statistics.
    allocs: AtomicUsize,
    /// Blocks freed into this cache: as `allocs`.
    frees: AtomicUsize,
}

impl CacheSlot {
    const fn new() -> CacheSlot {
        CacheSlot {
            local: Claimable::new(CacheLocal {
                head: ptr::null_mut(),
                count: 0,
            }),
            allocs: AtomicUsize::new(0),
            frees: AtomicUsize::new(0),
        }
    }

    /// Adds one to an owner-only counter (a load and a store: only the owner writes it).
    #[inline(always)]
    fn bump(counter: &AtomicUsize) {
        // Relaxed: a statistic with one writer.
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// Where a thread with no cache of a pool is pointed: it holds nothing and always looks full,
/// so both fast paths fall through to their slow paths, which see it is not a cache.
static NO_CACHE: CacheSlot = CacheSlot {
    local: Claimable::owned(CacheLocal {
        head: ptr::null_mut(),
        count: isize::MAX,
    }),
    allocs: AtomicUsize::new(0),
    frees: AtomicUsize::new(0),
};

/// Ids handed to pools on their first cached operation.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A pool's caches, its stack of chains, its live-block counters and its id (its index in
/// every thread's table, plus one).
pub(super) struct PoolCaches {
    /// Chains of free blocks given back by caches, by their first block's index (linked
    /// through the pool's link table; each chain's own links are in its blocks).
    chains: FreeStack,
    /// 0 until the first cached operation.
    id: AtomicUsize,
    /// A cache gives half back past this count.
    cap: isize,
    /// Blocks allocated and freed without a cache, and by caches given back since.
    direct_allocs: AtomicUsize,
    direct_frees: AtomicUsize,
    slots: [CacheSlot; SLOTS],
}

/// The calling thread's caches, by pool id.
struct ThreadTable {
    caches: [Cell<*const CacheSlot>; MAX_POOLS],
    pools: [Cell<(*const PoolCaches, *const Shared)>; MAX_POOLS],
}

impl Drop for ThreadTable {
    fn drop(&mut self) {
        for (cache, pool) in self.caches.iter().zip(&self.pools) {
            let slot = cache.replace(&NO_CACHE);
            if slot.is_null() || ptr::eq(slot, &NO_CACHE) {
                continue;
            }
            let (caches, shared) = pool.get();
            // SAFETY: a cache this thread claimed, of a pool in a `static` (never freed).
            unsafe { (*caches).release(&*slot, &*shared) };
        }
    }
}

std::thread_local! {
    static TABLE: ThreadTable = const {
        ThreadTable {
            caches: [const { Cell::new(ptr::null()) }; MAX_POOLS],
            pools: [const { Cell::new((ptr::null(), ptr::null())) }; MAX_POOLS],
        }
    };
}

impl PoolCaches {
    /// Caches for a pool of `block_size`-byte blocks.
    pub(super) const fn new(block_size: usize) -> PoolCaches {
        let cap = CACHE_BYTES / block_size;
        PoolCaches {
            chains: FreeStack::new(),
            id: AtomicUsize::new(0),
            cap: if cap < 16 {
                16
            } else if cap > 1024 {
                1024
            } else {
                cap as isize
            },
            direct_allocs: AtomicUsize::new(0),
            direct_frees: AtomicUsize::new(0),
            slots: [const { CacheSlot::new() }; SLOTS],
        }
    }

    /// Pool blocks in the program's hands (exact when no other thread is using the pool).
    pub(super) fn live(&self) -> usize {
        // Relaxed: statistics.
        let mut allocs = self.direct_allocs.load(Ordering::Relaxed);
        let mut frees = self.direct_frees.load(Ordering::Relaxed);
        for s in &self.slots {
            allocs = allocs.wrapping_add(s.allocs.load(Ordering::Relaxed));
            frees = frees.wrapping_add(s.frees.load(Ordering::Relaxed));
        }
        allocs.wrapping_sub(frees)
    }

    /// The calling thread's cache of this pool ([`NO_CACHE`] if it has none).
    #[inline(always)]
    fn mine(&'static self, shared: &'static Shared) -> &'static CacheSlot {
        // Relaxed: the id is only an index; the table entry it finds was written by this
        // thread.
        let id = self.id.load(Ordering::Relaxed);
        TABLE
            .try_with(|t| {
                // `id - 1` wraps for 0 (no id yet): no entry, so the claim path.
                match t.caches.get(id.wrapping_sub(1)).map(Cell::get) {
                    // SAFETY: entries point at `NO_CACHE` or at a cache of a static pool.
                    Some(slot) if !slot.is_null() => unsafe { &*slot },
                    _ => self.claim(shared, t),
                }
            })
            .unwrap_or(&NO_CACHE)
    }

    /// First use of this pool on this thread: gives the pool an id if it has none and claims
    /// a free cache; [`NO_CACHE`] if the pool is past the table or every cache is taken.
    #[cold]
    #[inline(never)]
    fn claim(&'static self, shared: &'static Shared, t: &ThreadTable) -> &'static CacheSlot {
        // Relaxed: ids are distinct numbers; nothing is published with them.
        let mut id = self.id.load(Ordering::Relaxed);
        if id == 0 {
            let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            id = match self
                .id
                .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => fresh,
                Err(theirs) => theirs,
            };
        }
        let Some(entry) = t.caches.get(id - 1) else {
            return &NO_CACHE;
        };
        // The previous owner of a slot emptied it and folded its counters before releasing it.
        let mine = self.slots.iter().find(|s| s.local.try_claim());
        let slot = mine.unwrap_or(&NO_CACHE);
        entry.set(slot);
        t.pools[id - 1].set((self, shared));
        slot
    }

    /// Allocates a pool block, from the calling thread's cache when it has one; null if the
    /// pool cannot grow.
    #[inline(always)]
    pub(super) fn alloc(&'static self, shared: &'static Shared) -> *mut u8 {
        let slot = self.mine(shared);
        // SAFETY: the calling thread owns `slot`, or it is `NO_CACHE` (never written).
        let head = unsafe { slot.local.with(|l| (*l).head) };
        if head.is_null() {
            return self.refill(slot, shared);
        }
        // SAFETY: a free block on our cache: its first word links the next one (written when
        // it was cached or pushed, and ours since).
        let next = unsafe { head.cast::<*mut u8>().read() };
        // SAFETY: as above; `head` is not null, so this is a real cache, not `NO_CACHE`.
        unsafe {
            slot.local.with_mut(|l| {
                (*l).head = next;
                (*l).count -= 1;
            })
        };
        CacheSlot::bump(&slot.allocs);
        head
    }

    /// Gives back a pool block to the calling thread's cache (or the shared stacks).
    ///
    /// # Safety
    /// `p` is a live pool block of `shared` (not a fallback block), given back once.
    #[inline(always)]
    pub(super) unsafe fn free(&'static self, shared: &'static Shared, p: *mut u8) {
        let slot = self.mine(shared);
        // SAFETY: the calling thread owns `slot`, or it is `NO_CACHE` (never written, reads
        // as full).
        let (head, count) = unsafe { slot.local.with(|l| ((*l).head, (*l).count)) };
        if count >= self.cap {
            // SAFETY: a live pool block (caller).
            return unsafe { self.free_full(slot, shared, p) };
        }
        if p == head {
            crate::engine::checked::report(
                "double free of a static pool block (deallocated twice in a row)",
                p as usize,
            );
        }
        // SAFETY: the block is ours again, at least a pointer long and aligned.
        unsafe { p.cast::<*mut u8>().write(head) };
        // SAFETY: a real cache (not full), ours.
        unsafe {
            slot.local.with_mut(|l| {
                (*l).head = p;
                (*l).count = count + 1;
            })
        };
        CacheSlot::bump(&slot.frees);
    }

    /// The cache is empty: pops one chain (the first block is the caller's, the rest the cache), or
    /// takes one block from the `SyncPool` stacks or a never-used one. Without a cache: the
    /// `SyncPool` stacks first, then a chain.
    #[cold]
    #[inline(never)]
    fn refill(&'static self, slot: &'static CacheSlot, shared: &'static Shared) -> *mut u8 {
        if ptr::eq(slot, &NO_CACHE) {
            let mut p = shared.pop();
            if p.is_null() {
                p = self.take_one(shared);
            }
            if !p.is_null() {
                // Relaxed: a statistic.
                self.direct_allocs.fetch_add(1, Ordering::Relaxed);
            }
            return p;
        }
        let p = match self.chains.pop(shared) {
            None => shared.pop(),
            Some(index) => {
                // The chain's first block is the caller's, the rest becomes the cache.
                let first = shared.addr(index as usize);
                // SAFETY: we hold the chain (popped); each block's first word links the next.
                let rest = unsafe { first.cast::<*mut u8>().read() };
                // SAFETY: our cache (a real one, checked above), empty.
                unsafe {
                    slot.local.with_mut(|l| {
                        (*l).head = rest;
                        (*l).count = 0;
                    })
                };
                first
            }
        };
        if !p.is_null() {
            CacheSlot::bump(&slot.allocs);
        }
        p
    }

    /// Without a cache, and the `SyncPool` stacks empty: the first block of a chain (the rest
    /// goes back as a chain), or null.
    fn take_one(&'static self, shared: &'static Shared) -> *mut u8 {
        let Some(index) = self.chains.pop(shared) else {
            return ptr::null_mut();
        };
        let first = shared.addr(index as usize);
        // SAFETY: we hold the chain (popped); each block's first word links the next.
        let rest = unsafe { first.cast::<*mut u8>().read() };
        if !rest.is_null() {
            // SAFETY: the chain from `rest` is ours, its last link null.
            unsafe { self.push_chain(shared, rest) };
        }
        first
    }

    /// Pushes the chain that starts at `first` (linked through its blocks, the last link
    /// null) onto the stack of chains.
    ///
    /// # Safety
    /// The caller holds every block of the chain, pool blocks of `shared`.
    unsafe fn push_chain(&self, shared: &Shared, first: *mut u8) {
        let Some(index) = shared.index_of(first) else {
            crate::engine::checked::report(
                "static pool cache corrupted: a cached block is not a block of its pool (a block \
                 written after it was freed?)",
                first as usize,
            );
        };
        self.chains.push(index, shared);
    }

    /// The cache is full (or `NO_CACHE`): gives half of it back as one chain, then caches
    /// `p`; without a cache, gives `p` to the `SyncPool` stacks.
    ///
    /// # Safety
    /// As for [`free`](Self::free).
    #[cold]
    #[inline(never)]
    unsafe fn free_full(
        &'static self,
        slot: &'static CacheSlot,
        shared: &'static Shared,
        p: *mut u8,
    ) {
        if ptr::eq(slot, &NO_CACHE) {
            // SAFETY: a live pool block (caller).
            unsafe { shared.push_block(p) };
            // Relaxed: a statistic.
            self.direct_frees.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: our cache (caller).
        unsafe { self.give_back(slot, shared, (self.cap / 2) as usize) };
        // SAFETY: the cache now has room (caller's block as for `free`).
        unsafe { self.free(shared, p) };
    }

    /// Cuts up to `n` blocks off the front of `slot`'s cache and pushes them as one chain
    /// (one walk down the `n` blocks, which this thread freed).
    ///
    /// # Safety
    /// The calling thread owns `slot`, a cache of this pool (whose state is `shared`).
    unsafe fn give_back(&self, slot: &CacheSlot, shared: &Shared, n: usize) {
        // SAFETY: the caller owns `slot`.
        let first = unsafe { slot.local.with(|l| (*l).head) };
        if first.is_null() || n == 0 {
            return;
        }
        let (mut last, mut moved) = (first, 1);
        // SAFETY: cached blocks: each one's first word links the next.
        let mut rest = unsafe { first.cast::<*mut u8>().read() };
        while moved < n && !rest.is_null() {
            last = rest;
            moved += 1;
            // SAFETY: as above.
            rest = unsafe { rest.cast::<*mut u8>().read() };
        }
        // SAFETY: `last` is a cached block, ours: it ends the chain.
        unsafe { last.cast::<*mut u8>().write(ptr::null_mut()) };
        // SAFETY: the caller owns `slot`.
        unsafe {
            slot.local.with_mut(|l| {
                (*l).head = rest;
                (*l).count = if rest.is_null() {
                    0
                } else {
                    (*l).count - moved as isize
                };
            })
        };
        // SAFETY: the chain from `first` is ours (cut off the cache), its last link null.
        unsafe { self.push_chain(shared, first) };
    }

    /// Thread exit: gives the cache's blocks back, folds its counters into the pool's, and
    /// frees the cache for another thread.
    ///
    /// # Safety
    /// The calling thread owns `slot`, a cache of this pool, and never uses it again.
    unsafe fn release(&self, slot: &CacheSlot, shared: &Shared) {
        // SAFETY: ours (caller).
        unsafe { self.give_back(slot, shared, usize::MAX) };
        // Relaxed: statistics; the owner's own counters (one writer).
        let (allocs, frees) = (
            slot.allocs.load(Ordering::Relaxed),
            slot.frees.load(Ordering::Relaxed),
        );
        self.direct_allocs.fetch_add(allocs, Ordering::Relaxed);
        self.direct_frees.fetch_add(frees, Ordering::Relaxed);
        slot.allocs.store(0, Ordering::Relaxed);
        slot.frees.store(0, Ordering::Relaxed);
        // SAFETY: ours (caller), not touched again: the next owner finds it emptied, and its
        // counters reset.
        unsafe { slot.local.release() };
    }
}
