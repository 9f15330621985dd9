//! [`SyncPool`] and [`SyncPoolHandle`]: a fixed-size block pool any thread may allocate from
//! and free into, lock-free.
//!
//! # The free list
//!
//! Blocks live in up to [`MAX_CHUNKS`] chunks; chunk `k` holds `B << k` blocks (`B` a power of
//! two), so a block is named by a 32-bit index (`i + B` has its top bit at `k + log2 B`). Free
//! indices sit on a [`ShardedStack`]: [`SHARDS`] tagged, ABA-safe Treiber stacks whose links
//! live in a table of `AtomicU32` after each chunk's blocks, never inside the blocks (see
//! `free_stack` for the ABA argument, the orderings, and why out of line).
//!
//! Each thread has a home shard (threads are numbered as they first use any `SyncPool`, and
//! numbers go round the shards), where it frees and allocates. When its home is empty it takes
//! another shard's whole stack in one CAS. A single CAS-per-operation stack made a producer
//! and a consumer thread fight over one cache line on every block: the L2 two-thread
//! benchmark ran at glibc's speed, below the global allocator's. Sharded, they meet once per
//! batch.
//!
//! Never-used blocks come from a `fresh` counter (`fetch_add`): the thread whose index falls in
//! a chunk not yet taken allocates it from the engine and installs it with a CAS (the loser of
//! a race gives its copy back); see `chunk_table`. Blocks are found from a pointer on free by
//! scanning the (few) chunks from the newest: half of all blocks are in the newest chunk.

use super::chunk_table::{first_index, ChunkTable, MAX_CHUNKS};
use super::free_stack::{LinkTable, ShardedStack, NIL, SHARDS};
use super::pool::Geometry;
use super::{
    engine_alloc, engine_free, engine_free_block, engine_usable, ChunkInfo, LocalMap, LocalStats,
};
use crate::api::{self, RawAllocator};
use crate::sync::{AtomicU32, AtomicUsize, Ordering};
use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// Largest chunk (bytes); the pool stops growing before a chunk would exceed it, and serves
/// further requests from the engine.
const CHUNK_BYTES_MAX: usize = 1 << 30;
/// Target bytes of the first chunk.
const FIRST_CHUNK: usize = 4096;

/// The state every `SyncPool` / handle shares; an engine block, freed by the last owner (or,
/// for a [`StaticPool`](crate::StaticPool), a `static`).
pub(super) struct Shared {
    /// The free blocks, and the live count, per shard.
    free: ShardedStack,
    /// Never-used block indices and the chunks they fall in.
    table: ChunkTable,
    /// Owners: the `SyncPool` and its handles.
    refs: AtomicUsize,
    /// Fallback requests served so far.
    fallback_total: AtomicUsize,
    /// Live fallback blocks.
    fallback_live: AtomicUsize,
    /// Engine bytes in live fallback blocks.
    fallback_bytes: AtomicUsize,
    /// Fresh indices whose chunk the engine refused (never blocks).
    lost: AtomicUsize,
    geometry: Geometry,
    /// Chunks that may be taken (`first_index(max_chunks) <= limit`).
    max_chunks: usize,
    /// Indices `0..limit` are pool blocks.
    limit: usize,
    /// `u64::MAX / block_size + 1`: exact division by the block size for 32-bit numerators
    /// (Lemire, Kaser & Kurz, "Faster remainder by direct computation", 2019).
    div_magic: u64,
}

