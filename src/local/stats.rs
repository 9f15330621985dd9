//! [`LocalStats`]: the snapshot `Arena`, `Pool` and `SyncPool` report.

use crate::fmt::{HumanBytes, StackStr};
use core::fmt;

/// A snapshot of one local allocator (`Arena`, `Pool`, `SyncPool`): what is live, how much
/// memory it holds, and how much went to the engine fallback.
///
/// ```
/// use allocgator::Pool;
/// use allocgator::allocator_api2::boxed::Box;
///
/// let pool = Pool::for_type::<[u64; 4]>();
/// let a = Box::new_in([1u64; 4], &pool);
/// let s = pool.stats();
/// assert_eq!(s.live_blocks(), 1);
/// assert_eq!(s.live_bytes(), 32);
/// assert!(s.capacity_blocks() >= 1);
/// assert!(s.committed_bytes() >= 32);
/// println!("{s}");
/// drop(a);
/// assert_eq!(pool.stats().live_blocks(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStats {
    pub(crate) kind: &'static str,
    pub(crate) live_blocks: usize,
    pub(crate) live_bytes: usize,
    pub(crate) committed: usize,
    pub(crate) reserved: usize,
    pub(crate) capacity_blocks: usize,
    pub(crate) chunks: usize,
    pub(crate) fallback_allocs: usize,
    pub(crate) fallback_live: usize,
    pub(crate) peak_live_bytes: usize,
    /// The allocation limit (`usize::MAX`: none).
    pub(crate) limit: usize,
    /// Requests refused because they would have passed the limit.
    pub(crate) limit_refusals: usize,
}

impl LocalStats {
    /// Blocks allocated and not yet freed, engine fallback blocks included. For an arena:
    /// blocks handed out through the `Allocator` trait since the last reset, minus those
    /// deallocated; values placed with [`Arena::alloc`](crate::Arena::alloc) and its
    /// siblings are counted in [`live_bytes`](Self::live_bytes) only (they are never freed
    /// one by one, and counting them would cost as much as the bump itself).
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    ///
    /// let arena = allocgator::Arena::new();
    /// let a = Box::new_in(1u32, &arena);
    /// let b = Box::new_in(2u64, &arena);
    /// arena.alloc(3u64); // a value: bytes, not a block
    /// assert_eq!(arena.stats().live_blocks(), 2);
    /// drop((a, b));
    /// assert_eq!(arena.stats().live_blocks(), 0);
    /// ```
    pub fn live_blocks(&self) -> usize {
        self.live_blocks
    }

    /// Bytes in live blocks: pool blocks count their block size, fallback blocks their engine
    /// size; for an arena, the bytes bumped since the last reset (padding included: sizes
    /// round up to 8 bytes; an arena only reuses memory on reset).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.alloc([0u8; 100]);
    /// assert_eq!(arena.stats().live_bytes(), 104);
    /// ```
    pub fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// Bytes of engine memory the allocator holds: its chunks, plus live fallback blocks.
    ///
    /// ```
    /// let arena = allocgator::Arena::with_capacity(10_000);
    /// assert!(arena.stats().committed_bytes() >= 10_000);
    /// ```
    pub fn committed_bytes(&self) -> usize {
        self.committed
    }

    /// Bytes of engine blocks the allocator holds, as the engine sized them (a chunk's whole
    /// engine block). Chunks are engine blocks, so this equals
    /// [`committed_bytes`](Self::committed_bytes); the engine's own figures say how much of
    /// that the OS backs.
    ///
    /// ```
    /// let s = allocgator::Arena::with_capacity(1000).stats();
    /// assert_eq!(s.reserved_bytes(), s.committed_bytes());
    /// ```
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Pools: blocks the pool's chunks hold (live or free). Arenas: 0.
    ///
    /// ```
    /// let pool = allocgator::Pool::for_type::<u64>();
    /// assert_eq!(pool.stats().capacity_blocks(), 0); // no chunk yet
    /// ```
    pub fn capacity_blocks(&self) -> usize {
        self.capacity_blocks
    }

