//! Entry points for the loom models in `loom-tests/`, compiled only under `--cfg loom`.
//!
//! They drive the engine's own code (heaps, pages, the remote-free and pending-page protocol)
//! through the `sync` facade, so loom explores the interleavings of what ships. Statics and the
//! thread-local sentinel are not modelled (loom cannot): each model creates its heaps as values.
#![allow(missing_docs, clippy::missing_safety_doc)]

use crate::engine::heap::Heap;

/// A heap owned by the model (dropped = destroyed, live blocks included).
pub struct ModelHeap(*mut Heap);

// SAFETY: a heap may be handed to another thread (loom threads model the owner changing, as a
// pooled heap does); the model keeps to one owner at a time.
unsafe impl Send for ModelHeap {}
// SAFETY: other threads use `free` on a heap they do not own only through their own heap;
// the shared parts of a heap are atomic.
unsafe impl Sync for ModelHeap {}

impl ModelHeap {
    /// A new, empty heap.
    pub fn new() -> Self {
        let heap = Heap::create();
        assert!(!heap.is_null(), "loom model: heap creation failed");
        Self(heap)
    }

    fn heap(&self) -> &Heap {
        // SAFETY: valid until drop.
        unsafe { &*self.0 }
    }

    /// Allocates `size` bytes (8-aligned). The caller must own this heap.
    pub unsafe fn alloc(&self, size: usize) -> *mut u8 {
        // SAFETY: the caller owns the heap (this function's `# Safety`); 8 is a power of two.
        unsafe { self.heap().alloc(size, 8) }
    }

    /// Frees any engine block from the calling thread, which owns this heap: blocks of other
    /// heaps take the remote path.
    pub unsafe fn free(&self, p: *mut u8) {
        // SAFETY: a live engine block, not used again (caller); the calling thread owns this
        // heap.
        unsafe {
            self.heap().free(p);
        }
    }

    /// Collects remote frees and pending pages, retires empty pages (no OS calls).
    pub unsafe fn collect(&self) {
        // SAFETY: the caller owns the heap.
        unsafe { self.heap().collect(false) }
    }

    /// Collects as `collect` does, then gives every free page back to the OS at once
    /// (decommits free slices, unmaps empty segments), as `trim()` does.
    pub unsafe fn collect_release(&self) {
        // SAFETY: the caller owns the heap.
        unsafe { self.heap().collect(true) }
    }

    /// One background purge tick over this heap, as the purger thread runs it (any thread
    /// may call it; it never waits for the owner). Returns whether work is left.
    pub fn purge_in_background(&self) -> bool {
        self.heap().purge_in_background()
    }

    /// Pages currently in use in this heap's segments.
    pub unsafe fn pages_in_use(&self) -> usize {
        // SAFETY: the caller owns the heap.
        unsafe { self.heap().pages_in_use() }
    }

    /// Live blocks counted by this heap (allocations minus frees made through it).
    pub fn counted_live(&self) -> isize {
        // SAFETY: models call this from the heap's owner.
        unsafe { self.heap().fold_all() };
        let mut sum = 0usize;
        for c in self.heap().counters.live.iter() {
            sum = sum.wrapping_add(c.load(crate::sync::Ordering::Relaxed));
        }
        sum as isize
    }
}

/// The pool of ownerless heaps (the engine's `HeapPool`, as a value).
pub struct ModelPool(crate::engine::heap_pool::HeapPool);

impl ModelPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self(crate::engine::heap_pool::HeapPool::new())
    }

    /// The owner abandons `heap` (as a thread does at exit): collected and pooled, live blocks
    /// and all.
    pub fn abandon(&self, heap: ModelHeap) {
        let raw = heap.0;
        core::mem::forget(heap);
        // SAFETY: the caller owned the heap and gives it up.
        unsafe { self.0.abandon(raw, false) }
    }

    /// Adopts a pooled heap (the caller becomes its owner), if any.
    pub fn adopt(&self) -> Option<ModelHeap> {
        let raw = self.0.adopt();
        (!raw.is_null()).then(|| ModelHeap(raw))
    }
}

