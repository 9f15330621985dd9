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
use crate::fmt::{HumanBytes, StackStr};
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
    /// Bytes in live blocks of every heap (thread heaps and slabs; huge blocks are in
    /// `huge_bytes`), as handed over by the heaps in batches (see
    /// [`HeapCounters::flush_pending`]).
    pub(crate) live_bytes: AtomicUsize,
    /// The highest `live_bytes + huge_bytes` seen when either grew.
    pub(crate) peak_bytes: AtomicUsize,
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
            live_bytes: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
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
            live_bytes: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
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
    /// Bytes of all blocks counted in `live` (block sizes), counted the same way.
    pub(crate) live_bytes: AtomicUsize,
    /// The highest `live_bytes` this heap reached at a fold, since `peak_base` was taken.
    pub(crate) peak_bytes: AtomicUsize,
    /// `live_bytes` when the current owner took the heap (a pooled heap's figure carries its
    /// previous threads' history, possibly below zero).
    pub(crate) peak_base: AtomicUsize,
    /// Frees this heap's owner made into other heaps' pages.
    pub(crate) remote_frees: AtomicUsize,
    /// Change of `live_bytes` (wrapping) not yet added to the process-wide figure (handed
    /// over in batches, see [`HeapCounters::flush_pending`]).
    pub(crate) pending_bytes: AtomicUsize,
}

impl HeapCounters {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            live: [const { AtomicUsize::new(0) }; CLASS_COUNT + 1],
            large_bytes: AtomicUsize::new(0),
            live_bytes: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
            peak_base: AtomicUsize::new(0),
            remote_frees: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
        }
    }
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            live: core::array::from_fn(|_| AtomicUsize::new(0)),
            large_bytes: AtomicUsize::new(0),
            live_bytes: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
            peak_base: AtomicUsize::new(0),
            remote_frees: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
        }
    }

    /// Counts a change of `bytes` (wrapping: negative for frees) in this heap's live blocks
    /// (at a fold or an in-place resize) and raises the heap's peak if it grew. The
    /// process-wide figure gets the change in batches (see [`REMOTE_BATCH`]). Owner only; slow
    /// paths only.
    #[inline]
    pub(crate) fn note_live_bytes(&self, bytes: usize) {
        owner_add(&self.live_bytes, bytes);
        if (bytes as isize) > 0 {
            // Relaxed: owner-only figures.
            let mine = self.live_bytes.load(Ordering::Relaxed);
            if (mine.wrapping_sub(self.peak_bytes.load(Ordering::Relaxed)) as isize) > 0 {
                self.peak_bytes.store(mine, Ordering::Relaxed);
            }
        }
        self.add_pending(bytes);
    }

    /// A new owner took the heap: its peak starts again from what the heap holds now.
    pub(crate) fn rebase_peak(&self) {
        // Relaxed: owner-only figures.
        let live = self.live_bytes.load(Ordering::Relaxed);
        self.peak_base.store(live, Ordering::Relaxed);
        self.peak_bytes.store(live, Ordering::Relaxed);
    }

    /// The most this heap's live bytes grew above `peak_base` (see [`rebase_peak`]).
    ///
    /// [`rebase_peak`]: Self::rebase_peak
    pub(crate) fn peak_growth(&self) -> usize {
        // Relaxed: owner-only figures.
        let peak = self.peak_bytes.load(Ordering::Relaxed);
        let base = self.peak_base.load(Ordering::Relaxed);
        (peak.wrapping_sub(base) as isize).max(0) as usize
    }

    /// Counts a free into another heap's page (`bytes`: its block size). Owner only.
    #[inline]
    pub(crate) fn note_remote_free(&self, bytes: usize) {
        owner_add(&self.remote_frees, 1);
        owner_add(&self.live_bytes, bytes.wrapping_neg());
        self.add_pending(bytes.wrapping_neg());
    }

    /// Gathers a change for the process-wide live bytes; hands the sum over once it reaches
    /// [`REMOTE_BATCH`] either way (one shared atomic per fold or per remote free would cost
    /// the multi-threaded workloads a contended cache line).
    #[inline]
    fn add_pending(&self, bytes: usize) {
        owner_add(&self.pending_bytes, bytes);
        // Relaxed: owner-only figure.
        let pending = self.pending_bytes.load(Ordering::Relaxed) as isize;
        if pending.unsigned_abs() >= REMOTE_BATCH {
            self.flush_pending();
        }
    }

    /// Hands the gathered change over to the process-wide live bytes and raises the
    /// process-wide peak if they grew. Owner only.
    #[inline]
    pub(crate) fn flush_pending(&self) {
        // Relaxed: owner-only figure / statistics.
        let pending = self.pending_bytes.load(Ordering::Relaxed);
        if pending != 0 {
            self.pending_bytes.store(0, Ordering::Relaxed);
            let c = counters();
            // Relaxed: a statistic.
            let total = c
                .live_bytes
                .fetch_add(pending, Ordering::Relaxed)
                .wrapping_add(pending);
            if (pending as isize) > 0 {
                raise_peak(total);
            }
        }
    }
}