    /// Chunks taken from the engine.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// assert_eq!(arena.stats().chunks(), 0);
    /// arena.alloc(7u8);
    /// assert_eq!(arena.stats().chunks(), 1);
    /// ```
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Pools: requests served by the engine fallback so far (layouts that do not fit the
    /// block). Arenas: 0.
    ///
    /// ```
    /// use allocgator::allocator_api2::vec::Vec;
    /// let pool = allocgator::Pool::for_type::<u64>();
    /// let mut v = Vec::new_in(&pool);
    /// v.extend_from_slice(&[1u64, 2, 3, 4]); // 32 bytes: not a pool block
    /// assert!(pool.stats().fallback_allocs() >= 1);
    /// ```
    pub fn fallback_allocs(&self) -> usize {
        self.fallback_allocs
    }

    /// Pools: fallback blocks still live.
    ///
    /// ```
    /// let pool = allocgator::Pool::for_type::<u8>();
    /// let b = allocgator::allocator_api2::boxed::Box::new_in([0u8; 64], &pool);
    /// assert_eq!(pool.stats().fallback_live_blocks(), 1);
    /// drop(b);
    /// assert_eq!(pool.stats().fallback_live_blocks(), 0);
    /// ```
    pub fn fallback_live_blocks(&self) -> usize {
        self.fallback_live
    }
}

impl LocalStats {
    /// The highest [`live_bytes`](Self::live_bytes) so far. Pools: the blocks ever carved
    /// from their chunks (a pool reuses freed blocks before carving new ones, so that is its
    /// peak of live pool blocks, exactly), times the block size; fallback blocks are not
    /// included. Arenas: the most bytes used between two resets (checked at each reset and
    /// at each snapshot).
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<u64>();
    /// let boxes: Vec<_> = (0..10).map(|i| Box::new_in(i as u64, &pool)).collect();
    /// drop(boxes);
    /// let s = pool.stats();
    /// assert_eq!((s.live_bytes(), s.peak_live_bytes()), (0, 80));
    /// ```
    pub fn peak_live_bytes(&self) -> usize {
        self.peak_live_bytes
    }

    /// The allocation limit set with `set_allocation_limit` (a cap on
    /// [`committed_bytes`](Self::committed_bytes)), or `None`.
    ///
    /// ```
    /// let pool = allocgator::Pool::for_type::<u64>();
    /// assert_eq!(pool.stats().allocation_limit(), None);
    /// pool.set_allocation_limit(Some(1 << 20));
    /// assert_eq!(pool.stats().allocation_limit(), Some(1 << 20));
    /// ```
    pub fn allocation_limit(&self) -> Option<usize> {
        (self.limit != usize::MAX).then_some(self.limit)
    }