impl Default for ModelPool {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ModelPool {
    fn drop(&mut self) {
        // A model ends with every heap adopted back or destroyed; free what is left.
        while let Some(heap) = self.adopt() {
            drop(heap);
        }
    }
}

impl Default for ModelHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ModelHeap {
    fn drop(&mut self) {
        // SAFETY: the model is done with the heap and its blocks.
        unsafe { Heap::destroy(self.0) }
    }
}

/// The link table of a [`ModelFreeList`].
struct ModelLinks(Vec<crate::sync::AtomicU32>);

impl crate::local::free_stack::LinkTable for ModelLinks {
    fn link(&self, index: u32) -> &crate::sync::AtomicU32 {
        &self.0[index as usize]
    }
}

/// `SyncPool`'s free stack ([`FreeStack`](crate::local::free_stack::FreeStack)) over `n` model
/// blocks, each a loom cell the holder writes, so a block handed to two holders at once (or
/// handed over without synchronisation) is a race loom reports.
pub struct ModelFreeList {
    stack: crate::local::free_stack::FreeStack,
    links: ModelLinks,
    blocks: Vec<crate::sync::UnsafeCell<usize>>,
}

impl ModelFreeList {
    /// `n` free blocks, index 0 on top.
    pub fn new(n: u32) -> Self {
        let list = Self {
            stack: crate::local::free_stack::FreeStack::new(),
            links: ModelLinks((0..n).map(|_| crate::sync::AtomicU32::new(0)).collect()),
            blocks: (0..n).map(|_| crate::sync::UnsafeCell::new(0)).collect(),
        };
        for i in (0..n).rev() {
            list.stack.push(i, &list.links);
        }
        list
    }

    /// Pops a block index (the caller then holds it).
    pub fn pop(&self) -> Option<u32> {
        self.stack.pop(&self.links)
    }

    /// Gives back block `index`, which the caller holds.
    pub fn push(&self, index: u32) {
        self.stack.push(index, &self.links);
    }

    /// The holder writes its block (a plain write, as a user's).
    pub fn write(&self, index: u32, value: usize) {
        // SAFETY: the caller holds the block; loom checks that nobody else touches it.
        self.blocks[index as usize].with_mut(|p| unsafe { *p = value })
    }

    /// The holder reads its block.
    pub fn read(&self, index: u32) -> usize {
        // SAFETY: as for `write`.
        self.blocks[index as usize].with(|p| unsafe { *p })
    }
}

/// `SyncPool`'s sharded free stacks
/// ([`ShardedStack`](crate::local::free_stack::ShardedStack)) over `n` model blocks, each a
/// loom cell as in [`ModelFreeList`]; the model's threads name their home shard explicitly.
pub struct ModelShardedList {
    stacks: crate::local::free_stack::ShardedStack,
    links: ModelLinks,
    blocks: Vec<crate::sync::UnsafeCell<usize>>,
}

impl ModelShardedList {
    /// Shards this model has.
    pub const SHARDS: usize = crate::local::free_stack::SHARDS;

    /// `n` blocks, none on a stack yet (the caller holds them all).
    pub fn new(n: u32) -> Self {
        Self {
            stacks: crate::local::free_stack::ShardedStack::new(),
            links: ModelLinks((0..n).map(|_| crate::sync::AtomicU32::new(0)).collect()),
            blocks: (0..n).map(|_| crate::sync::UnsafeCell::new(0)).collect(),
        }
    }

    /// Pops from shard `home`, stealing another shard's blocks if it is empty.
    pub fn pop(&self, home: usize) -> Option<u32> {
        self.stacks.pop(home, &self.links)
    }

    /// Gives back block `index`, which the caller holds, onto shard `home`.
    pub fn push(&self, home: usize, index: u32) {
        self.stacks.push(home, index, &self.links);
    }

    /// Takes shard `shard` whole; the caller then holds the returned blocks (top first).
    pub fn take_all(&self, shard: usize) -> Vec<u32> {
        let mut chain = Vec::new();
        let mut i = self.stacks.shard(shard).free.take_all();
        while i != crate::local::free_stack::NIL {
            chain.push(i);
            // Relaxed: the chain is ours (ordered by `take_all`).
            i = crate::local::free_stack::LinkTable::link(&self.links, i)
                .load(crate::sync::Ordering::Relaxed);
        }
        chain
    }

