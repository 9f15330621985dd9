//! The heap map: a walk of a heap's segments and pages, and the public [`HeapMap`].
//!
//! The walk itself never allocates: it reports what it finds to a callback. [`HeapMap`] is
//! built by the caller's side in two steps, so the heap being walked never changes under the
//! walk: reserve room (which may allocate, before the walk), then walk and store without
//! growing (if the room ran out, reserve more and walk again).
//!
//! Only heaps the caller owns are walked: its own thread heap, exited threads' heaps (under
//! the heap pool's lock), a `Slab` it holds. Other running threads' heaps change under any
//! reader, so the map shows only their counters.

use super::heap::Heap;
use super::page::Page;
use super::segment::Segment;
use super::stats::PageStates;
use super::{SEGMENT_SIZE, SLICES, SLICE_SIZE};
use crate::fmt::{HumanBytes, StackStr};
use crate::sync::Ordering;
use core::fmt;

/// What a region of a segment holds, in a [`HeapMap`].
///
/// ```
/// use allocgator::RegionState;
/// let map = allocgator::heap_map();
/// let full = map.regions().filter(|r| r.state == RegionState::Full).count();
/// println!("{full} full pages");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionState {
    /// A page of blocks with room to allocate from (possibly none live).
    InUse,
    /// A page with no free block: out of its size-class queue until a block comes back.
    Full,
    /// Free slices, still backed by memory (given back at the next purge tick).
    Empty,
    /// Free slices with no memory behind them (never touched, or purged).
    Decommitted,
}

impl RegionState {
    fn label(self) -> &'static str {
        match self {
            RegionState::InUse => "in use",
            RegionState::Full => "full",
            RegionState::Empty => "empty",
            RegionState::Decommitted => "decommitted",
        }
    }
}

/// Whose heap a [`HeapMap`] entry is.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
///
/// fn main() {
///     let v = vec![1u8; 100];
///     let map = allocgator::heap_map();
///     assert!(map.heaps().iter().any(|h| h.kind == allocgator::HeapKind::ThisThread));
///     # drop(v);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapKind {
    /// The calling thread's heap (walked).
    ThisThread,
    /// A heap whose thread exited, pooled for the next new thread (walked under the pool lock).
    Pooled,
    /// Another running thread's heap: not walked (it changes under any reader); its counters.
    Running,
    /// A [`Slab`](crate::Slab)'s private heap (walked by its holder).
    Slab,
}

/// One heap in a [`HeapMap`].
///
/// ```
/// for h in allocgator::heap_map().heaps() {
///     println!("{:?} at {:#x}: {} live blocks", h.kind, h.addr, h.live_blocks);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeapInfo {
    /// Whose heap it is.
    pub kind: HeapKind,
    /// The heap's address (an id).
    pub addr: usize,
    /// Live blocks by the heap's counters (net of its remote frees; as of its last slow path
    /// for a running thread).
    pub live_blocks: usize,
}

/// One segment in a [`HeapMap`].
///
/// ```
/// for s in allocgator::heap_map().segments() {
///     assert!(s.committed_bytes <= 4 << 20);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Index of its heap in [`HeapMap::heaps`].
    pub heap: usize,
    /// The segment's address (4 MiB aligned).
    pub addr: usize,
    /// Bytes of the segment backed by memory (header, pages, free slices not yet purged).
    pub committed_bytes: usize,
    /// Free 64 KiB slices.
    pub free_slices: usize,
}

/// One page or free run of a segment in a [`HeapMap`].
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
///
/// fn main() {
///     let v: Vec<u64> = vec![1; 10];
///     let map = allocgator::heap_map();
///     let pages = map.regions().filter(|r| r.block_size > 0).count();
///     assert!(pages >= 1);
///     # drop(v);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Region {
    /// Index of its segment in [`HeapMap::segments`].
    pub segment: usize,
    /// First byte.
    pub addr: usize,
    /// Length in bytes (whole 64 KiB slices).
    pub bytes: usize,
    /// What it holds.
    pub state: RegionState,
    /// Block size of a page (a single-block page: its whole size); 0 for free slices.
    pub block_size: usize,
    /// Blocks handed out and not yet freed by the owner or collected from other threads'
    /// frees.
    pub used: usize,
    /// Blocks the page holds.
    pub capacity: usize,
}

/// What a walk finds, in address order within each segment.
pub(crate) enum Item {
    Segment(SegmentInfo),
    Region(Region),
}