impl Shared {
    /// The state of a pool for `layout` (`const`: a [`StaticPool`] holds one in a `static`).
    pub(super) const fn new(layout: Layout) -> Shared {
        let geometry = Geometry::of(layout);
        let size = geometry.size;
        let per_first = if FIRST_CHUNK / size > 1 {
            FIRST_CHUNK / size
        } else {
            1
        };
        let base_shift = usize::BITS - 1 - per_first.leading_zeros();
        let mut max_chunks = 0;
        while max_chunks < MAX_CHUNKS {
            let k = max_chunks;
            let blocks = 1usize << (base_shift as usize + k);
            let end_index = first_index(base_shift, k + 1);
            let fits = match blocks.checked_mul(size) {
                Some(bytes) => bytes <= CHUNK_BYTES_MAX,
                None => false,
            };
            if !fits || end_index >= NIL as usize {
                break;
            }
            max_chunks += 1;
        }
        let limit = first_index(base_shift, max_chunks);
        Shared {
            free: ShardedStack::new(),
            table: ChunkTable::new(base_shift),
            refs: AtomicUsize::new(1),
            fallback_total: AtomicUsize::new(0),
            fallback_live: AtomicUsize::new(0),
            fallback_bytes: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
            geometry,
            max_chunks,
            limit,
            div_magic: (u64::MAX / size as u64).wrapping_add(1),
        }
    }

    /// The block geometry.
    pub(super) const fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Address of pool block `i` (its chunk is installed).
    #[inline(always)]
    pub(super) fn addr(&self, i: usize) -> *mut u8 {
        let (k, off) = self.table.decode(i);
        // Acquire (in `chunk`), though the pointer value is all we need: the head's Acquire
        // already orders the installation in the pop path.
        let base = self.table.chunk(k);
        debug_assert!(!base.is_null());
        base.wrapping_add(off * self.geometry.size)
    }

    /// Pops a free block, or takes a never-used one; null if the pool cannot grow.
    #[inline]
    pub(super) fn pop(&self) -> *mut u8 {
        let home = home_shard();
        match self.free.pop(home, self) {
            Some(index) => {
                #[cfg(feature = "checked")]
                self.check_popped(index);
                self.addr(index as usize)
            }
            None => self.fresh(),
        }
    }

    /// Gives pool block `index` back.
    ///
    /// # Safety
    /// `index` names a live pool block, given back by its holder.
    #[inline]
    unsafe fn push(&self, index: u32) {
        #[cfg(feature = "checked")]
        self.check_freed(index);
        let home = home_shard();
        let below = self.free.push(home, index, self);
        // Every build: a block given back twice in a row on one thread lands on itself. One
        // compare with a value in hand. (Feature `checked` catches every double free.)
        if below == index {
            crate::engine::checked::report(
                "double free of a SyncPool block (deallocated twice in a row)",
                self.addr(index as usize) as usize,
            );
        }
    }

    /// A never-used block; null once the pool has reached its size limit (or the engine
    /// refuses a chunk).
    #[cold]
    #[inline(never)]
    pub(super) fn fresh(&self) -> *mut u8 {
        let Some(i) = self.table.take_fresh(self.limit) else {
            return ptr::null_mut();
        };
        let (k, off) = self.table.decode(i);
        let layout = self.chunk_layout(k);
        let base = self.table.chunk_or_install(
            k,
            // Checked builds: zeroed, for the free bits.
            || engine_alloc(layout, cfg!(feature = "checked")),
            // SAFETY: our unused copy, allocated with `layout` just above.
            |mine| unsafe { engine_free(mine, layout) },
        );
        if base.is_null() {
            // The engine refused: index `i` is lost. Relaxed: a statistic.
            self.lost.fetch_add(1, Ordering::Relaxed);
            return ptr::null_mut();
        }
        base.wrapping_add(off * self.geometry.size)
    }

    /// Layout of chunk `k`: its blocks, then one link word per block.
    fn chunk_layout(&self, k: usize) -> Layout {
        // Cannot fail: `k < max_chunks`, so the size is at most 1.5 × CHUNK_BYTES_MAX, and the
        // block alignment is a Layout's.
        Layout::from_size_align(self.chunk_bytes(k), self.geometry.align)
            .unwrap_or(Layout::new::<u8>())
    }

    /// Bytes of chunk `k` (blocks and links; feature `checked`: and the free bits).
    #[inline(always)]
    fn chunk_bytes(&self, k: usize) -> usize {
        let blocks = self.table.chunk_blocks(k);
        let bytes = blocks * self.geometry.size + blocks * size_of::<AtomicU32>();
        #[cfg(feature = "checked")]
        let bytes = bytes.next_multiple_of(8) + blocks.div_ceil(64) * 8;
        bytes
    }