/// Bytes of live-block changes a heap gathers before it updates the process-wide live bytes
/// (so the process-wide figure and its peak are exact to this much per running heap).
pub(crate) const REMOTE_BATCH: usize = 64 * 1024;

/// Raises the process-wide peak to `live + huge` bytes if that is higher (slow paths only).
#[inline]
pub(crate) fn raise_peak(live: usize) {
    let c = counters();
    // Relaxed: statistics.
    let total = live.wrapping_add(c.huge_bytes.load(Ordering::Relaxed));
    if (total as isize) < 0 {
        return; // a transient negative sum (a free counted before its allocation's fold)
    }
    // Relaxed: a monotonic maximum of a statistic; nothing else is ordered by it.
    let mut peak = c.peak_bytes.load(Ordering::Relaxed);
    while total > peak {
        match c
            .peak_bytes
            .compare_exchange_weak(peak, total, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return,
            Err(now) => peak = now,
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
    pub(crate) peak: usize,
    pub(crate) remote_frees: usize,
    pub(crate) pages: PageStates,
}

impl Stats {
    /// A snapshot with every figure zero (class rows carry their block sizes).
    pub(crate) fn empty() -> Self {
        let mut rows = [ClassStats {
            block_size: 0,
            live_blocks: 0,
            live_bytes: 0,
        }; STAT_ROWS];
        for (class, row) in rows.iter_mut().enumerate().take(CLASS_COUNT) {
            row.block_size = CLASS_SIZES[class];
        }
        Stats {
            rows,
            committed: 0,
            reserved: 0,
            segments: 0,
            heaps: 0,
            peak: 0,
            remote_frees: 0,
            pages: PageStates::default(),
        }
    }

    /// A snapshot of the engine's process-wide figures with no live blocks counted yet.
    pub(crate) fn from_counters() -> Self {
        let c = counters();
        let Stats { mut rows, .. } = Self::empty();
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
            peak: c.peak_bytes.load(Ordering::Relaxed),
            remote_frees: c
                .heapless_frees
                .iter()
                .map(|f| f.load(Ordering::Relaxed))
                .sum(),
            ..Self::empty()
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
        self.remote_frees = self
            .remote_frees
            .wrapping_add(counters.remote_frees.load(Ordering::Relaxed));
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
        // The process-wide peak is handed over in batches; never report less than now.
        self.peak = self.peak.max(self.live_bytes());
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

    /// The highest live bytes seen (huge blocks included), at least [`live_bytes`].
    ///
    /// Counted where the live figures are: heaps count their pages' blocks on slow paths and
    /// hand the change to the process-wide figure in batches of 64 KiB, so the global peak is
    /// exact to about 64 KiB per running thread plus one page refill per size class; a spike
    /// shorter than that can be missed. The global figure includes `Slab`s' blocks.
    ///
    /// For [`thread_stats`](crate::thread_stats): the most the calling thread's live bytes
    /// (allocated minus freed by it) grew since it took its heap, at page-refill granularity,
    /// and at least `live_bytes`. For [`Slab::stats`](crate::Slab::stats): the slab's own peak.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
    ///
    /// fn main() {
    ///     let v = std::hint::black_box(vec![0u8; 1 << 20]);
    ///     drop(v);
    ///     let s = allocgator::stats();
    ///     assert!(s.peak_live_bytes() >= 1 << 20);
    ///     assert!(s.peak_live_bytes() >= s.live_bytes());
    /// }
    /// ```
    ///
    /// [`live_bytes`]: Self::live_bytes
    pub fn peak_live_bytes(&self) -> usize {
        self.peak
    }

    /// Frees of blocks that belong to another thread's heap (pushed onto that heap's pages'
    /// remote lists), counted by the freeing threads.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
    ///
    /// fn main() {
    ///     let before = allocgator::stats().remote_frees();
    ///     let b = Box::new(5u64);
    ///     std::thread::spawn(move || drop(b)).join().unwrap();
    ///     assert!(allocgator::stats().remote_frees() > before);
    /// }
    /// ```
    pub fn remote_frees(&self) -> usize {
        self.remote_frees
    }

    /// Pages by state, and free slices with and without memory behind them, over the heaps
    /// the snapshot could walk: [`stats`](crate::stats()) walks the calling thread's heap and
    /// exited threads' heaps (other running threads' heaps change under any reader);
    /// [`thread_stats`](crate::thread_stats) the calling thread's; [`Slab::stats`] the slab's.
    ///
    /// ```
    /// let p = allocgator::thread_stats().pages();
    /// println!("{} in use, {} full", p.in_use, p.full);
    /// ```
    ///
    /// [`Slab::stats`]: crate::Slab::stats
    pub fn pages(&self) -> PageStates {
        self.pages
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
            .field("peak_live_bytes", &self.peak)
            .field("remote_frees", &self.remote_frees)
            .field("pages", &self.pages)
            .finish()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = |b: usize| StackStr::<24>::format(format_args!("{}", HumanBytes(b)));
        let p = self.pages;
        let lines: [(&str, StackStr<24>); 12] = [
            (
                "live blocks",
                StackStr::format(format_args!("{}", self.live_blocks())),
            ),
            ("live bytes", bytes(self.live_bytes())),
            ("peak live bytes", bytes(self.peak)),
            ("committed", bytes(self.committed)),
            ("reserved", bytes(self.reserved)),
            (
                "segments",
                StackStr::format(format_args!("{}", self.segments)),
            ),
            ("heaps", StackStr::format(format_args!("{}", self.heaps))),
            (
                "remote frees",
                StackStr::format(format_args!("{}", self.remote_frees)),
            ),
            (
                "pages in use",
                StackStr::format(format_args!("{}", p.in_use)),
            ),
            ("pages full", StackStr::format(format_args!("{}", p.full))),
            (
                "slices empty",
                StackStr::format(format_args!("{}", p.empty)),
            ),
            (
                "slices decommitted",
                StackStr::format(format_args!("{}", p.decommitted)),
            ),
        ];
        for (name, value) in &lines {
            writeln!(f, "{name:<20} {value:>14}")?;
        }
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

/// Pages and free slices of a heap by state, in a snapshot.
///
/// `in_use` and `full` count pages (runs of 64 KiB slices holding blocks); `empty` and
/// `decommitted` count free 64 KiB slices, with and without memory behind them.
///
/// ```
/// let s = allocgator::thread_stats();
/// let p = s.pages();
/// println!("{} pages in use, {} full, {} empty slices, {} decommitted", p.in_use, p.full, p.empty, p.decommitted);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageStates {
    /// Pages with room to allocate from.
    pub in_use: usize,
    /// Pages with no free block.
    pub full: usize,
    /// Free slices still backed by memory.
    pub empty: usize,
    /// Free slices given back to the OS (or never touched).
    pub decommitted: usize,
}
