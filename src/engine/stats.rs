//! Engine counters and the public statistics snapshot.
//!
//! Cost-free on the fast paths: they change only a page's `used`. Each heap folds its pages'
//! changes into its per-class live counters on slow paths (refill, full, retire, remote
//! collection; see `Heap::fold`), with plain Relaxed load + store updates of counters only it
//! writes. Remote frees are counted at once by the freeing thread's heap. Process-wide figures
//! (reserved and committed bytes, huge blocks) change only on slow paths. A snapshot folds the
//! caller's heap and sums the rest: exact for the caller and exited threads, as of their last
//! slow path for other running threads.

use super::size_class::{CLASS_COUNT, CLASS_SIZES};
use crate::sync::{AtomicUsize, Ordering};
use core::fmt;

/// Index of the large-block counters (one block per page) in a heap's class arrays.
pub(crate) const LARGE_INDEX: usize = CLASS_COUNT;
/// Index of the huge-block counters in snapshots.
pub(crate) const HUGE_INDEX: usize = CLASS_COUNT + 1;
/// Class rows in a snapshot: the size classes, then large, then huge.
pub(crate) const STAT_ROWS: usize = CLASS_COUNT + 2;

/// Process-wide counters, updated on slow paths only.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Address space mapped by the engine.
    pub(crate) reserved: AtomicUsize,
    /// Bytes the engine may have touched and not given back.
    pub(crate) committed: AtomicUsize,
    /// Segments mapped.
    pub(crate) segments: AtomicUsize,
    /// Live huge blocks.
    pub(crate) huge_blocks: AtomicUsize,
    /// Bytes in live huge blocks.
    pub(crate) huge_bytes: AtomicUsize,
    /// Frees by threads that have no heap (their first operation was a free), per row; they
    /// cannot use a heap counter, so they pay an atomic add here.
    pub(crate) heapless_frees: [AtomicUsize; CLASS_COUNT + 1],
    /// Bytes of large blocks freed by threads with no heap.
    pub(crate) heapless_large_bytes: AtomicUsize,
}

impl Counters {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            reserved: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            segments: AtomicUsize::new(0),
            huge_blocks: AtomicUsize::new(0),
            huge_bytes: AtomicUsize::new(0),
            heapless_frees: [const { AtomicUsize::new(0) }; CLASS_COUNT + 1],
            heapless_large_bytes: AtomicUsize::new(0),
        }
    }
    #[cfg(loom)]
    fn new() -> Self {
        Self {
            reserved: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            segments: AtomicUsize::new(0),
            huge_blocks: AtomicUsize::new(0),
            huge_bytes: AtomicUsize::new(0),
            heapless_frees: core::array::from_fn(|_| AtomicUsize::new(0)),
            heapless_large_bytes: AtomicUsize::new(0),
        }
    }
}

/// The process-wide counters.
#[cfg(not(loom))]
#[inline]
pub(crate) fn counters() -> &'static Counters {
    static COUNTERS: Counters = Counters::new();
    &COUNTERS
}

/// The process-wide counters (per model run under loom).
#[cfg(loom)]
pub(crate) fn counters() -> &'static Counters {
    loom::lazy_static! { static ref COUNTERS: Counters = Counters::new(); }
    &COUNTERS
}

/// Per-heap counters, written only by the heap's owner.
#[derive(Debug)]
pub(crate) struct HeapCounters {
    /// Per class (+ large): the folded `used` of this heap's pages, minus the remote frees
    /// this heap's owner made into other heaps' pages (counted here at once). One heap's figure
    /// may wrap below zero; the sum over heaps is the live count.
    pub(crate) live: [AtomicUsize; CLASS_COUNT + 1],
    /// Bytes of large blocks, counted the same way.
    pub(crate) large_bytes: AtomicUsize,
}

impl HeapCounters {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            live: [const { AtomicUsize::new(0) }; CLASS_COUNT + 1],
            large_bytes: AtomicUsize::new(0),
        }
    }
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            live: core::array::from_fn(|_| AtomicUsize::new(0)),
            large_bytes: AtomicUsize::new(0),
        }
    }
}