    /// Feature `checked`: the free-bit word and mask of block `index` (one bit per block,
    /// set while the block is free, after the chunk's link table).
    #[cfg(feature = "checked")]
    fn freed_bit(&self, index: u32) -> (&AtomicUsize, usize) {
        let (k, off) = self.table.decode(index as usize);
        let blocks = self.table.chunk_blocks(k);
        // Relaxed: as in `link`.
        let base = self.table.chunk_relaxed(k);
        let bits =
            (blocks * self.geometry.size + blocks * size_of::<AtomicU32>()).next_multiple_of(8);
        // SAFETY: the bit words follow the link table, 8-aligned, one per 64 blocks, zeroed
        // when the chunk was installed; the chunk stays mapped while the pool lives.
        let word = unsafe { &*base.add(bits).cast::<AtomicUsize>().add(off / 64) };
        (word, 1 << (off % 64))
    }

    /// Feature `checked`: marks block `index` free, or reports a double free.
    #[cfg(feature = "checked")]
    fn check_freed(&self, index: u32) {
        let (word, mask) = self.freed_bit(index);
        // Relaxed: the stack's Release/Acquire orders the bit for the next popper; two
        // racing frees of one block are ordered by the RMW itself (one of them sees the bit).
        if word.fetch_or(mask, Ordering::Relaxed) & mask != 0 {
            crate::engine::checked::report(
                "double free of a SyncPool block",
                self.addr(index as usize) as usize,
            );
        }
    }

    /// Feature `checked`: marks block `index` (just popped) live; it must have been free.
    #[cfg(feature = "checked")]
    fn check_popped(&self, index: u32) {
        let (word, mask) = self.freed_bit(index);
        // Relaxed: as in `check_freed`.
        if word.fetch_and(!mask, Ordering::Relaxed) & mask == 0 {
            crate::engine::checked::report(
                "SyncPool free stack corrupted: it handed out a block that was not free",
                self.addr(index as usize) as usize,
            );
        }
    }

    /// The index of pool block `p`, or `None` if `p` is not in a chunk (a fallback block).
    #[inline]
    pub(super) fn index_of(&self, p: *mut u8) -> Option<u32> {
        // Relaxed: the allocation of `p` (a fetch_add) happened before this free (the block
        // was handed to us), so we read at least its index + 1.
        let top = self.table.taken(self.limit);
        if top == 0 {
            return None;
        }
        let (kmax, _) = self.table.decode(top - 1);
        let mut k = kmax + 1;
        while k > 0 {
            k -= 1;
            // Acquire (a chunk installed by another thread).
            let base = self.table.chunk(k);
            if base.is_null() {
                continue;
            }
            let off = (p as usize).wrapping_sub(base as usize);
            if off < self.table.chunk_blocks(k) * self.geometry.size {
                // `off < 2^30` and the block size `< 2^30`: the magic division is exact.
                let q = ((self.div_magic as u128 * off as u128) >> 64) as usize;
                return Some((self.table.first_index(k) + q) as u32);
            }
        }
        None
    }

