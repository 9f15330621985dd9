//! How a [`SyncPool`](crate::SyncPool) grows, lock-free: a `fresh` counter hands out
//! never-used block indices, and the chunk an index falls in is installed once, by whichever
//! thread first needs it (a CAS; a thread that loses the race gives its copy back).
//!
//! Chunk `k` holds `B << k` blocks, `B = 1 << base_shift`, so chunks double and index `i`
//! falls in chunk `k` where `i + B` has its top bit at `k + base_shift`.
//!
//! Split from `sync_pool` so that the loom models drive this code
//! (`loom_api::ModelChunkTable`).

use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

/// Most chunks a table has.
pub(crate) const MAX_CHUNKS: usize = 32;

/// The first index of chunk `k` of a table with chunks of `1 << base_shift` blocks and up.
#[inline(always)]
pub(crate) const fn first_index(base_shift: u32, k: usize) -> usize {
    (1usize << (base_shift as usize + k)) - (1 << base_shift)
}

/// A counter on its own cache line (threads take fresh indices while others pop and push).
#[repr(align(64))]
struct Line(AtomicUsize);

/// The fresh-index counter and the chunk bases.
pub(crate) struct ChunkTable {
    /// Next never-used block index.
    fresh: Line,
    /// Chunk `k`'s base, or null until installed.
    chunks: [AtomicPtr<u8>; MAX_CHUNKS],
    /// log2 of the blocks in chunk 0.
    base_shift: u32,
}

impl ChunkTable {
    /// An empty table whose chunk 0 holds `1 << base_shift` blocks.
    #[cfg(not(loom))]
    pub(crate) const fn new(base_shift: u32) -> ChunkTable {
        ChunkTable {
            fresh: Line(AtomicUsize::new(0)),
            chunks: [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CHUNKS],
            base_shift,
        }
    }

    /// An empty table whose chunk 0 holds `1 << base_shift` blocks.
    #[cfg(loom)]
    pub(crate) fn new(base_shift: u32) -> ChunkTable {
        ChunkTable {
            fresh: Line(AtomicUsize::new(0)),
            chunks: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            base_shift,
        }
    }

    /// Blocks in chunk `k`.
    #[inline(always)]
    pub(crate) fn chunk_blocks(&self, k: usize) -> usize {
        1 << (self.base_shift as usize + k)
    }

    /// The first index of chunk `k`.
    #[inline(always)]
    pub(crate) fn first_index(&self, k: usize) -> usize {
        first_index(self.base_shift, k)
    }

    /// Chunk and offset (in blocks) of index `i`.
    #[inline(always)]
    pub(crate) fn decode(&self, i: usize) -> (usize, usize) {
        let j = i + (1 << self.base_shift);
        let top = (usize::BITS - 1 - j.leading_zeros()) as usize;
        let k = top - self.base_shift as usize;
        (k, j - (1 << top))
    }

    /// A never-used index below `limit`, or `None` once every one is taken.
    #[inline]
    pub(crate) fn take_fresh(&self, limit: usize) -> Option<usize> {
        // Relaxed: the counter only hands out distinct indices; chunks are synchronised by
        // their own CAS. The first load keeps a full table from counting up forever.
        if self.fresh.0.load(Ordering::Relaxed) >= limit {
            return None;
        }
        let i = self.fresh.0.fetch_add(1, Ordering::Relaxed);
        (i < limit).then_some(i)
    }

    /// Indices handed out so far, at most `limit`. Every index below it was taken by some
    /// thread; a caller holding a block allocated before this call reads at least its index
    /// plus one (the `fetch_add` that took it happened before).
    #[inline]
    pub(crate) fn taken(&self, limit: usize) -> usize {
        // Relaxed: see above; the value bounds a scan, it does not publish memory.
        self.fresh.0.load(Ordering::Relaxed).min(limit)
    }

    /// Chunk `k`'s base, or null if it is not installed yet.
    #[inline(always)]
    pub(crate) fn chunk(&self, k: usize) -> *mut u8 {
        // Acquire: pairs with the installing CAS, so the chunk's memory as its installer
        // left it is visible to us.
        self.chunks[k].load(Ordering::Acquire)
    }

    /// Chunk `k`'s base, for a caller already ordered after its installation (by the free
    /// stack's Acquire, or as the pool's last owner), or for statistics.
    #[inline(always)]
    pub(crate) fn chunk_relaxed(&self, k: usize) -> *mut u8 {
        // Relaxed: see above.
        self.chunks[k].load(Ordering::Relaxed)
    }

    /// Chunk `k`'s base, installing it first if no thread has: `make` returns fresh memory
    /// for it (null if refused), `discard` gives back a copy that lost the race. Null only if
    /// `make` refused and no other thread has installed the chunk (other threads then try
    /// again with their own indices).
    #[cold]
    pub(crate) fn chunk_or_install(
        &self,
        k: usize,
        make: impl FnOnce() -> *mut u8,
        discard: impl FnOnce(*mut u8),
    ) -> *mut u8 {
        let base = self.chunk(k);
        if !base.is_null() {
            return base;
        }
        let mine = make();
        if mine.is_null() {
            // A thread may have installed it meanwhile.
            return self.chunk(k);
        }
        const INSTALL: Ordering = crate::sync::weakened!(AcqRel, "chunk_install_relaxed");
        // AcqRel: Release publishes our chunk (its memory as `make` left it); Acquire, also
        // on failure, makes the winner's visible to us.
        match self.chunks[k].compare_exchange(
            core::ptr::null_mut(),
            mine,
            INSTALL,
            Ordering::Acquire,
        ) {
            Ok(_) => mine,
            Err(winner) => {
                #[cfg(not(allocgator_mutation = "chunk_loser_keeps_copy"))]
                discard(mine);
                #[cfg(allocgator_mutation = "chunk_loser_keeps_copy")]
                let _ = discard;
                winner
            }
        }
    }
}