/// Adds `delta` (wrapping) to a counter that only the calling thread writes.
#[inline(always)]
pub(crate) fn owner_add(counter: &AtomicUsize, delta: usize) {
    // Relaxed load + store, not fetch_add: the caller is the counter's only writer, and readers
    // only want a recent value. This is a plain `add` to memory on x86.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(delta),
        Ordering::Relaxed,
    );
}

/// Live blocks of one size class, in a [`Stats`] snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size of the class in bytes (for the large and huge rows: 0, sizes vary).
    pub block_size: usize,
    /// Blocks allocated and not yet freed.
    pub live_blocks: usize,
    /// Bytes in those blocks (block sizes, not requested sizes).
    pub live_bytes: usize,
}

/// A snapshot of an allocator's memory: what is live, committed and reserved.
///
/// [`allocgator::stats()`](crate::stats()) gives one for the global engine. Figures are read
/// without stopping other threads: live blocks are exact for the calling thread and for
/// threads that have exited, and as of their last refill for other running threads.
///
/// ```
/// let before = allocgator::stats();
/// println!("{before}"); // an aligned table
/// assert!(before.reserved_bytes() >= before.committed_bytes());
/// ```
#[derive(Clone)]
pub struct Stats {
    pub(crate) rows: [ClassStats; STAT_ROWS],
    pub(crate) committed: usize,
    pub(crate) reserved: usize,
    pub(crate) segments: usize,
    pub(crate) heaps: usize,
}

impl Stats {
    /// A snapshot of the engine's process-wide figures with no live blocks counted yet.
    pub(crate) fn from_counters() -> Self {
        let c = counters();
        let mut rows = [ClassStats {
            block_size: 0,
            live_blocks: 0,
            live_bytes: 0,
        }; STAT_ROWS];
        for (class, row) in rows.iter_mut().enumerate().take(CLASS_COUNT) {
            row.block_size = CLASS_SIZES[class];
        }
        // Relaxed: statistics.
        rows[HUGE_INDEX].live_blocks = c.huge_blocks.load(Ordering::Relaxed);
        rows[HUGE_INDEX].live_bytes = c.huge_bytes.load(Ordering::Relaxed);
        for (i, row) in rows.iter_mut().enumerate().take(CLASS_COUNT + 1) {
            row.live_blocks = row
                .live_blocks
                .wrapping_sub(c.heapless_frees[i].load(Ordering::Relaxed));
        }
        rows[LARGE_INDEX].live_bytes = rows[LARGE_INDEX]
            .live_bytes
            .wrapping_sub(c.heapless_large_bytes.load(Ordering::Relaxed));
        Stats {
            rows,
            committed: c.committed.load(Ordering::Relaxed),
            reserved: c.reserved.load(Ordering::Relaxed),
            segments: c.segments.load(Ordering::Relaxed),
            heaps: 0,
        }
    }

    /// Adds one heap's counters.
    pub(crate) fn add_heap(&mut self, counters: &HeapCounters) {
        for (i, row) in self.rows.iter_mut().enumerate().take(CLASS_COUNT + 1) {
            // Relaxed: statistics.
            row.live_blocks = row
                .live_blocks
                .wrapping_add(counters.live[i].load(Ordering::Relaxed));
        }
        self.rows[LARGE_INDEX].live_bytes = self.rows[LARGE_INDEX]
            .live_bytes
            .wrapping_add(counters.large_bytes.load(Ordering::Relaxed));
        self.heaps += 1;
    }

    /// Turns wrapped sums into counts (a snapshot taken mid-flight may see a free before its
    /// allocation; clamp such rows at zero) and fills in byte figures.
    pub(crate) fn finish(mut self) -> Self {
        for (i, row) in self.rows.iter_mut().enumerate() {
            if (row.live_blocks as isize) < 0 {
                row.live_blocks = 0;
            }
            if i < CLASS_COUNT {
                row.live_bytes = row.live_blocks * row.block_size;
            } else if (row.live_bytes as isize) < 0 {
                row.live_bytes = 0;
            }
        }
        self
    }