    #[inline]
    pub(super) fn alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        if self.geometry.fits(layout) {
            let p = self.pop();
            if !p.is_null() {
                if zeroed {
                    // SAFETY: a block of `geometry.size` bytes we just took.
                    unsafe { ptr::write_bytes(p, 0, self.geometry.size) };
                }
                return p;
            }
            // The pool cannot grow: serve the block from the engine, sized like a pool block
            // (so the pool-block length we report is within it).
            let g = self.geometry;
            // SAFETY: `Geometry` sizes are valid layouts (rounded to a Layout's align).
            let block = unsafe { Layout::from_size_align_unchecked(g.size, g.align) };
            return self.fallback_alloc(block, zeroed);
        }
        self.fallback_alloc(layout, zeroed)
    }

    /// # Safety
    /// `p` is a live block of this pool fitting `layout`.
    #[inline]
    pub(super) unsafe fn free(&self, p: *mut u8, layout: Layout) {
        // The block's kind comes from its address, never from `layout`: code that differs by
        // layout would make the `match` that drops an enum of boxes (each type in its own
        // pool) a branch on the type, mispredicted when types arrive in random order (see
        // `Pool`'s `raw_free`).
        match self.index_of(p) {
            Some(index) => {
                #[cfg(feature = "checked")]
                if !self.geometry.fits(layout) {
                    crate::engine::checked::report(
                        "deallocate to a SyncPool with the wrong size or alignment (a pool \
                         block given back with a layout that does not fit the pool's blocks)",
                        p as usize,
                    );
                }
                // SAFETY: a live pool block (caller).
                unsafe { self.push(index) }
            }
            // SAFETY: a live block of ours outside the chunks: a fallback block (caller).
            None => unsafe { self.fallback_free(p) },
        }
        #[cfg(not(feature = "checked"))]
        let _ = layout;
    }

    #[cold]
    pub(super) fn fallback_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let p = engine_alloc(layout, zeroed);
        if !p.is_null() {
            // SAFETY: a live engine block.
            let len = unsafe { engine_usable(p) };
            // Relaxed: statistics.
            self.fallback_total.fetch_add(1, Ordering::Relaxed);
            self.fallback_live.fetch_add(1, Ordering::Relaxed);
            self.fallback_bytes.fetch_add(len, Ordering::Relaxed);
        }
        p
    }

    /// # Safety
    /// `p` is a live fallback block.
    #[cold]
    pub(super) unsafe fn fallback_free(&self, p: *mut u8) {
        // SAFETY: a live engine block (caller).
        let len = unsafe { engine_usable(p) };
        // Relaxed: statistics.
        self.fallback_live.fetch_sub(1, Ordering::Relaxed);
        self.fallback_bytes.fetch_sub(len, Ordering::Relaxed);
        // SAFETY: a live engine block (caller), given back once.
        unsafe { engine_free_block(p) };
    }

    /// # Safety
    /// `p` is a live block of this pool allocated with `layout`'s alignment and fitting it.
    #[inline]
    pub(super) unsafe fn usable(&self, p: *mut u8, layout: Layout) -> usize {
        // SAFETY: forwarded (caller).
        unsafe { self.geometry.usable(p, layout) }
    }

    /// # Safety
    /// `p` is a live block of this pool fitting `old`.
    pub(super) unsafe fn resize_in_place(
        &self,
        p: *mut u8,
        old: Layout,
        new_size: usize,
    ) -> *mut u8 {
        // SAFETY: forwarded (caller).
        match unsafe { self.geometry.resize_fallback(p, old, new_size) } {
            Some((q, old_len, new_len)) => {
                // Relaxed: statistics.
                self.fallback_bytes.fetch_add(new_len, Ordering::Relaxed);
                self.fallback_bytes.fetch_sub(old_len, Ordering::Relaxed);
                q
            }
            None => ptr::null_mut(),
        }
    }

    pub(super) fn stats(&self) -> LocalStats {
        self.stats_with(None)
    }

    /// Statistics; `live` pool blocks if the caller counts them (a [`StaticPool`], whose free
    /// blocks are mostly in thread caches), else counted from the free stacks.
    pub(super) fn stats_with(&self, live: Option<usize>) -> LocalStats {
        let (mut capacity, mut bytes, mut chunks) = (0, 0, 0);
        for k in 0..self.max_chunks {
            // Relaxed: statistics.
            if !self.table.chunk_relaxed(k).is_null() {
                capacity += self.table.chunk_blocks(k);
                bytes += self.chunk_bytes(k);
                chunks += 1;
            }
        }
        // Every index handed out was carved once; the pool reuses freed blocks before
        // carving, so that is its peak of live pool blocks.
        // Relaxed: a statistic.
        let carved = self.table.taken(self.limit) - self.lost.load(Ordering::Relaxed);
        // The pool keeps no live counter (a locked RMW on every allocation and free would
        // double their cost): live blocks are the carved ones minus those on the stacks.
        let live = live.unwrap_or_else(|| carved - self.free_blocks(carved));
        let fallback_live = self.fallback_live.load(Ordering::Relaxed);
        let fallback_bytes = self.fallback_bytes.load(Ordering::Relaxed);
        LocalStats {
            kind: "SyncPool",
            peak_live_bytes: carved * self.geometry.size,
            live_blocks: live + fallback_live,
            live_bytes: live * self.geometry.size + fallback_bytes,
            committed: bytes + fallback_bytes,
            reserved: bytes + fallback_bytes,
            capacity_blocks: capacity,
            chunks,
            fallback_allocs: self.fallback_total.load(Ordering::Relaxed),
            fallback_live,
        }
    }
}

