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
//! The hardened build stores those in-block links encoded and checks each one it follows
//! ([`link`]), as the engine does with its own.
//!
//! Nothing walks a chain it receives: a cache does not know how many blocks a refill brought
//! (its count only decides when to give blocks back), and the pool's live-block statistic
//! comes from each cache's own balance (allocations minus frees through it) instead. The
//! balance is also the count: a free compares it with one bound, and an allocation or a free
//! writes the list head and the balance, nothing else.
//!
//! The fast paths are a thread-local load (the table has no destructor, so no state check;
//! the thread's exit hook is a second thread-local, registered by its first claim), the pool's
//! id, the cache's head and balance. Every slow path is a tail call, so the out-of-line free
//! that dropping a `Protocol` enum calls (see `static_pool`) saves no registers.
//!
//! Each pool has [`SLOTS`] caches, claimed by threads on first use. Threads past that, pools
//! from the [`FULL_ID`]th on, and frees while a thread's locals are being torn down use the
//! `SyncPool` stacks directly (a CAS per block), and draw on the chains only when those are
//! empty. Every pool block is free in exactly one place, a cache, a chain or the `SyncPool`
//! stacks, or in the program's hands.

use super::claimable::Claimable;
use super::free_link;
use super::free_stack::FreeStack;
use super::sync_pool::Shared;
use crate::sync::{AtomicUsize, Ordering};
use core::cell::Cell;
use core::ptr;

/// Thread caches per pool.
const SLOTS: usize = 64;
/// Entries in each thread's table of caches, indexed by pool id. Entry 0 is never set (id 0:
/// the pool has no id yet), so its null sends the first operation to the claim path.
const ENTRIES: usize = 64;
/// The id of every pool past the table: its entry points at [`NO_CACHE`] once claimed, so
/// those pools work uncached. Pools `1..FULL_ID` have caches.
const FULL_ID: usize = ENTRIES - 1;
/// Bytes of free blocks a cache holds (by its count) before it gives half back.
const CACHE_BYTES: usize = 32 * 1024;

/// The link in the first word of `block`, a cached (or chained) block of `shared` (see
/// `free_link`). The hardened build checks each one it follows: null, or an address aligned
/// for the pool's blocks inside the span of its chunks; anything else aborts, naming `block`.
///
/// # Safety
/// `block` is a free block of `shared` held by the caller (in its cache, or a chain it took),
/// its first word written by `free_link::store`.
#[inline(always)]
unsafe fn link(shared: &Shared, block: *mut u8) -> *mut u8 {
    // SAFETY: a free block the caller holds, its link written by `free_link::store` (caller).
    let next = unsafe { free_link::load(block) };
    #[cfg(feature = "hardened")]
    {
        if next.is_null() {
            return next;
        }
        if !shared.in_span(next.addr()) {
            crate::engine::checked::report(
                "static pool cache link overwritten (a write after free, or an overflow from \
                 the block before): the free block",
                block.addr(),
            );
        }
        // The next block's own provenance (under Miri, its chunk's mapping).
        crate::engine::with_engine_provenance(next)
    }
    #[cfg(not(feature = "hardened"))]
    {
        let _ = shared;
        next
    }
}

/// The owner's view of its cache.
struct CacheLocal {
    /// Free blocks, linked through their first word.
    head: *mut u8,
    /// The cache counts as full (gives half back on the next free) when its slot's `balance`
    /// is at or below this. The count of cached blocks is `mark - balance`, where `mark` is
    /// the balance when the cache was last known empty (a refill's blocks are not counted),
    /// and this is `mark - cap`: a free then checks one value it loads anyway.
    floor: isize,
}

// SAFETY: the blocks a cache lists are free pool blocks, which any thread may use (they are
// the pool's, not the thread's); the list moves with the cache's ownership.
unsafe impl Send for CacheLocal {}

/// One thread's cache of one pool.
#[repr(align(64))]
struct CacheSlot {
    /// Claimed by a thread on first use, released at its exit (the next owner finds it
    /// emptied and its balance folded into the pool's); only the owner touches it.
    local: Claimable<CacheLocal>,
    /// Blocks allocated through this cache minus blocks freed into it (wrapping: negative
    /// for a thread that frees what others allocated). Written by the owner only (a load and
    /// a store, no RMW), read by statistics; also the cache's count (see `floor`).
    balance: AtomicUsize,
}