/// Walks a heap's segments and pages, calling `f` for each (no allocation).
///
/// # Safety
/// The caller owns the heap, and `f` neither allocates from nor frees into it.
pub(crate) unsafe fn walk(heap: &Heap, segment_base: usize, mut f: impl FnMut(Item)) {
    let mut seg_index = segment_base;
    let visit = |seg: *mut Segment| {
        // SAFETY: `seg` is one of the heap's segments, yielded under its segment lock by the
        // walk; the caller owns the heap, so nothing else touches the segment's local state.
        let (used, uncommitted) = unsafe { Segment::with_local(seg, |l| (l.used, l.uncommitted)) };
        f(Item::Segment(SegmentInfo {
            heap: 0,
            addr: seg as usize,
            committed_bytes: (!uncommitted).count_ones() as usize * SLICE_SIZE,
            free_slices: used.count_zeros() as usize,
        }));
        let mut i = 1;
        while i < SLICES {
            let addr = Segment::slice_start(seg, i) as usize;
            if used & (1 << i) != 0 {
                // SAFETY: `seg` is a live segment of ours (above) and `i < SLICES`.
                let page: &Page = unsafe { &(*seg).pages[i] };
                // SAFETY: slice `i` heads a page of this heap, which the caller owns; the
                // closure only reads.
                let (slice_count, full, used, reserved) = unsafe {
                    page.with_local(|pl| (pl.slice_count, pl.in_full(), pl.used, pl.reserved))
                };
                let slices = (slice_count as usize).max(1);
                f(Item::Region(Region {
                    segment: seg_index,
                    addr,
                    bytes: slices * SLICE_SIZE,
                    state: if full {
                        RegionState::Full
                    } else {
                        RegionState::InUse
                    },
                    block_size: page.block_size(),
                    used: used as usize,
                    capacity: reserved as usize,
                }));
                i += slices;
            } else {
                let committed = uncommitted & (1 << i) == 0;
                let start = i;
                while i < SLICES
                    && used & (1 << i) == 0
                    && (uncommitted & (1 << i) == 0) == committed
                {
                    i += 1;
                }
                f(Item::Region(Region {
                    segment: seg_index,
                    addr,
                    bytes: (i - start) * SLICE_SIZE,
                    state: if committed {
                        RegionState::Empty
                    } else {
                        RegionState::Decommitted
                    },
                    block_size: 0,
                    used: 0,
                    capacity: 0,
                }));
            }
        }
        seg_index += 1;
    };
    // SAFETY: the caller owns the heap, and `visit` only reads and calls `f`, which neither
    // allocates from nor frees into it (caller).
    unsafe { heap.for_each_segment(visit) };
}

// A walk of the map counts pages by state, for the statistics (`Stats::pages`).
impl PageStates {
    /// Adds one heap's pages (a walk, no allocation).
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn add_heap(&mut self, heap: &Heap) {
        // SAFETY: the caller owns the heap; the callback only counts (no allocation, no
        // free).
        unsafe {
            walk(heap, 0, |item| {
                if let Item::Region(r) = item {
                    let slices = r.bytes / SLICE_SIZE;
                    match r.state {
                        RegionState::InUse => self.in_use += 1,
                        RegionState::Full => self.full += 1,
                        RegionState::Empty => self.empty += slices,
                        RegionState::Decommitted => self.decommitted += slices,
                    }
                }
            })
        }
    }
}

/// A map of memory: heaps, their segments, and each segment's pages and free runs (address,
/// size, state, block size, used / capacity). `Display`s like a memory map.
///
/// From [`allocgator::heap_map()`](crate::heap_map) (the calling thread's heap and exited
/// threads' heaps) or [`Slab::map`](crate::Slab::map).
///
/// ```
/// let blocks: Vec<Box<[u8; 48]>> = (0..100).map(|_| Box::new([0; 48])).collect();
/// let map = allocgator::heap_map();
/// println!("{map}");
/// # drop(blocks);
/// ```
#[derive(Debug, Clone, Default)]
pub struct HeapMap {
    pub(crate) heaps: Vec<HeapInfo>,
    pub(crate) segments: Vec<SegmentInfo>,
    pub(crate) regions: Vec<Region>,
    /// The room reserved ran out during the walk.
    pub(crate) overflow: bool,
}

impl HeapMap {
    /// A map with room for this many entries (allocates now, before any walk).
    pub(crate) fn with_room(heaps: usize, segments: usize, regions: usize) -> HeapMap {
        HeapMap {
            heaps: Vec::with_capacity(heaps),
            segments: Vec::with_capacity(segments),
            regions: Vec::with_capacity(regions),
            overflow: false,
        }
    }

    /// The room to reserve for a retry after an overflow.
    pub(crate) fn bigger_room(&self) -> (usize, usize, usize) {
        (
            self.heaps.capacity() * 2,
            self.segments.capacity() * 2,
            self.regions.capacity() * 2,
        )
    }

    /// Records a heap that is not walked (no allocation: drops the entry if out of room).
    pub(crate) fn push_heap(&mut self, info: HeapInfo) -> bool {
        if self.heaps.len() == self.heaps.capacity() {
            self.overflow = true;
            return false;
        }
        self.heaps.push(info);
        true
    }

