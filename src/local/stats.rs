//! [`LocalStats`]: the snapshot `Arena`, `Pool` and `SyncPool` report.

use crate::engine::stats::HumanBytes;
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
}

impl LocalStats {
    /// Blocks allocated and not yet freed (for an arena: allocations since the last reset,
    /// minus deallocations), engine fallback blocks included.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.alloc(1u32);
    /// arena.alloc(2u64);
    /// assert_eq!(arena.stats().live_blocks(), 2);
    /// ```
    pub fn live_blocks(&self) -> usize {
        self.live_blocks
    }

    /// Bytes in live blocks: pool blocks count their block size, fallback blocks their engine
    /// size; for an arena, the bytes bumped since the last reset (padding included; an arena
    /// only reuses memory on reset).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.alloc([0u8; 100]);
    /// assert_eq!(arena.stats().live_bytes(), 100);
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

impl fmt::Display for LocalStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<18} {:>14}", self.kind, "")?;
        writeln!(f, "{:<18} {:>14}", "live blocks", self.live_blocks)?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "live bytes",
            StackFmt::new(format_args!("{}", HumanBytes(self.live_bytes)))
        )?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "committed",
            StackFmt::new(format_args!("{}", HumanBytes(self.committed)))
        )?;
        writeln!(
            f,
            "{:<18} {:>14}",
            "reserved",
            StackFmt::new(format_args!("{}", HumanBytes(self.reserved)))
        )?;
        writeln!(f, "{:<18} {:>14}", "chunks", self.chunks)?;
        if self.kind != "Arena" {
            writeln!(f, "{:<18} {:>14}", "capacity blocks", self.capacity_blocks)?;
            writeln!(f, "{:<18} {:>14}", "fallback allocs", self.fallback_allocs)?;
            writeln!(f, "{:<18} {:>14}", "fallback live", self.fallback_live)?;
        }
        Ok(())
    }
}

/// Formats into a stack buffer so the result can be padded (no allocation).
struct StackFmt(crate::engine::stats::StackStr<32>);

impl StackFmt {
    fn new(args: fmt::Arguments<'_>) -> Self {
        Self(crate::engine::stats::StackStr::format(args))
    }
}

impl fmt::Display for StackFmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