impl Shared {
    /// Blocks on the free stacks, walked (exact when no other thread is using the pool; while
    /// others pop and push, a walk may miss or double-count blocks, and it stops after `bound`
    /// blocks or at an index whose chunk it does not see installed).
    fn free_blocks(&self, bound: usize) -> usize {
        let mut count = 0;
        for shard in self.free.shards() {
            let mut index = shard.free.top();
            while index != NIL && count < bound {
                if index as usize >= self.limit {
                    break;
                }
                let (k, _) = self.table.decode(index as usize);
                // Relaxed: a statistic; a pushed index's chunk was installed before the push.
                if self.table.chunk_relaxed(k).is_null() {
                    break;
                }
                count += 1;
                // Relaxed: ordered by `top`'s Acquire (or a statistic's race, see above).
                index = self.link(index).load(Ordering::Relaxed);
            }
        }
        count
    }
}

/// What a static pool's thread caches use (`thread_cache`); feature `checked` builds have
/// no caches.
#[cfg(not(feature = "checked"))]
impl Shared {
    /// Gives back pool block `p` to the shared stacks.
    ///
    /// # Safety
    /// `p` is a live pool block of this pool (not a fallback block), given back once.
    pub(super) unsafe fn push_block(&self, p: *mut u8) {
        match self.index_of(p) {
            // SAFETY: a live pool block (caller).
            Some(index) => unsafe { self.push(index) },
            None => crate::engine::checked::report(
                "deallocate to a static pool of a block it did not hand out",
                p as usize,
            ),
        }
    }

    /// Whether no fallback block is live: then every live block of the pool is a pool block.
    /// Sound for a caller that holds a block: a live fallback block's allocation counted it
    /// before the block was handed to the caller, and only its own free uncounts it.
    #[inline(always)]
    pub(super) fn no_fallback_live(&self) -> bool {
        // Relaxed: see above (coherence with the increment that happened before).
        self.fallback_live.load(Ordering::Relaxed) == 0
    }
}

impl LinkTable for Shared {
    /// The link of block `index`, in the table after its chunk's blocks.
    #[inline(always)]
    fn link(&self, index: u32) -> &AtomicU32 {
        let (k, off) = self.table.decode(index as usize);
        // Relaxed: the stack only holds indices of installed chunks, and the head's Acquire
        // (in `FreeStack`) ordered the installation before us.
        let base = self.table.chunk_relaxed(k);
        let links = base.wrapping_add(self.table.chunk_blocks(k) * self.geometry.size);
        // SAFETY: the table follows the chunk's blocks, one aligned `AtomicU32` per block
        // (the blocks' bytes are a multiple of the block alignment, at least a word), and the
        // chunk stays mapped while the pool lives.
        unsafe { &*links.cast::<AtomicU32>().add(off) }
    }
}