    /// Requests refused so far because serving them would have taken the allocator past its
    /// allocation limit (requests the engine itself refused are not counted).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.set_allocation_limit(Some(64 * 1024));
    /// assert!(arena.try_alloc_with(|| [0u8; 100_000]).is_err());
    /// assert_eq!(arena.stats().limit_refusals(), 1);
    /// ```
    pub fn limit_refusals(&self) -> usize {
        self.limit_refusals
    }
}

/// A map of a local allocator's chunks: address, size, and how much of each is used.
/// `Display`s like a memory map.
///
/// From [`Arena::map`](crate::Arena::map), [`Pool::map`](crate::Pool::map) and
/// [`SyncPool::map`](crate::SyncPool::map); a [`Slab`](crate::Slab) is an engine heap and
/// gives a [`HeapMap`](crate::HeapMap).
///
/// ```
/// let arena = allocgator::Arena::new();
/// arena.alloc_slice_copy(&[0u8; 1000]);
/// let map = arena.map();
/// assert_eq!(map.chunks().len(), 1);
/// assert_eq!(map.chunks()[0].used_bytes, Some(1000));
/// println!("{map}");
/// ```
#[derive(Debug, Clone)]
pub struct LocalMap {
    pub(crate) kind: &'static str,
    pub(crate) chunks: Vec<ChunkInfo>,
}

/// One chunk in a [`LocalMap`].
///
/// ```
/// let pool = allocgator::Pool::for_type::<u64>();
/// let b = allocgator::allocator_api2::boxed::Box::new_in(1u64, &pool);
/// let c = pool.map().chunks()[0];
/// assert_eq!((c.carved_blocks, c.used_bytes), (1, Some(8)));
/// assert!(c.capacity_blocks >= 1);
/// # drop(b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkInfo {
    /// First byte of the chunk (an engine block).
    pub addr: usize,
    /// Engine bytes in the chunk.
    pub bytes: usize,
    /// Arenas: bytes bumped in the current chunk, `None` for older chunks (the arena keeps
    /// one total for them, see [`LocalStats::live_bytes`]). Pools: bytes of blocks carved.
    pub used_bytes: Option<usize>,
    /// Pools: blocks the chunk holds. Arenas: 0.
    pub capacity_blocks: usize,
    /// Pools: blocks carved from the chunk so far (live or on the free list). Arenas: 0.
    pub carved_blocks: usize,
}

impl LocalMap {
    /// The chunks, newest first.
    ///
    /// ```
    /// assert!(allocgator::Arena::new().map().chunks().is_empty());
    /// ```
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }
}

impl fmt::Display for LocalMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} chunks, newest first\n{:<18} {:>10} {:>12} {:>16}",
            self.kind, "address", "size", "used", "carved/capacity"
        )?;
        for c in &self.chunks {
            let used = match c.used_bytes {
                Some(u) => StackFmt::format(format_args!("{}", HumanBytes(u))),
                None => StackFmt::format(format_args!("(older)")),
            };
            let blocks = if c.capacity_blocks == 0 {
                StackFmt::format(format_args!("-"))
            } else {
                StackFmt::format(format_args!("{}/{}", c.carved_blocks, c.capacity_blocks))
            };
            writeln!(
                f,
                "{:<#18x} {:>10} {:>12} {:>16}",
                c.addr,
                StackFmt::format(format_args!("{}", HumanBytes(c.bytes))),
                used,
                blocks
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for LocalStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<18} {:>14}", self.kind, "")?;
        writeln!(f, "{:<18} {:>14}", "live blocks", self.live_blocks)?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "live bytes",
            StackFmt::format(format_args!("{}", HumanBytes(self.live_bytes)))
        )?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "committed",
            StackFmt::format(format_args!("{}", HumanBytes(self.committed)))
        )?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "reserved",
            StackFmt::format(format_args!("{}", HumanBytes(self.reserved)))
        )?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "peak live bytes",
            StackFmt::format(format_args!("{}", HumanBytes(self.peak_live_bytes)))
        )?;
        writeln!(f, "{:<18} {:>14}", "chunks", self.chunks)?;
        if self.kind != "Arena" {
            writeln!(f, "{:<18} {:>14}", "capacity blocks", self.capacity_blocks)?;
            writeln!(f, "{:<18} {:>14}", "fallback allocs", self.fallback_allocs)?;
            writeln!(f, "{:<18} {:>14}", "fallback live", self.fallback_live)?;
        }
        if let Some(limit) = self.allocation_limit() {
            writeln!(
                f,
                "{:<18} {:>14}",
                "limit",
                StackFmt::format(format_args!("{}", HumanBytes(limit)))
            )?;
            writeln!(f, "{:<18} {:>14}", "limit refusals", self.limit_refusals)?;
        }
        Ok(())
    }
}

/// Formats into a stack buffer so the result can be padded (no allocation).
type StackFmt = StackStr<32>;