impl CacheSlot {
    const fn new() -> CacheSlot {
        CacheSlot {
            local: Claimable::new(CacheLocal {
                head: ptr::null_mut(),
                floor: 0,
            }),
            balance: AtomicUsize::new(0),
        }
    }

    /// The balance (owner: exact; others: a statistic).
    #[inline(always)]
    fn balance(&self) -> isize {
        // Relaxed: one writer, the owner; others read a statistic.
        self.balance.load(Ordering::Relaxed) as isize
    }

    /// Sets the balance (owner only: a store, no RMW).
    #[inline(always)]
    fn set_balance(&self, b: isize) {
        // Relaxed: as `balance`.
        self.balance.store(b as usize, Ordering::Relaxed);
    }
}

/// Where a thread with no cache of a pool is pointed: it holds nothing and always looks full,
/// so both fast paths fall through to their slow paths, which see it is not a cache.
static NO_CACHE: CacheSlot = CacheSlot {
    local: Claimable::owned(CacheLocal {
        head: ptr::null_mut(),
        floor: isize::MAX,
    }),
    balance: AtomicUsize::new(0),
};

/// Ids handed to pools on their first cached operation.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A pool's caches, its stack of chains, its live-block counter and its id (its index in
/// every thread's table).
pub(super) struct PoolCaches {
    /// Chains of free blocks given back by caches, by their first block's index (linked
    /// through the pool's link table; each chain's own links are in its blocks).
    chains: FreeStack,
    /// 0 until the first cached operation; [`FULL_ID`] for pools past the table.
    id: AtomicUsize,
    /// A cache gives half back past this count.
    cap: isize,
    /// Blocks allocated minus blocks freed without a cache, plus the balances of caches given
    /// back since (wrapping).
    direct: AtomicUsize,
    slots: [CacheSlot; SLOTS],
}

/// The calling thread's caches, by pool id. It has no destructor, so that every access is a
/// plain thread-local access (a `thread_local!` with a destructor checks a state on each
/// one); the caches go back at thread exit through [`EXIT`].
struct ThreadTable {
    caches: [Cell<*const CacheSlot>; ENTRIES],
    pools: [Cell<(*const PoolCaches, *const Shared)>; ENTRIES],
}

/// Gives the calling thread's caches back when its thread-locals are destroyed; registered
/// by the thread's first claim.
struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        TABLE.with(|t| {
            for (cache, pool) in t.caches.iter().zip(&t.pools) {
                let slot = cache.replace(&NO_CACHE);
                if slot.is_null() || ptr::eq(slot, &NO_CACHE) {
                    continue;
                }
                let (caches, shared) = pool.get();
                // SAFETY: a cache this thread claimed, of a pool in a `static` (never freed);
                // its entry now points at `NO_CACHE`, so this thread never uses it again.
                unsafe { (*caches).release(&*slot, &*shared) };
            }
        });
    }
}