impl Shared {
    pub(super) fn map(&self) -> LocalMap {
        let mut chunks = Vec::with_capacity(self.max_chunks);
        let carved = self.table.taken(self.limit);
        for k in (0..self.max_chunks).rev() {
            // Relaxed: statistics (the address only).
            let base = self.table.chunk_relaxed(k);
            if base.is_null() {
                continue;
            }
            let blocks = self.table.chunk_blocks(k);
            let in_chunk = carved.saturating_sub(self.table.first_index(k)).min(blocks);
            chunks.push(ChunkInfo {
                addr: base as usize,
                bytes: self.chunk_bytes(k),
                used_bytes: Some(in_chunk * self.geometry.size),
                capacity_blocks: blocks,
                carved_blocks: in_chunk,
            });
        }
        LocalMap {
            kind: "SyncPool",
            chunks,
        }
    }
}

/// Threads numbered so far (each takes the next number the first time it uses a `SyncPool`).
static THREADS_SEEN: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// The calling thread's home shard, or `usize::MAX` before its first use. `const` and
    /// without a destructor: reading it is one thread-pointer-relative load and never fails.
    static HOME_SHARD: core::cell::Cell<usize> = const { core::cell::Cell::new(usize::MAX) };
}

/// The calling thread's home shard (see the module docs).
#[inline(always)]
fn home_shard() -> usize {
    HOME_SHARD
        .try_with(|home| match home.get() {
            usize::MAX => first_home_shard(home),
            shard => shard,
        })
        .unwrap_or(0)
}

/// Numbers the calling thread and stores its home shard.
#[cold]
#[inline(never)]
fn first_home_shard(home: &core::cell::Cell<usize>) -> usize {
    // Relaxed: the counter only hands out distinct numbers.
    let shard = THREADS_SEEN.fetch_add(1, Ordering::Relaxed) % SHARDS;
    home.set(shard);
    shard
}

/// A reference to the shared state (a `SyncPool` or a handle).
struct SharedRef(NonNull<Shared>);

impl SharedRef {
    fn new(layout: Layout) -> Option<SharedRef> {
        let p = engine_alloc(Layout::new::<Shared>(), false).cast::<Shared>();
        let p = NonNull::new(p)?;
        // SAFETY: a fresh engine block sized and aligned for `Shared`.
        unsafe { p.as_ptr().write(Shared::new(layout)) };
        Some(SharedRef(p))
    }

    #[inline(always)]
    fn get(&self) -> &Shared {
        // SAFETY: the shared state lives while any reference to it does.
        unsafe { self.0.as_ref() }
    }

    fn clone_ref(&self) -> SharedRef {
        // Relaxed: a new reference is made from an existing one, which keeps the state alive;
        // no other memory needs ordering (as `Arc::clone`).
        self.get().refs.fetch_add(1, Ordering::Relaxed);
        SharedRef(self.0)
    }
}

impl Drop for SharedRef {
    fn drop(&mut self) {
        // AcqRel: Release orders our uses of the pool before the count drops; Acquire makes
        // every other owner's uses visible to the last one before it frees (as `Arc`'s
        // Release decrement + Acquire fence).
        if self.get().refs.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let shared = self.get();
        for k in 0..shared.max_chunks {
            // Relaxed: we are the last owner (synchronised above).
            let base = shared.table.chunk_relaxed(k);
            if !base.is_null() {
                // SAFETY: our chunk; no block of it can be used any more (every block borrowed
                // the pool or held a handle).
                unsafe { engine_free(base, shared.chunk_layout(k)) };
            }
        }
        // SAFETY: the last owner: nobody uses the shared state any more. `Shared` has no drop
        // glue beyond its atomics.
        unsafe { engine_free(self.0.as_ptr().cast(), Layout::new::<Shared>()) };
    }
}

// SAFETY: the shared state is atomics and data written once before it is shared.
unsafe impl Send for SharedRef {}
// SAFETY: as above.
unsafe impl Sync for SharedRef {}

