//! [`SyncPool`] and [`SyncPoolHandle`]: a fixed-size block pool any thread may allocate from
//! and free into, lock-free.
//!
//! One concept in one file: the shared state (`Shared`) and the two ways to hold it (the
//! pool and its `'static` handle). The stack itself is in `free_stack`, the chunk table in
//! `chunk_table`. About a third of the lines are documentation and runnable examples.
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
//!
//! # Trim
//!
//! A chunk is never freed while the pool lives: a popper that lost a race may still read the
//! link of an index it saw on top of a stack, in the chunk's link table. [`trim`] instead
//! takes every shard's stack (and the stash) whole, finds the chunks all of whose carved
//! blocks it now holds, gives the pages of those *blocks* back to the OS (the links stay),
//! and moves their indices to a *stash*; the rest go back on the stacks. A thread that finds
//! the stacks empty takes the stash whole before it carves a never-used block, and the pages
//! come back as they are touched. Trims and stash take-overs hold a try-lock (`trim_lock`),
//! so the stash and its counts change together.
//!
//! The newest chunk is usually carved only in part: its carved blocks (below the counter)
//! are trimmed, down to a page boundary, and blocks the counter hands out later start past
//! that boundary.
//!
//! [`trim`]: SyncPool::trim

use super::chunk_table::{first_index, ChunkTable, MAX_CHUNKS};
use super::free_stack::{FreeStack, LinkTable, ShardedStack, NIL, SHARDS};
use super::pool::Geometry;
use super::{
    engine_alloc, engine_free, engine_free_block, engine_usable, ChunkInfo, LocalMap, LocalStats,
};
use crate::allocator_api2::alloc::AllocError;
use crate::api::{self, RawAllocator};
use crate::os::{Os, OsMemory, OS_PAGE};
use crate::sync::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
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
    /// Cap on `held` (`usize::MAX`: none).
    alloc_limit: AtomicUsize,
    /// Engine bytes the pool holds, as the limit counts them: installed chunks
    /// ([`chunk_bytes`](Shared::chunk_bytes)) and live fallback blocks (usable size). Taken
    /// with a CAS *before* the engine is asked, so racing threads cannot pass the limit
    /// together.
    held: AtomicUsize,
    /// Requests refused because of the limit.
    limit_refusals: AtomicUsize,
    /// Indices of trimmed blocks (their pages given back to the OS), all free.
    stash: FreeStack,
    /// Blocks on the stash. Changed under `trim_lock`; read without it as a hint.
    stashed: AtomicUsize,
    /// Bytes the stash's pages gave back to the OS. Changed under `trim_lock`.
    trimmed_bytes: AtomicUsize,
    /// Held by a trim and by a take-over of the stash.
    trim_lock: AtomicBool,
    /// Hardened build: the lowest start and highest end of the chunks taken so far (a
    /// static pool's cache checks the links it follows against them: see `in_span`).
    #[cfg(all(feature = "hardened", not(loom)))]
    span_start: AtomicUsize,
    #[cfg(all(feature = "hardened", not(loom)))]
    span_end: AtomicUsize,
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
            alloc_limit: AtomicUsize::new(usize::MAX),
            held: AtomicUsize::new(0),
            limit_refusals: AtomicUsize::new(0),
            stash: FreeStack::new(),
            stashed: AtomicUsize::new(0),
            trimmed_bytes: AtomicUsize::new(0),
            trim_lock: AtomicBool::new(false),
            #[cfg(all(feature = "hardened", not(loom)))]
            span_start: AtomicUsize::new(usize::MAX),
            #[cfg(all(feature = "hardened", not(loom)))]
            span_end: AtomicUsize::new(0),
        }
    }

    /// Hardened build: whether `p` can be a block of this pool by its address alone: aligned
    /// for the blocks and inside the span of the chunks taken so far. Two loads and a
    /// compare, where `index_of` walks the chunks.
    #[cfg(all(feature = "hardened", not(loom)))]
    // Feature `checked` gives static pools no caches, and so no caller.
    #[cfg_attr(feature = "checked", allow(dead_code))]
    #[inline(always)]
    pub(super) fn in_span(&self, p: usize) -> bool {
        // Relaxed: a chunk's span was widened before the chunk was published (its install's
        // Release CAS, or the engine's hand-off to the installer), and every block a thread
        // holds reached it after that publication, so these loads see a span that covers it.
        let start = self.span_start.load(Ordering::Relaxed);
        let end = self.span_end.load(Ordering::Relaxed);
        p & (self.geometry.align - 1) == 0 && p.wrapping_sub(start) < end.wrapping_sub(start)
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
        // Trimmed chunks' blocks come before never-used ones. Relaxed: a hint; the stash's
        // own Acquire orders what we take from it.
        if self.stashed.load(Ordering::Relaxed) != 0 {
            if let Some(index) = self.take_stash() {
                #[cfg(feature = "checked")]
                self.check_popped(index);
                return self.addr(index as usize);
            }
        }
        // Under a limit, a chunk that would pass it is not started: its indices stay for
        // later (a raised limit), and the request goes to the fallback, which checks it.
        let next = self.table.taken(self.limit);
        if next < self.limit && self.alloc_limit.load(Ordering::Relaxed) != usize::MAX {
            let (k, _) = self.table.decode(next);
            if self.table.chunk(k).is_null() && !self.limit_allows(self.chunk_bytes(k)) {
                return ptr::null_mut();
            }
        }
        let Some(i) = self.table.take_fresh(self.limit) else {
            return ptr::null_mut();
        };
        let (k, off) = self.table.decode(i);
        let base = self.install(k);
        if base.is_null() {
            // The engine refused: index `i` is lost. Relaxed: a statistic.
            self.lost.fetch_add(1, Ordering::Relaxed);
            return ptr::null_mut();
        }
        base.wrapping_add(off * self.geometry.size)
    }

    /// Chunk `k`'s base, installing it if no thread has; null if the engine or the limit
    /// refuses.
    fn install(&self, k: usize) -> *mut u8 {
        let layout = self.chunk_layout(k);
        let bytes = self.chunk_bytes(k);
        self.table.chunk_or_install(
            k,
            || {
                if !self.take_held(bytes) {
                    return ptr::null_mut();
                }
                // Checked builds: zeroed, for the free bits.
                let p = engine_alloc(layout, cfg!(feature = "checked"));
                if p.is_null() {
                    self.give_held(bytes);
                }
                #[cfg(all(feature = "hardened", not(loom)))]
                if !p.is_null() {
                    // Relaxed: published with the chunk (see `in_span`). A copy that loses the
                    // install race widens the span too, which only makes it larger.
                    self.span_start.fetch_min(p.addr(), Ordering::Relaxed);
                    self.span_end.fetch_max(p.addr() + bytes, Ordering::Relaxed);
                }
                p
            },
            |mine| {
                // SAFETY: our unused copy, allocated with `layout` just above.
                unsafe { engine_free(mine, layout) };
                self.give_held(bytes);
            },
        )
    }

    /// Whether `bytes` more would stay within the limit now (a hint: `take_held` decides).
    fn limit_allows(&self, bytes: usize) -> bool {
        // Relaxed: a hint.
        let limit = self.alloc_limit.load(Ordering::Relaxed);
        limit == usize::MAX || self.held.load(Ordering::Relaxed).saturating_add(bytes) <= limit
    }

    /// Counts `bytes` more as held if that stays within the limit; false (nothing counted)
    /// if not.
    fn take_held(&self, bytes: usize) -> bool {
        // Relaxed: the RMWs on `held` are totally ordered, which is all the limit needs (no
        // other memory is published through it).
        let limit = self.alloc_limit.load(Ordering::Relaxed);
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            let Some(new) = held.checked_add(bytes).filter(|&n| n <= limit) else {
                return false;
            };
            match self
                .held
                .compare_exchange_weak(held, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => held = current,
            }
        }
    }

    /// Stops counting `bytes` as held.
    fn give_held(&self, bytes: usize) {
        // Relaxed: as in `take_held`.
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts a request refused by the limit.
    #[cold]
    fn refuse(&self) {
        // Relaxed: a statistic.
        self.limit_refusals.fetch_add(1, Ordering::Relaxed);
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
        // The block's usable size, counted against the limit before the engine is asked
        // (for a huge block the request; the rest is checked after).
        let guess = crate::engine::size_class::fresh_usable(layout.size(), layout.align())
            .unwrap_or(layout.size());
        if !self.take_held(guess) {
            self.refuse();
            return ptr::null_mut();
        }
        let p = engine_alloc(layout, zeroed);
        if p.is_null() {
            self.give_held(guess);
        } else {
            // SAFETY: a live engine block.
            let len = unsafe { engine_usable(p) };
            if len > guess && !self.take_held(len - guess) {
                // SAFETY: our fresh, unused engine block.
                unsafe { engine_free_block(p) };
                self.give_held(guess);
                self.refuse();
                return ptr::null_mut();
            }
            self.give_held(guess.saturating_sub(len));
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
        self.give_held(len);
        // SAFETY: a live engine block (caller), given back once.
        unsafe { engine_free_block(p) };
    }

    /// # Safety
    /// `p` is a live block of this pool allocated with `layout`'s alignment and fitting it.
    #[inline]
    pub(super) unsafe fn usable(&self, p: *mut u8, layout: Layout) -> usize {
        // SAFETY: `p` is a live block of this pool fitting `layout` (caller), as `usable` asks.
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
        // Relaxed: the limit's setting; a growing fallback block under a limit moves
        // instead, through `fallback_alloc`, which checks the new block before taking it.
        if new_size > old.size() && self.alloc_limit.load(Ordering::Relaxed) != usize::MAX {
            return ptr::null_mut();
        }
        // SAFETY: `p` is a live block of this pool fitting `old` (caller).
        match unsafe { self.geometry.resize_fallback(p, old, new_size) } {
            Some((q, old_len, new_len)) => {
                // Relaxed: statistics.
                self.fallback_bytes.fetch_add(new_len, Ordering::Relaxed);
                self.fallback_bytes.fetch_sub(old_len, Ordering::Relaxed);
                // Relaxed: as in `take_held` (no limit to keep here: growth under one moves).
                self.held.fetch_add(new_len, Ordering::Relaxed);
                self.give_held(old_len);
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
        // Relaxed: a statistic.
        let trimmed = self.trimmed_bytes.load(Ordering::Relaxed);
        // Every index handed out was carved once; the pool reuses freed blocks before
        // carving, so that is its peak of live pool blocks.
        // Relaxed: a statistic.
        let carved = self.table.taken(self.limit) - self.lost.load(Ordering::Relaxed);
        // The pool keeps no live counter (a locked RMW on every allocation and free would
        // double their cost): live blocks are the carved ones minus those on the stacks.
        // Relaxed: a statistic.
        let stashed = self.stashed.load(Ordering::Relaxed);
        let live = live.unwrap_or_else(|| carved - self.free_blocks(carved) - stashed);
        let fallback_live = self.fallback_live.load(Ordering::Relaxed);
        let fallback_bytes = self.fallback_bytes.load(Ordering::Relaxed);
        LocalStats {
            kind: "SyncPool",
            peak_live_bytes: carved * self.geometry.size,
            live_blocks: live + fallback_live,
            live_bytes: live * self.geometry.size + fallback_bytes,
            committed: bytes - trimmed + fallback_bytes,
            reserved: bytes + fallback_bytes,
            capacity_blocks: capacity,
            chunks,
            fallback_allocs: self.fallback_total.load(Ordering::Relaxed),
            fallback_live,
            // Relaxed: statistics.
            limit: self.alloc_limit.load(Ordering::Relaxed),
            limit_refusals: self.limit_refusals.load(Ordering::Relaxed),
        }
    }
}

/// The controls: limit, reserve, trim.
impl Shared {
    /// Sets or lifts the allocation limit.
    fn set_limit(&self, limit: Option<usize>) {
        // Relaxed: a setting; allocations that race with the change see the old or the new
        // value, and `take_held` rereads it.
        self.alloc_limit
            .store(limit.unwrap_or(usize::MAX), Ordering::Relaxed);
    }

    /// The allocation limit, if any.
    fn limit(&self) -> Option<usize> {
        // Relaxed: a setting.
        let limit = self.alloc_limit.load(Ordering::Relaxed);
        (limit != usize::MAX).then_some(limit)
    }

    /// The whole pages inside the first `blocks` blocks of a chunk at `base`: their start
    /// and length (0 if those blocks span no whole page).
    fn page_range(&self, base: *mut u8, blocks: usize) -> (*mut u8, usize) {
        let start = (base as usize).next_multiple_of(OS_PAGE);
        let end = (base as usize + blocks * self.geometry.size) & !(OS_PAGE - 1);
        (
            base.wrapping_add(start - base as usize),
            end.saturating_sub(start),
        )
    }

    /// Tries the trim lock (a trim or a stash take-over holds it).
    fn try_lock_trim(&self) -> bool {
        // Acquire: the stash and mask as the last holder left them.
        self.trim_lock
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn unlock_trim(&self) {
        // Release: publishes the stash and mask to the next holder.
        self.trim_lock.store(false, Ordering::Release);
    }

    /// Takes the stash whole (trimmed chunks come back into use): returns one index for the
    /// caller and moves the rest to the caller's home shard. `None` if the stash is empty
    /// or a trim holds the lock.
    fn take_stash(&self) -> Option<u32> {
        if !self.try_lock_trim() {
            return None;
        }
        let first = self.stash.take_all();
        // Relaxed: changed under the lock with the stash.
        self.stashed.store(0, Ordering::Relaxed);
        self.trimmed_bytes.store(0, Ordering::Relaxed);
        self.unlock_trim();
        if first == NIL {
            return None;
        }
        // Relaxed: the chain is ours, its links ordered by `take_all`'s Acquire.
        let rest = self.link(first).load(Ordering::Relaxed);
        if rest != NIL {
            self.free.shard(home_shard()).free.push_chain(rest, self);
        }
        Some(first)
    }

    /// Links `indices` into a chain (in order) and returns its first index ([`NIL`] if
    /// empty). The caller holds every one of them.
    fn link_chain(&self, indices: impl DoubleEndedIterator<Item = u32>) -> u32 {
        let mut next = NIL;
        for index in indices.rev() {
            // Relaxed: published by the Release CAS of the `push_chain` that follows.
            self.link(index).store(next, Ordering::Relaxed);
            next = index;
        }
        next
    }

    /// See [`SyncPool::trim`].
    fn trim(&self) -> usize {
        if !self.try_lock_trim() {
            return 0;
        }
        // Take every shard and the stash whole: the indices we now hold are free, and nobody
        // else can hand them out.
        let stacks = self.free.shards().iter().map(|shard| &shard.free);
        let chains: Vec<u32> = stacks.chain([&self.stash]).map(|s| s.take_all()).collect();
        // Read after the stacks were taken: every index we hold was taken by the counter
        // before it was pushed (the push's Release and our `take_all`'s Acquire order that
        // `fetch_add` before this load), so all of them are below it, and a walk longer
        // than that is a cycle (a block freed twice): it stops there, and the list is
        // rebuilt without repeats.
        let taken = self.table.taken(self.limit);
        // Relaxed: changed only under the lock we hold.
        let before = self.trimmed_bytes.load(Ordering::Relaxed);
        let mut free: Vec<u32> = Vec::new();
        for mut index in chains {
            while index != NIL && (index as usize) < taken && free.len() <= taken {
                free.push(index);
                // Relaxed: the chain is ours, its links ordered by `take_all`'s Acquire.
                index = self.link(index).load(Ordering::Relaxed);
            }
        }
        free.sort_unstable();
        let distinct = free.windows(2).all(|w| w[0] != w[1]);
        free.dedup();
        // Chunks all of whose carved blocks (indices below `taken`) are now in our hands;
        // their indices go to the stash. Blocks the counter hands out from now on start at
        // or past `taken`, beyond the last whole page we give back.
        let mut stash_ranges = [(0usize, 0usize); MAX_CHUNKS];
        let mut trimmed = 0;
        let mut stashed = 0;
        for (k, range) in stash_ranges.iter_mut().enumerate().take(self.max_chunks) {
            let first = self.table.first_index(k);
            let end = self.table.first_index(k + 1).min(taken);
            // Relaxed: we hold indices of this chunk, whose installation the stacks'
            // Acquire ordered before us; a chunk with none of ours is skipped.
            let base = self.table.chunk_relaxed(k);
            if !distinct || end <= first || base.is_null() {
                continue;
            }
            let lo = free.partition_point(|&i| (i as usize) < first);
            let hi = free.partition_point(|&i| (i as usize) < end);
            if hi - lo != end - first {
                continue;
            }
            let (start, len) = self.page_range(base, end - first);
            if len != 0 {
                // SAFETY: whole pages inside chunk `k`'s carved blocks, inside one live engine
                // block; every one of those blocks is free and held by us, blocks the counter
                // hands out later start past `end`'s page boundary, and the links (after the
                // blocks) are not touched.
                unsafe { Os::decommit(start, len) };
            }
            trimmed += len;
            stashed += end - first;
            *range = (first, end);
        }
        let on_stash = |i: &u32| {
            let (lo, hi) = stash_ranges[self.table.decode(*i as usize).0];
            (lo..hi).contains(&(*i as usize))
        };
        let chain = self.link_chain(free.iter().copied().filter(on_stash));
        if chain != NIL {
            self.stash.push_chain(chain, self);
        }
        // Relaxed: under the lock, published by its release.
        self.stashed.store(stashed, Ordering::Relaxed);
        self.trimmed_bytes.store(trimmed, Ordering::Relaxed);
        let kept = self.link_chain(free.iter().copied().filter(|i| !on_stash(i)));
        if kept != NIL {
            self.free.shard(home_shard()).free.push_chain(kept, self);
        }
        self.unlock_trim();
        trimmed.saturating_sub(before)
    }

    /// See [`SyncPool::reserve`].
    fn reserve(&self, blocks: usize) -> Result<(), AllocError> {
        // Relaxed: a statistic-grade count; `reserve` is exact when no other thread uses the
        // pool.
        let carved = self.table.taken(self.limit) - self.lost.load(Ordering::Relaxed);
        // Relaxed: a hint (see `fresh`).
        let stashed = self.stashed.load(Ordering::Relaxed);
        let mut available = self.free_blocks(carved) + stashed;
        if available >= blocks {
            return Ok(());
        }
        // Never-used indices, chunk by chunk from the counter's.
        let next = self.table.taken(self.limit);
        if blocks - available > self.limit - next {
            return Err(AllocError); // more blocks than the pool can ever carve
        }
        let mut plan = 0usize; // chunks to install, as a mask
        let mut bytes = 0usize;
        let (mut k, _) = self.table.decode(next);
        while available < blocks {
            let (first, end) = (self.table.first_index(k), self.table.first_index(k + 1));
            available += end.min(self.limit) - next.max(first);
            if self.table.chunk(k).is_null() {
                plan |= 1 << k;
                bytes += self.chunk_bytes(k);
            }
            k += 1;
        }
        if !self.limit_allows(bytes) {
            self.refuse();
            return Err(AllocError);
        }
        for k in 0..self.max_chunks {
            if plan & (1 << k) != 0 && self.install(k).is_null() {
                if !self.limit_allows(self.chunk_bytes(k)) {
                    self.refuse();
                }
                return Err(AllocError);
            }
        }
        Ok(())
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
// SAFETY: the shared state is atomics and data written once before it is shared, so
// shared references from several threads race on nothing.
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

    /// Caps the engine memory the pool holds (its chunks and live fallback blocks:
    /// [`LocalStats::reserved_bytes`]) at `limit` bytes, for the pool and all its handles, or
    /// lifts the cap (`None`). A request that would take the pool past it fails with
    /// `AllocError`; freed blocks are still reused and nothing allocated is touched. Threads
    /// racing for the last bytes cannot pass it together: each takes its bytes with a CAS
    /// before asking the engine.
    ///
    /// A chunk that would pass the limit is not taken; requests then go to engine blocks of
    /// one pool block each, while they fit.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::SyncPool::for_type::<[u8; 200]>();
    /// pool.set_allocation_limit(Some(32 * 1024));
    /// let mut boxes = Vec::new();
    /// while let Ok(b) = Box::try_new_in([0u8; 200], &pool) {
    ///     boxes.push(b);
    /// }
    /// let s = pool.stats();
    /// assert!(s.reserved_bytes() <= 32 * 1024 && boxes.len() >= 100);
    /// assert_eq!(s.limit_refusals(), 1);
    /// ```
    pub fn set_allocation_limit(&self, limit: Option<usize>) {
        self.shared.get().set_limit(limit)
    }

    /// The cap set with [`set_allocation_limit`](Self::set_allocation_limit), or `None`.
    ///
    /// ```
    /// let pool = allocgator::SyncPool::for_type::<u64>();
    /// pool.handle().set_allocation_limit(Some(1 << 20)); // shared by the handles
    /// assert_eq!(pool.allocation_limit(), Some(1 << 20));
    /// ```
    pub fn allocation_limit(&self) -> Option<usize> {
        self.shared.get().limit()
    }

    /// Makes sure the next `blocks` pool-block allocations need no engine call (exact when
    /// one thread uses the pool): free blocks and never-used room count, and the chunks for
    /// the rest are taken now. Fails with `AllocError` if the pool can never hold that many
    /// (`reserve(usize::MAX)`) or the limit would be passed (nothing is taken then), or if the
    /// engine refuses a chunk (chunks taken before stay, for later allocations).
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::SyncPool::for_type::<u64>();
    /// pool.reserve(50_000).unwrap();
    /// let chunks = pool.stats().chunks();
    /// let boxes: Vec<_> = (0..50_000u64).map(|i| Box::new_in(i, &pool)).collect();
    /// assert_eq!(pool.stats().chunks(), chunks);
    /// assert!(pool.reserve(usize::MAX).is_err());
    /// # drop(boxes);
    /// ```
    pub fn reserve(&self, blocks: usize) -> Result<(), AllocError> {
        self.shared.get().reserve(blocks)
    }

    /// Gives the pages of chunks whose blocks are all free back to the OS and returns the
    /// bytes given back: [`committed_bytes`](LocalStats::committed_bytes) falls by as much.
    /// The chunks stay the pool's (a thread racing on the free stacks may still read a
    /// chunk's link table, which is why it is not freed); their blocks are handed out again
    /// when the free stacks run dry, before never-used ones, and their pages come back as
    /// they are touched.
    ///
    /// It takes every free stack for a moment (a thread that allocates meanwhile carves a
    /// never-used block or takes a new chunk), and a block another thread is freeing or
    /// holding in its hand keeps its chunk. Call it after a burst, when the pool is quiet.
    /// Returns 0 at once if another trim is running.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::SyncPool::for_type::<[u8; 128]>();
    /// let burst: Vec<_> = (0..100_000).map(|_| Box::new_in([1u8; 128], &pool)).collect();
    /// drop(burst);
    /// let before = pool.stats().committed_bytes();
    /// let released = pool.trim();
    /// assert!(released > 10 << 20);
    /// assert_eq!(pool.stats().committed_bytes(), before - released);
    /// let again = Box::new_in([2u8; 128], &pool); // trimmed blocks serve again
    /// assert_eq!(again[0], 2);
    /// ```
    pub fn trim(&self) -> usize {
        self.shared.get().trim()
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

    /// Sets the pool's allocation limit (see [`SyncPool::set_allocation_limit`]).
    ///
    /// ```
    /// let h = allocgator::SyncPool::for_type::<u8>().handle();
    /// h.set_allocation_limit(Some(0));
    /// assert!(allocgator::allocator_api2::boxed::Box::try_new_in(1u8, h.clone()).is_err());
    /// ```
    pub fn set_allocation_limit(&self, limit: Option<usize>) {
        self.shared.get().set_limit(limit)
    }

    /// The pool's allocation limit (see [`SyncPool::allocation_limit`]).
    ///
    /// ```
    /// let h = allocgator::SyncPool::for_type::<u8>().handle();
    /// assert_eq!(h.allocation_limit(), None);
    /// ```
    pub fn allocation_limit(&self) -> Option<usize> {
        self.shared.get().limit()
    }

    /// Reserves blocks in the pool (see [`SyncPool::reserve`]).
    ///
    /// ```
    /// let h = allocgator::SyncPool::for_type::<u64>().handle();
    /// h.reserve(1000).unwrap();
    /// assert!(h.stats().capacity_blocks() >= 1000);
    /// ```
    pub fn reserve(&self, blocks: usize) -> Result<(), AllocError> {
        self.shared.get().reserve(blocks)
    }

    /// Trims the pool (see [`SyncPool::trim`]).
    ///
    /// ```
    /// let h = allocgator::SyncPool::for_type::<u64>().handle();
    /// assert_eq!(h.trim(), 0); // nothing to give back
    /// ```
    pub fn trim(&self) -> usize {
        self.shared.get().trim()
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
                // SAFETY: the Allocator contract: `ptr` is a live block of this pool, allocated with
                // `layout`, which is what `free` asks.
                unsafe { self.shared.get().free(ptr, layout) }
            }

            #[inline(always)]
            unsafe fn raw_usable(&self, ptr: *mut u8, layout: Layout) -> usize {
                // SAFETY: the Allocator contract: `ptr` is a live block of this pool fitting `layout`.
                unsafe { self.shared.get().usable(ptr, layout) }
            }

            unsafe fn raw_resize_in_place(
                &self,
                ptr: *mut u8,
                old: Layout,
                new_size: usize,
            ) -> *mut u8 {
                // SAFETY: the Allocator contract: `ptr` is a live block of this pool fitting `old`.
                unsafe { self.shared.get().resize_in_place(ptr, old, new_size) }
            }
        }
    };
}

raw_via_shared!(&SyncPool);
raw_via_shared!(SyncPoolHandle);
api::impl_allocator!(&SyncPool);
api::impl_allocator!(SyncPoolHandle);