std::thread_local! {
    static TABLE: ThreadTable = const {
        ThreadTable {
            caches: [const { Cell::new(ptr::null()) }; ENTRIES],
            pools: [const { Cell::new((ptr::null(), ptr::null())) }; ENTRIES],
        }
    };
    static EXIT: ExitHook = const { ExitHook };
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
            direct: AtomicUsize::new(0),
            slots: [const { CacheSlot::new() }; SLOTS],
        }
    }

    /// Pool blocks in the program's hands (exact when no other thread is using the pool).
    pub(super) fn live(&self) -> usize {
        // Relaxed: statistics.
        let direct = self.direct.load(Ordering::Relaxed);
        self.slots
            .iter()
            .fold(direct, |n, s| n.wrapping_add(s.balance() as usize))
    }

    /// The calling thread's table entry for this pool: its cache, [`NO_CACHE`], or null
    /// before the thread's first use of the pool.
    #[inline(always)]
    fn entry(&self) -> *const CacheSlot {
        // Relaxed: the id is only an index; the entry it finds was written by this thread.
        let id = self.id.load(Ordering::Relaxed);
        // `% ENTRIES`: ids are below it, and the compiler then knows the index is in bounds.
        TABLE.with(|t| t.caches[id % ENTRIES].get())
    }

    /// First use of this pool on this thread: gives the pool an id if it has none and claims
    /// a free cache; [`NO_CACHE`] if the pool is past the table, every cache is taken, or the
    /// thread is exiting (its caches already given back).
    #[cold]
    #[inline(never)]
    fn claim(&'static self, shared: &'static Shared) -> &'static CacheSlot {
        // Relaxed: ids are distinct numbers; nothing is published with them.
        let mut id = self.id.load(Ordering::Relaxed);
        if id == 0 {
            let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed).min(FULL_ID);
            id = match self
                .id
                .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => fresh,
                Err(theirs) => theirs,
            };
        }
        TABLE.with(|t| {
            // A thread whose exit hook has run (or cannot be registered) takes no cache: it
            // would never give it back.
            let slot = if id == FULL_ID || EXIT.try_with(|_| ()).is_err() {
                &NO_CACHE
            } else {
                // The previous owner of a slot emptied it and folded its balance (to 0) before
                // releasing it.
                match self.slots.iter().find(|s| s.local.try_claim()) {
                    Some(slot) => {
                        // SAFETY: ours now (claimed); its balance is 0: the cache is empty.
                        unsafe { slot.local.with_mut(|l| (*l).floor = -self.cap) };
                        slot
                    }
                    None => &NO_CACHE,
                }
            };
            t.caches[id % ENTRIES].set(slot);
            t.pools[id % ENTRIES].set((self, shared));
            slot
        })
    }

    /// Allocates a pool block, from the calling thread's cache when it has one; null if the
    /// pool cannot grow.
    #[inline(always)]
    pub(super) fn alloc(&'static self, shared: &'static Shared) -> *mut u8 {
        let slot = self.entry();
        if slot.is_null() {
            return self.alloc_first(shared);
        }
        // SAFETY: table entries are null (handled above), `NO_CACHE`, or a cache of a
        // static pool (never freed).
        let slot = unsafe { &*slot };
        // SAFETY: the calling thread owns `slot`, or it is `NO_CACHE` (never written).
        let head = unsafe { slot.local.with(|l| (*l).head) };
        if head.is_null() {
            return self.refill(slot, shared);
        }
        // SAFETY: a free block on our cache: its first word links the next one (written when
        // it was cached or pushed, and ours since).
        let next = unsafe { link(shared, head) };
        // SAFETY: `head` is not null, so this is a real cache, not `NO_CACHE`: ours.
        unsafe { slot.local.with_mut(|l| (*l).head = next) };
        slot.set_balance(slot.balance() + 1);
        // SAFETY: the block we are handing out.
        unsafe { free_link::clear(head) };
        head
    }

    /// The thread's first allocation from this pool: claims a cache, then allocates.
    #[cold]
    #[inline(never)]
    fn alloc_first(&'static self, shared: &'static Shared) -> *mut u8 {
        self.claim(shared);
        self.alloc(shared)
    }

    /// Gives back a pool block to the calling thread's cache (or the shared stacks).
    ///
    /// # Safety
    /// `p` is a live pool block of `shared` (not a fallback block), given back once.
    #[inline(always)]
    pub(super) unsafe fn free(&'static self, shared: &'static Shared, p: *mut u8) {
        let slot = self.entry();
        if slot.is_null() {
            // SAFETY: as for this function (caller).
            return unsafe { self.free_first(shared, p) };
        }
        // SAFETY: table entries are null (handled above), `NO_CACHE`, or a cache of a
        // static pool (never freed).
        let slot = unsafe { &*slot };
        // SAFETY: the calling thread owns `slot`, or it is `NO_CACHE` (never written, reads
        // as full).
        let (head, floor) = unsafe { slot.local.with(|l| ((*l).head, (*l).floor)) };
        let balance = slot.balance();
        // `|`, not `||`: one branch for a full cache (or `NO_CACHE`) and a double free.
        if (balance <= floor) | (p == head) {
            // SAFETY: as for this function (caller).
            return unsafe { self.free_full(slot, shared, p) };
        }
        // SAFETY: the block is ours again, at least a pointer long and aligned.
        unsafe { free_link::store(p, head) };
        // SAFETY: a real cache (`NO_CACHE` reads as full), ours.
        unsafe { slot.local.with_mut(|l| (*l).head = p) };
        slot.set_balance(balance - 1);
    }

    /// The thread's first free into this pool: claims a cache, then frees.
    ///
    /// # Safety
    /// As for [`free`](Self::free).
    #[cold]
    #[inline(never)]
    unsafe fn free_first(&'static self, shared: &'static Shared, p: *mut u8) {
        self.claim(shared);
        // SAFETY: as for this function (caller).
        unsafe { self.free(shared, p) }
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
                self.direct.fetch_add(1, Ordering::Relaxed);
            }
            return p;
        }
        let p = match self.chains.pop(shared) {
            None => shared.pop(),
            Some(index) => {
                // The chain's first block is the caller's, the rest becomes the cache.
                let first = shared.addr(index as usize);
                // SAFETY: we hold the chain (popped); each block's first word links the next.
                let rest = unsafe { link(shared, first) };
                // SAFETY: the caller's block, about to be handed out.
                unsafe { free_link::clear(first) };
                // SAFETY: our cache (a real one, checked above), empty; its count starts
                // again at 0 after the caller's block.
                unsafe {
                    slot.local.with_mut(|l| {
                        (*l).head = rest;
                        (*l).floor = slot.balance() + 1 - self.cap;
                    })
                };
                first
            }
        };
        if !p.is_null() {
            slot.set_balance(slot.balance() + 1);
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
        let rest = unsafe { link(shared, first) };
        // SAFETY: the block about to be handed out.
        unsafe { free_link::clear(first) };
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

    /// The cache is full (or `NO_CACHE`), or `p` is its head (a double free, reported):
    /// gives half of the cache back as one chain, then caches `p`; without a cache, gives `p`
    /// to the `SyncPool` stacks.
    ///
    /// # Safety
    /// As for [`free`](Self::free), with `slot` the calling thread's table entry.
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
            self.direct.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: our cache (caller).
        let head = unsafe { slot.local.with(|l| (*l).head) };
        if p == head {
            crate::engine::checked::report(
                "double free of a static pool block (deallocated twice in a row)",
                p as usize,
            );
        }
        // SAFETY: our cache (caller).
        unsafe { self.give_back(slot, shared, (self.cap / 2) as usize) };
        // SAFETY: our cache (caller), and the cache has room again.
        let head = unsafe { slot.local.with(|l| (*l).head) };
        // SAFETY: the block is ours again, at least a pointer long and aligned (caller).
        unsafe { free_link::store(p, head) };
        // SAFETY: our cache (caller).
        unsafe { slot.local.with_mut(|l| (*l).head = p) };
        slot.set_balance(slot.balance() - 1);
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
            // Nothing cached: the count starts again at 0.
            // SAFETY: the caller owns `slot`.
            unsafe {
                slot.local
                    .with_mut(|l| (*l).floor = slot.balance() - self.cap)
            };
            return;
        }
        let (mut last, mut moved) = (first, 1);
        // SAFETY: cached blocks: each one's first word links the next.
        let mut rest = unsafe { link(shared, first) };
        while moved < n && !rest.is_null() {
            last = rest;
            moved += 1;
            // SAFETY: `rest` is a cached block too, whose first word links the next.
            rest = unsafe { link(shared, rest) };
        }
        // SAFETY: `last` is a cached block, ours: it ends the chain.
        unsafe { free_link::store(last, ptr::null_mut()) };
        // SAFETY: the caller owns `slot`.
        unsafe {
            slot.local.with_mut(|l| {
                (*l).head = rest;
                // The count drops by `moved`, or starts again at 0 if the cache is now empty.
                (*l).floor = if rest.is_null() {
                    slot.balance() - self.cap
                } else {
                    (*l).floor - moved as isize
                };
            })
        };
        // SAFETY: the chain from `first` is ours (cut off the cache), its last link null.
        unsafe { self.push_chain(shared, first) };
    }

    /// Thread exit: gives the cache's blocks back, folds its balance into the pool's, and
    /// frees the cache for another thread.
    ///
    /// # Safety
    /// The calling thread owns `slot`, a cache of this pool, and never uses it again.
    unsafe fn release(&self, slot: &CacheSlot, shared: &Shared) {
        // SAFETY: ours (caller).
        unsafe { self.give_back(slot, shared, usize::MAX) };
        // Relaxed: a statistic.
        self.direct
            .fetch_add(slot.balance() as usize, Ordering::Relaxed);
        slot.set_balance(0);
        // SAFETY: ours (caller), not touched again: the next owner finds it emptied, and its
        // balance 0.
        unsafe { slot.local.release() };
    }
}