    /// Pops every shard dry (single-threaded, at the end of a model).
    pub fn drain(&self) -> Vec<u32> {
        let mut all = Vec::new();
        for shard in 0..Self::SHARDS {
            while let Some(i) = self.stacks.shard(shard).free.pop(&self.links) {
                all.push(i);
            }
        }
        all
    }

    /// The holder writes its block (a plain write, as a user's).
    pub fn write(&self, index: u32, value: usize) {
        // SAFETY: the caller holds the block; loom checks that nobody else touches it.
        self.blocks[index as usize].with_mut(|p| unsafe { *p = value })
    }

    /// The holder reads its block.
    pub fn read(&self, index: u32) -> usize {
        // SAFETY: as for `write`.
        self.blocks[index as usize].with(|p| unsafe { *p })
    }
}

/// `SyncPool`'s growth ([`ChunkTable`](crate::local::chunk_table::ChunkTable)): fresh indices,
/// and chunks installed by whichever thread first needs one. A model chunk is a boxed slice of
/// loom cells, one per block, made by the installing thread (loom counts the making as a
/// write), so a thread that uses a block without being ordered after its chunk's
/// installation is a race loom reports.
pub struct ModelChunkTable {
    table: crate::local::chunk_table::ChunkTable,
    /// Indices `0..limit` may be taken.
    limit: usize,
    chunks: usize,
    made: crate::sync::AtomicUsize,
    discarded: crate::sync::AtomicUsize,
}

/// One model block.
type ModelCell = crate::sync::UnsafeCell<usize>;

impl ModelChunkTable {
    /// An empty table whose chunk 0 holds `1 << base_shift` blocks; chunks `0..chunks` may
    /// be installed.
    pub fn new(base_shift: u32, chunks: usize) -> Self {
        Self {
            table: crate::local::chunk_table::ChunkTable::new(base_shift),
            limit: crate::local::chunk_table::first_index(base_shift, chunks),
            chunks,
            made: crate::sync::AtomicUsize::new(0),
            discarded: crate::sync::AtomicUsize::new(0),
        }
    }

    /// Takes a never-used block and writes `value` into it, as `SyncPool` does: `None` when
    /// every index is taken, or when `refuse` (the engine refusing this thread's copy of a
    /// chunk) leaves the block's chunk uninstalled.
    pub fn take(&self, value: usize, refuse: bool) -> Option<u32> {
        let i = self.table.take_fresh(self.limit)?;
        let (k, off) = self.table.decode(i);
        let blocks = self.table.chunk_blocks(k);
        let base = self.table.chunk_or_install(
            k,
            || {
                if refuse {
                    return core::ptr::null_mut();
                }
                // Relaxed: a count read after the model's threads are joined.
                self.made.fetch_add(1, crate::sync::Ordering::Relaxed);
                let chunk: Box<[ModelCell]> = (0..blocks).map(|_| ModelCell::new(0)).collect();
                Box::into_raw(chunk).cast::<u8>()
            },
            |mine| {
                // Relaxed: as above.
                self.discarded.fetch_add(1, crate::sync::Ordering::Relaxed);
                // SAFETY: the chunk this closure's twin made, never installed.
                drop(unsafe { Self::chunk_box(mine, blocks) });
            },
        );
        if base.is_null() {
            return None;
        }
        // SAFETY: block `off` of a chunk of `blocks` cells; the index is ours alone.
        unsafe { (*base.cast::<ModelCell>().add(off)).with_mut(|p| *p = value) };
        Some(i as u32)
    }

    /// Reads block `index` through its chunk's Acquire load (as a freeing thread finds it).
    pub fn read(&self, index: u32) -> usize {
        let (k, off) = self.table.decode(index as usize);
        let base = self.table.chunk(k);
        assert!(!base.is_null(), "block {index}: its chunk is not installed");
        // SAFETY: block `off` of an installed chunk; the caller is ordered after its writer.
        unsafe { (*base.cast::<ModelCell>().add(off)).with(|p| *p) }
    }

    /// Chunks made, and those given back by a thread that lost the installing race.
    pub fn made_and_discarded(&self) -> (usize, usize) {
        // Relaxed: read after the model's threads are joined.
        (
            self.made.load(crate::sync::Ordering::Relaxed),
            self.discarded.load(crate::sync::Ordering::Relaxed),
        )
    }