/// A pool of fixed-size blocks that any thread may allocate from and free into, without a
/// lock: LIFO free stacks (tagged, ABA-safe), one per group of threads, so threads do not
/// share a cache line per block; a thread whose stack runs dry takes another's whole (see the
/// module source).
///
/// As for [`Pool`](crate::Pool): requests that fit the block use the pool, any other layout is
/// served by the engine; chunks come from the engine (doubling) and go back when the pool and
/// its last [`SyncPoolHandle`] are gone. `&SyncPool` is an
/// [`Allocator`](crate::allocator_api2::alloc::Allocator), and so is the owned, `'static`
/// handle from [`handle`](SyncPool::handle), for boxes that move to other threads.
///
/// ```
/// use allocgator::SyncPool;
/// use allocgator::allocator_api2::boxed::Box;
///
/// let pool = SyncPool::for_type::<[u64; 8]>();
/// std::thread::scope(|s| {
///     let (tx, rx) = std::sync::mpsc::channel::<Box<[u64; 8], &SyncPool>>();
///     s.spawn(move || {
///         for b in rx {
///             assert_eq!(b[0], 7); // freed on this thread
///         }
///     });
///     for _ in 0..1000 {
///         tx.send(Box::new_in([7; 8], &pool)).unwrap();
///     }
/// });
/// assert_eq!(pool.stats().live_blocks(), 0);
/// ```
pub struct SyncPool {
    shared: SharedRef,
}

impl SyncPool {
    /// A pool whose blocks fit `layout` (block size: `layout.size()` rounded up to its
    /// alignment, at least a pointer). Takes one small engine block for its shared state;
    /// chunks come on first use.
    ///
    /// Aborts through [`handle_alloc_error`](std::alloc::handle_alloc_error) if the engine
    /// refuses that block; [`try_new`](Self::try_new) returns `None` instead.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let pool = allocgator::SyncPool::new(Layout::from_size_align(40, 8).unwrap());
    /// assert_eq!(pool.block_size(), 40);
    /// ```
    pub fn new(layout: Layout) -> SyncPool {
        match Self::try_new(layout) {
            Some(p) => p,
            None => std::alloc::handle_alloc_error(Layout::new::<Shared>()),
        }
    }

    /// A pool for `layout`, or `None` if the engine refuses memory for its shared state.
    ///
    /// ```
    /// let pool = allocgator::SyncPool::try_new(core::alloc::Layout::new::<u64>());
    /// assert!(pool.is_some());
    /// ```
    pub fn try_new(layout: Layout) -> Option<SyncPool> {
        Some(SyncPool {
            shared: SharedRef::new(layout)?,
        })
    }

    /// A pool for values of type `T`.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::SyncPool::for_type::<u64>();
    /// assert_eq!(*Box::new_in(3u64, &pool), 3);
    /// ```
    pub fn for_type<T>() -> SyncPool {
        Self::new(Layout::new::<T>())
    }

    /// An owned, cloneable, `'static + Send + Sync` allocator handle to this pool. The pool's
    /// memory stays until the pool and every handle are gone.
    ///
    /// ```
    /// use allocgator::{SyncPool, SyncPoolHandle};
    /// use allocgator::allocator_api2::boxed::Box;
    ///
    /// let pool = SyncPool::for_type::<u64>();
    /// let h = pool.handle();
    /// let b: Box<u64, SyncPoolHandle> = Box::new_in(9, h.clone());
    /// drop(pool); // the handles keep the pool alive
    /// let t = std::thread::spawn(move || *b + 1);
    /// assert_eq!(t.join().unwrap(), 10);
    /// ```
    pub fn handle(&self) -> SyncPoolHandle {
        SyncPoolHandle {
            shared: self.shared.clone_ref(),
        }
    }

    /// Size of the pool's blocks.
    ///
    /// ```
    /// assert_eq!(allocgator::SyncPool::for_type::<[u8; 3]>().block_size(), 8);
    /// ```
    pub fn block_size(&self) -> usize {
        self.shared.get().geometry.size
    }

    /// A snapshot: live blocks (pool and fallback), capacity, chunks, fallback counts. Exact
    /// when no other thread is using the pool.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::SyncPool::for_type::<u64>();
    /// let b = Box::new_in(1u64, &pool);
    /// assert_eq!(pool.stats().live_blocks(), 1);
    /// println!("{}", pool.stats());
    /// # drop(b);
    /// ```
    pub fn stats(&self) -> LocalStats {
        self.shared.get().stats()
    }