    /// Records a heap and walks it (no allocation: stops recording when out of room).
    ///
    /// # Safety
    /// The caller owns the heap.
    pub(crate) unsafe fn add_walked(&mut self, kind: HeapKind, heap: &Heap) {
        // SAFETY: the caller owns the heap (folding its pending frees makes the counters
        // exact).
        unsafe { heap.fold_all() };
        let live = heap
            .counters
            .live
            .iter()
            // Relaxed: statistics (owner's own counters here).
            .fold(0usize, |a, c| a.wrapping_add(c.load(Ordering::Relaxed)));
        if !self.push_heap(HeapInfo {
            kind,
            addr: heap as *const Heap as usize,
            live_blocks: (live as isize).max(0) as usize,
        }) {
            return;
        }
        let heap_index = self.heaps.len() - 1;
        let base = self.segments.len();
        let (segments, regions, overflow) =
            (&mut self.segments, &mut self.regions, &mut self.overflow);
        // SAFETY: the caller owns the heap; the callback pushes only within the capacity
        // reserved beforehand, so it neither allocates nor frees.
        unsafe {
            walk(heap, base, |item| match item {
                Item::Segment(mut s) => {
                    if segments.len() < segments.capacity() {
                        s.heap = heap_index;
                        segments.push(s);
                    } else {
                        *overflow = true;
                    }
                }
                Item::Region(r) => {
                    if regions.len() < regions.capacity() && r.segment < segments.len() {
                        regions.push(r);
                    } else {
                        *overflow = true;
                    }
                }
            })
        }
    }

    /// The heaps in the map (walked ones and, for the global map, other running threads').
    ///
    /// ```
    /// assert!(!allocgator::heap_map().heaps().is_empty() || true);
    /// ```
    pub fn heaps(&self) -> &[HeapInfo] {
        &self.heaps
    }

    /// The segments of the walked heaps.
    ///
    /// ```
    /// let map = allocgator::heap_map();
    /// for s in map.segments() {
    ///     assert_eq!(s.addr % (4 << 20), 0);
    /// }
    /// ```
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// Every page and free run of the walked heaps, segment by segment, in address order.
    ///
    /// ```
    /// let map = allocgator::heap_map();
    /// let live: usize = map.regions().map(|r| r.used).sum();
    /// println!("{live} blocks handed out on walked heaps");
    /// ```
    pub fn regions(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter()
    }

    /// The walked heaps' pages and free slices by state.
    ///
    /// ```
    /// let p = allocgator::heap_map().page_states();
    /// println!("{p:?}");
    /// ```
    pub fn page_states(&self) -> PageStates {
        let mut p = PageStates::default();
        for r in &self.regions {
            match r.state {
                RegionState::InUse => p.in_use += 1,
                RegionState::Full => p.full += 1,
                RegionState::Empty => p.empty += r.bytes / SLICE_SIZE,
                RegionState::Decommitted => p.decommitted += r.bytes / SLICE_SIZE,
            }
        }
        p
    }
}

impl fmt::Display for HeapMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = |b: usize| StackStr::<16>::format(format_args!("{}", HumanBytes(b)));
        writeln!(
            f,
            "{:<18} {:>10}  {:<12} {:>10} {:>15}",
            "address", "size", "state", "block", "used/capacity"
        )?;
        for (h, heap) in self.heaps.iter().enumerate() {
            let kind = match heap.kind {
                HeapKind::ThisThread => "this thread",
                HeapKind::Pooled => "pooled (thread exited)",
                HeapKind::Running => "running thread, not walked",
                HeapKind::Slab => "slab",
            };
            writeln!(
                f,
                "heap {:#x} ({kind}): {} live blocks",
                heap.addr, heap.live_blocks
            )?;
            for (s, seg) in self
                .segments
                .iter()
                .enumerate()
                .filter(|(_, s)| s.heap == h)
            {
                writeln!(
                    f,
                    "  {:<#16x} {:>10}  segment      committed {}, {} free slices",
                    seg.addr,
                    bytes(SEGMENT_SIZE),
                    bytes(seg.committed_bytes),
                    seg.free_slices
                )?;
                for r in self.regions.iter().filter(|r| r.segment == s) {
                    if r.block_size == 0 {
                        writeln!(
                            f,
                            "  {:<#16x} {:>10}  {}",
                            r.addr,
                            bytes(r.bytes),
                            r.state.label()
                        )?;
                    } else {
                        let usage =
                            StackStr::<32>::format(format_args!("{}/{}", r.used, r.capacity));
                        writeln!(
                            f,
                            "  {:<#16x} {:>10}  {:<12} {:>10} {:>15}",
                            r.addr,
                            bytes(r.bytes),
                            r.state.label(),
                            bytes(r.block_size),
                            usage
                        )?;
                    }
                }
            }
        }
        if self.overflow {
            writeln!(f, "(truncated: the heaps grew during the walk)")?;
        }
        Ok(())
    }
}