    /// Chunks installed.
    pub fn installed(&self) -> usize {
        (0..self.chunks)
            .filter(|&k| !self.table.chunk_relaxed(k).is_null())
            .count()
    }

    /// # Safety
    /// `base` is a chunk of `blocks` cells made by `take`, owned by the caller.
    unsafe fn chunk_box(base: *mut u8, blocks: usize) -> Box<[ModelCell]> {
        let slice = core::ptr::slice_from_raw_parts_mut(base.cast::<ModelCell>(), blocks);
        // SAFETY: made by `Box::into_raw` of a boxed slice of this length (caller).
        unsafe { Box::from_raw(slice) }
    }
}

impl Drop for ModelChunkTable {
    fn drop(&mut self) {
        for k in 0..self.chunks {
            let base = self.table.chunk_relaxed(k);
            if !base.is_null() {
                // SAFETY: an installed chunk of the model, freed once, here.
                drop(unsafe { Self::chunk_box(base, self.table.chunk_blocks(k)) });
            }
        }
    }
}

/// Huge blocks (one mapping each, over 2 MiB) and the cache of freed mappings, through the
/// engine's own `huge` module: any thread allocates and frees them, a freed mapping waits in
/// the cache for the next request of its layout, and a purge unmaps what waits. Under loom
/// each cached block carries a loom cell written by the thread that gave it to the cache and
/// by the one that took it out, so loom checks the slots' publication and that no mapping is
/// held twice. The process-wide figures are per model run.
pub mod huge {
    use crate::engine::huge;
    use crate::engine::stats::counters;
    use crate::sync::Ordering;

    /// A size served by its own mapping.
    pub const HUGE_SIZE: usize = crate::engine::LARGE_MAX + 1;

    /// Allocates a huge block of `size` bytes (8-aligned); null if impossible.
    pub fn alloc(size: usize) -> *mut u8 {
        huge::alloc(size, 8, false)
    }

    /// Frees a huge block: to the cache if there is room, else unmapped.
    ///
    /// # Safety
    /// `block` is a live huge block from [`alloc`], freed once.
    pub unsafe fn free(block: *mut u8) {
        // SAFETY: the header of the live huge block the caller frees.
        unsafe { huge::free(crate::engine::segment_of(block)) }
    }

    /// Unmaps every cached mapping (as `trim()` does), or only those past the purge delay.
    pub fn purge(all: bool) {
        huge::purge_cache(all);
    }

    /// Bytes mapped for huge blocks, cached ones included (the engine's `reserved` figure: the
    /// huge-block models create no heaps).
    pub fn mapped_bytes() -> usize {
        // Relaxed: read after the model's threads are joined.
        counters().reserved.load(Ordering::Relaxed)
    }

    /// Bytes of the mappings the cache holds.
    pub fn cached_bytes() -> usize {
        huge::cached_bytes()
    }

    /// Huge blocks live (allocated, not freed).
    pub fn live_blocks() -> usize {
        // Relaxed: as above.
        counters().huge_blocks.load(Ordering::Relaxed)
    }
}

/// A static pool's cache-slot hand-over ([`Claimable`](crate::local::claimable::Claimable)):
/// a counter that a thread may touch only between a successful claim and its release.
pub struct ModelClaimable(crate::local::claimable::Claimable<usize>);

impl ModelClaimable {
    /// An unowned counter at 0.
    pub fn new() -> Self {
        Self(crate::local::claimable::Claimable::new(0))
    }

    /// Claims the counter; true if the caller now owns it.
    pub fn try_claim(&self) -> bool {
        self.0.try_claim()
    }

    /// The owner adds one (a plain read and write) and returns the new value.
    pub fn bump(&self) -> usize {
        // SAFETY: the models call this only between a successful `try_claim` and `release`;
        // loom reports any two threads touching the value without ordering.
        unsafe {
            self.0.with_mut(|v| {
                *v += 1;
                *v
            })
        }
    }

    /// The owner gives the counter up.
    pub fn release(&self) {
        // SAFETY: as for `bump`.
        unsafe { self.0.release() }
    }
}

impl Default for ModelClaimable {
    fn default() -> Self {
        Self::new()
    }
}