    /// Blocks allocated and not yet freed.
    pub fn live_blocks(&self) -> usize {
        self.rows.iter().map(|r| r.live_blocks).sum()
    }

    /// Bytes in live blocks (block sizes, which round requests up to their size class).
    pub fn live_bytes(&self) -> usize {
        self.rows.iter().map(|r| r.live_bytes).sum()
    }

    /// Bytes backed (or possibly backed) by physical memory: pages in use, free pages not yet
    /// given back, segment headers, huge blocks.
    pub fn committed_bytes(&self) -> usize {
        self.committed
    }

    /// Address space reserved from the OS.
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Segments currently mapped (huge mappings excluded).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Heaps whose counters are included.
    pub fn heaps(&self) -> usize {
        self.heaps
    }

    /// Live blocks per size class (rows with no live block are skipped), then large blocks
    /// (`block_size == 0`, one per page) and huge blocks (own mapping).
    pub fn classes(&self) -> impl Iterator<Item = ClassStats> + '_ {
        self.rows.iter().copied().filter(|r| r.live_blocks != 0)
    }

    /// Live blocks of the size class that a request of `size` bytes uses (0 above 64 KiB,
    /// where blocks are counted in the large and huge rows).
    pub fn live_blocks_of_size(&self, size: usize) -> usize {
        if size <= super::size_class::MEDIUM_MAX {
            self.rows[super::size_class::class_of(size)].live_blocks
        } else {
            0
        }
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("live_blocks", &self.live_blocks())
            .field("live_bytes", &self.live_bytes())
            .field("committed_bytes", &self.committed)
            .field("reserved_bytes", &self.reserved)
            .field("segments", &self.segments)
            .field("heaps", &self.heaps)
            .finish()
    }
}

/// Bytes as a short human figure (`12.5 MiB`).
pub(crate) struct HumanBytes(pub(crate) usize);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let (v, unit) = if b >= (1u64 << 30) as f64 {
            (b / (1u64 << 30) as f64, "GiB")
        } else if b >= (1 << 20) as f64 {
            (b / (1 << 20) as f64, "MiB")
        } else if b >= 1024.0 {
            (b / 1024.0, "KiB")
        } else {
            return write!(f, "{} B", self.0);
        };
        write!(f, "{v:.1} {unit}")
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "live {} blocks, {} | committed {} | reserved {} | {} segments, {} heaps",
            self.live_blocks(),
            HumanBytes(self.live_bytes()),
            HumanBytes(self.committed),
            HumanBytes(self.reserved),
            self.segments,
            self.heaps
        )?;
        writeln!(
            f,
            "{:>10} {:>12} {:>12}",
            "class", "live blocks", "live bytes"
        )?;
        for (i, row) in self.rows.iter().enumerate() {
            if row.live_blocks == 0 {
                continue;
            }
            let label: StackStr<16> = match i {
                LARGE_INDEX => StackStr::format(format_args!("large")),
                HUGE_INDEX => StackStr::format(format_args!("huge")),
                _ => StackStr::format(format_args!("{} B", row.block_size)),
            };
            writeln!(
                f,
                "{:>10} {:>12} {:>12}",
                label,
                row.live_blocks,
                StackStr::<32>::format(format_args!("{}", HumanBytes(row.live_bytes)))
            )?;
        }
        Ok(())
    }
}

/// A fixed-capacity string on the stack (formatting without allocating).
pub(crate) struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    /// Formats `args` into the buffer, truncating if it does not fit.
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Self {
        let mut s = Self {
            buf: [0; N],
            len: 0,
        };
        let _ = fmt::write(&mut s, args);
        s
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

impl<const N: usize> core::ops::Deref for StackStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        // Only whole UTF-8 sequences are ever copied in (see `write_str`).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Display for StackStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self)
    }
}