    /// A map of the pool's chunks, newest first: address, size, blocks carved and held.
    /// Exact when no other thread is using the pool.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::SyncPool::for_type::<[u8; 64]>();
    /// let boxes: Vec<_> = (0..100).map(|_| Box::new_in([0u8; 64], &pool)).collect();
    /// let map = pool.map();
    /// assert_eq!(map.chunks().iter().map(|c| c.carved_blocks).sum::<usize>(), 100);
    /// println!("{map}");
    /// # drop(boxes);
    /// ```
    pub fn map(&self) -> LocalMap {
        self.shared.get().map()
    }
}

impl core::fmt::Debug for SyncPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncPool")
            .field("block_size", &self.shared.get().geometry.size)
            .finish()
    }
}

/// An owned handle to a [`SyncPool`]: cloneable, `'static + Send + Sync`, and an
/// [`Allocator`](crate::allocator_api2::alloc::Allocator) of that pool, so a
/// `Box<Msg, SyncPoolHandle>` can move into `std::thread::spawn` or `tokio::spawn`.
///
/// ```
/// use allocgator::{SyncPool, SyncPoolHandle};
/// use allocgator::allocator_api2::vec::Vec;
///
/// let h: SyncPoolHandle = SyncPool::for_type::<u32>().handle(); // the pool itself is gone
/// let mut v = Vec::new_in(h.clone());
/// v.extend([1u32, 2, 3]);
/// let t = std::thread::spawn(move || v.iter().sum::<u32>());
/// assert_eq!(t.join().unwrap(), 6);
/// assert_eq!(h.stats().live_blocks(), 0);
/// ```
pub struct SyncPoolHandle {
    shared: SharedRef,
}

impl SyncPoolHandle {
    /// The pool's statistics (see [`SyncPool::stats`]).
    ///
    /// ```
    /// let h = allocgator::SyncPool::for_type::<u8>().handle();
    /// assert_eq!(h.stats().live_blocks(), 0);
    /// ```
    pub fn stats(&self) -> LocalStats {
        self.shared.get().stats()
    }

    /// The pool's chunk map (see [`SyncPool::map`]).
    ///
    /// ```
    /// let h = allocgator::SyncPool::for_type::<u8>().handle();
    /// assert!(h.map().chunks().is_empty());
    /// ```
    pub fn map(&self) -> LocalMap {
        self.shared.get().map()
    }
}

impl Clone for SyncPoolHandle {
    fn clone(&self) -> Self {
        SyncPoolHandle {
            shared: self.shared.clone_ref(),
        }
    }
}

impl core::fmt::Debug for SyncPoolHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncPoolHandle")
            .field("block_size", &self.shared.get().geometry.size)
            .finish()
    }
}

macro_rules! raw_via_shared {
    ($ty:ty) => {
        impl RawAllocator for $ty {
            #[inline(always)]
            unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
                self.shared.get().alloc(layout, zeroed)
            }

            #[inline(always)]
            unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: forwarded (the Allocator contract).
                unsafe { self.shared.get().free(ptr, layout) }
            }

            #[inline(always)]
            unsafe fn raw_usable(&self, ptr: *mut u8, layout: Layout) -> usize {
                // SAFETY: forwarded (the Allocator contract).
                unsafe { self.shared.get().usable(ptr, layout) }
            }

            unsafe fn raw_resize_in_place(
                &self,
                ptr: *mut u8,
                old: Layout,
                new_size: usize,
            ) -> *mut u8 {
                // SAFETY: forwarded (the Allocator contract).
                unsafe { self.shared.get().resize_in_place(ptr, old, new_size) }
            }
        }
    };
}

raw_via_shared!(&SyncPool);
raw_via_shared!(SyncPoolHandle);
api::impl_allocator!(&SyncPool);
api::impl_allocator!(SyncPoolHandle);
