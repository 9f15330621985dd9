//! [`Slab`]: a private engine heap as an allocator.

use crate::api::{self, RawAllocator};
use crate::engine::heap::Heap;
use crate::engine::segment::SegmentKind;
use crate::engine::size_class::{CLASS_COUNT, CLASS_SIZES, MEDIUM_MAX};
use crate::engine::stats::{ClassStats, Stats, HUGE_INDEX, STAT_ROWS};
use crate::engine::{segment_of, LARGE_MAX, SEGMENT_SIZE};
use core::alloc::Layout;
use core::ptr;
use std::cell::Cell;

/// A private multi-size heap of the engine: every size class, large and huge blocks, with the
/// engine's fast paths — and dropping it (or [`reset`](Slab::reset)) gives all its memory
/// back at once, live blocks included.
///
/// `&Slab` is an [`Allocator`](crate::allocator_api2::alloc::Allocator). A `Slab` is `Send`
/// (its heap moves with it) but not `Sync`: only its holder allocates from and frees into it,
/// so neither needs an atomic operation.
///
/// ```
/// use allocgator::Slab;
/// use allocgator::allocator_api2::{boxed::Box, vec::Vec};
///
/// let slab = Slab::new();
/// let mut boxes: Vec<Box<u32, &Slab>, &Slab> = Vec::new_in(&slab);
/// for n in 0..3 {
///     boxes.push(Box::new_in(n, &slab));
/// }
/// assert_eq!(*boxes[1], 1);
/// assert_eq!(slab.stats().live_blocks(), 4);
/// ```
///
/// With `hashbrown`'s `allocator-api2` feature:
///
/// ```
/// let slab = allocgator::Slab::new();
/// let mut m = hashbrown::HashMap::new_in(&slab);
/// m.insert(1, "one");
/// assert_eq!(m[&1], "one");
/// ```
pub struct Slab {
    /// The private heap (never null).
    heap: *mut Heap,
    /// The allocation limit (`usize::MAX`: none), kept here too so `reset` carries it to
    /// the new heap.
    limit: Cell<usize>,
    /// Refusals counted by heaps this slab has had before the current one.
    old_refusals: Cell<usize>,
    /// Huge blocks (own mappings, which the heap does not track): a list of nodes allocated
    /// from the heap itself, so `Drop` can unmap them.
    huge: Cell<*mut HugeNode>,
}

/// A live huge block of a slab.
struct HugeNode {
    next: *mut HugeNode,
    block: *mut u8,
}

// SAFETY: the heap and every block of it belong to the `Slab` value; moving the value moves
// the ownership (the engine allows a heap to change owner through a synchronising hand-off,
// which a move between threads is). `&Slab` is not `Send` (no `Sync`), so no other thread can
// allocate or free meanwhile.
unsafe impl Send for Slab {}

impl Slab {
    /// A new, empty slab (a fresh engine heap: one small mapping; segments come on first use).
    ///
    /// Aborts through [`handle_alloc_error`](std::alloc::handle_alloc_error) if the OS
    /// refuses the memory; [`try_new`](Self::try_new) returns an error instead.
    ///
    /// ```
    /// let slab = allocgator::Slab::new();
    /// assert_eq!(slab.stats().live_blocks(), 0);
    /// ```
    pub fn new() -> Slab {
        match Self::try_new() {
            Some(s) => s,
            None => std::alloc::handle_alloc_error(Layout::new::<Heap>()),
        }
    }

    /// A new slab, or `None` if the OS refuses memory for its heap.
    ///
    /// ```
    /// assert!(allocgator::Slab::try_new().is_some());
    /// ```
    pub fn try_new() -> Option<Slab> {
        // A first heap reads the environment's options (see `options`).
        crate::options::ensure_read();
        let heap = Heap::create();
        if heap.is_null() {
            return None;
        }
        Some(Slab {
            heap,
            limit: Cell::new(usize::MAX),
            old_refusals: Cell::new(0),
            huge: Cell::new(ptr::null_mut()),
        })
    }

    /// Frees every block at once and starts over with an empty heap.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let mut slab = allocgator::Slab::new();
    /// for i in 0..1000 {
    ///     std::mem::forget(Box::new_in(i, &slab));
    /// }
    /// assert_eq!(slab.stats().live_blocks(), 1000);
    /// slab.reset();
    /// assert_eq!(slab.stats().live_blocks(), 0);
    /// ```
    pub fn reset(&mut self) {
        // SAFETY: we own the heap.
        let refusals = unsafe { self.heap().limit_figures().2 };
        self.old_refusals.set(self.old_refusals.get() + refusals);
        // SAFETY: `&mut self`: no block of the slab is borrowed any more (every `Box`/`Vec` in
        // it borrowed the slab), so releasing them all is sound.
        unsafe { self.release() };
        self.heap = Heap::create();
        if self.heap.is_null() {
            std::alloc::handle_alloc_error(Layout::new::<Heap>());
        }
        // SAFETY: we own the new heap.
        unsafe { self.heap().set_limit(self.limit.get()) };
    }

    /// Caps the memory the slab's blocks occupy at `limit` bytes, or lifts the cap (`None`):
    /// the pages holding its blocks (a page is 64 KiB or more; large blocks are pages of
    /// their own) and its huge blocks' mappings, as [`held_bytes`](Self::held_bytes) counts
    /// them. A request that needs a new page or mapping past the cap fails with `AllocError`;
    /// free room in the pages it holds is still used, and nothing allocated is touched.
    ///
    /// Free pages are not counted: the engine decommits them after a short delay, or at
    /// once with [`trim`](Self::trim). Checked only where the heap takes a page; the engine's
    /// fast paths are unchanged.
    ///
    /// ```
    /// use allocgator::allocator_api2::vec::Vec;
    /// let slab = allocgator::Slab::new();
    /// slab.set_allocation_limit(Some(1 << 20));
    /// let mut v: Vec<u8, _> = Vec::new_in(&slab);
    /// assert!(v.try_reserve(512 * 1024).is_ok());
    /// assert!(v.try_reserve(2 << 20).is_err());
    /// assert!(slab.held_bytes() <= 1 << 20);
    /// assert_eq!(slab.limit_refusals(), 1);
    /// ```
    pub fn set_allocation_limit(&self, limit: Option<usize>) {
        let limit = limit.unwrap_or(usize::MAX);
        self.limit.set(limit);
        // SAFETY: we own the heap.
        unsafe { self.heap().set_limit(limit) };
    }

    /// The cap set with [`set_allocation_limit`](Self::set_allocation_limit), or `None`.
    ///
    /// ```
    /// let slab = allocgator::Slab::new();
    /// assert_eq!(slab.allocation_limit(), None);
    /// ```
    pub fn allocation_limit(&self) -> Option<usize> {
        (self.limit.get() != usize::MAX).then_some(self.limit.get())
    }

    /// What the allocation limit counts: bytes of the pages that hold the slab's blocks, and
    /// of its huge blocks' mappings.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let slab = allocgator::Slab::new();
    /// assert_eq!(slab.held_bytes(), 0);
    /// let b = Box::new_in(1u64, &slab);
    /// assert_eq!(slab.held_bytes(), 64 * 1024); // one page of 8-byte blocks
    /// # drop(b);
    /// ```
    pub fn held_bytes(&self) -> usize {
        // SAFETY: we own the heap.
        unsafe { self.heap().limit_figures().0 }
    }

    /// Requests refused so far because they would have passed the allocation limit.
    ///
    /// ```
    /// let slab = allocgator::Slab::new();
    /// slab.set_allocation_limit(Some(0));
    /// assert!(allocgator::allocator_api2::boxed::Box::try_new_in(1u8, &slab).is_err());
    /// assert_eq!(slab.limit_refusals(), 1);
    /// ```
    pub fn limit_refusals(&self) -> usize {
        // SAFETY: we own the heap.
        self.old_refusals.get() + unsafe { self.heap().limit_figures().2 }
    }

    /// Gives the slab's free memory back to the OS now: collects every page's frees, retires
    /// its empty pages and decommits them, and unmaps segments left empty; returns the
    /// bytes by which [`stats`](Self::stats)' `committed_bytes` fell. Live blocks stay where
    /// they are. (The engine does this on its own a short delay after pages empty; `trim`
    /// is for a slab that will sit idle.)
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let slab = allocgator::Slab::new();
    /// let keep = Box::new_in(7u32, &slab);
    /// let burst: Vec<_> = (0..100_000).map(|i| Box::new_in([i as u64; 4], &slab)).collect();
    /// drop(burst);
    /// let released = slab.trim();
    /// assert!(released >= 2 << 20, "{released}");
    /// assert_eq!(*keep, 7);
    /// ```
    pub fn trim(&self) -> usize {
        let before = self.stats().committed_bytes();
        // SAFETY: we own the heap (not `Sync`: the holder is its only user).
        unsafe { self.heap().collect(true) };
        before.saturating_sub(self.stats().committed_bytes())
    }

    /// A snapshot of this slab: live blocks per size class, large and huge blocks, and the
    /// memory its heap holds (its segments and huge mappings).
    ///
    /// ```
    /// use allocgator::allocator_api2::vec::Vec;
    /// let slab = allocgator::Slab::new();
    /// let v: Vec<u8, _> = Vec::with_capacity_in(100, &slab);
    /// let s = slab.stats();
    /// assert_eq!(s.live_blocks(), 1);
    /// assert!(s.live_bytes() >= 100);
    /// assert!(s.committed_bytes() >= 100 && s.reserved_bytes() >= s.committed_bytes());
    /// println!("{s}");
    /// # drop(v);
    /// ```
    pub fn stats(&self) -> Stats {
        let mut rows = [ClassStats {
            block_size: 0,
            live_blocks: 0,
            live_bytes: 0,
        }; STAT_ROWS];
        for (row, &size) in rows.iter_mut().zip(CLASS_SIZES.iter()).take(CLASS_COUNT) {
            row.block_size = size;
        }
        // SAFETY: we own the heap (not `Sync`: the holder is the only user).
        let (segments, mut committed) = unsafe {
            self.heap().fold_all();
            self.heap().footprint()
        };
        let mut reserved = segments * SEGMENT_SIZE + heap_mapping_bytes();
        committed += heap_mapping_bytes();
        let mut node = self.huge.get();
        while !node.is_null() {
            // SAFETY: nodes of the list are live blocks of our heap; each names a live huge
            // block whose header is valid.
            unsafe {
                let seg = segment_of((*node).block);
                rows[HUGE_INDEX].live_blocks += 1;
                rows[HUGE_INDEX].live_bytes += (*seg).usable;
                reserved += (*seg).map_size;
                committed += (*seg).map_size;
                node = (*node).next;
            }
        }
        let mut stats = Stats::empty();
        stats.rows = rows;
        stats.committed = committed;
        stats.reserved = reserved;
        stats.segments = segments;
        // SAFETY: we own the heap; the walk does not allocate.
        unsafe { stats.pages.add_heap(self.heap()) };
        stats.peak = self.heap().counters.peak_growth();
        // SAFETY: the heap is valid while we are.
        stats.add_heap(&unsafe { &*self.heap }.counters);
        // The huge-block nodes are allocator bookkeeping, not the user's blocks.
        let nodes = rows_of_nodes(self.huge.get());
        let node_class = crate::engine::size_class::class_of(core::mem::size_of::<HugeNode>());
        stats.rows[node_class].live_blocks = stats.rows[node_class].live_blocks.wrapping_sub(nodes);
        stats.finish()
    }

    /// A map of this slab's heap: its segments, each page (address, size, state, block size,
    /// used / capacity) and free run. Huge blocks (own mappings) are in [`stats`](Self::stats).
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let slab = allocgator::Slab::new();
    /// let blocks: Vec<Box<[u8; 100], &allocgator::Slab>> =
    ///     (0..500).map(|_| Box::new_in([0u8; 100], &slab)).collect();
    /// let map = slab.map();
    /// let used: usize = map.regions().filter(|r| r.block_size == 104).map(|r| r.used).sum();
    /// assert_eq!(used, 500);
    /// println!("{map}");
    /// # drop(blocks);
    /// ```
    pub fn map(&self) -> crate::HeapMap {
        use crate::engine::map::{HeapKind, HeapMap};
        let (mut heaps, mut segments, mut regions) = (1, 4, 64);
        loop {
            // Room is reserved in the global engine, not in this slab: the walk below sees a
            // heap that nothing changes.
            let mut map = HeapMap::with_room(heaps, segments, regions);
            // SAFETY: we own the heap; the map does not grow during the walk.
            unsafe {
                self.heap().fold_all();
                map.add_walked(HeapKind::Slab, self.heap());
            }
            if !map.overflow {
                return map;
            }
            (heaps, segments, regions) = map.bigger_room();
        }
    }

    #[inline(always)]
    fn heap(&self) -> &Heap {
        // SAFETY: `heap` is a live private heap until drop / reset (which takes `&mut self`).
        unsafe { &*self.heap }
    }

    /// The slow half of allocation: the engine's slow path, then bookkeeping for huge blocks.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let heap = self.heap();
        if layout.size() > LARGE_MAX {
            // A huge block past the limit is refused before it is mapped.
            // SAFETY: we own the heap.
            let (held, limit, _) = unsafe { heap.limit_figures() };
            if held.saturating_add(layout.size()) > limit {
                // SAFETY: we own the heap.
                unsafe { heap.refuse() };
                return ptr::null_mut();
            }
        }
        // SAFETY: we own the heap; a valid layout.
        let p = unsafe { heap.alloc_slow(layout.size(), layout.align(), zeroed) };
        // SAFETY: `p` is a live block of ours, so its header is valid.
        if !p.is_null() && unsafe { (*segment_of(p)).kind } == SegmentKind::Huge {
            // A huge block counts against the limit by its mapping, known once it is taken.
            // SAFETY: a live huge block's header; we own the heap.
            if !unsafe { heap.charge((*segment_of(p)).map_size) } {
                // SAFETY: the block we just got, unused; we own the heap.
                unsafe {
                    heap.free(p);
                    heap.refuse();
                }
                return ptr::null_mut();
            }
            // SAFETY: we own the heap; a valid layout for a node.
            let node = unsafe {
                heap.alloc(
                    core::mem::size_of::<HugeNode>(),
                    core::mem::align_of::<HugeNode>(),
                )
            }
            .cast::<HugeNode>();
            if node.is_null() {
                // SAFETY: the block we just got, unused, and charged above.
                unsafe {
                    heap.uncharge((*segment_of(p)).map_size);
                    heap.free(p);
                }
                return ptr::null_mut();
            }
            // SAFETY: a fresh node of ours.
            unsafe {
                node.write(HugeNode {
                    next: self.huge.get(),
                    block: p,
                })
            };
            self.huge.set(node);
        }
        p
    }

    /// Unlinks the node of huge block `p` (and returns it), or null if `p` is not in the list.
    fn unlink_huge(&self, p: *mut u8) -> *mut HugeNode {
        let mut prev: *mut HugeNode = ptr::null_mut();
        let mut node = self.huge.get();
        while !node.is_null() {
            // SAFETY: list nodes are live blocks of our heap, and only `&self`'s methods,
            // on this thread (`Slab` is not `Sync`), touch them.
            let HugeNode { block, next } = unsafe { node.read() };
            if block == p {
                if prev.is_null() {
                    self.huge.set(next);
                } else {
                    // SAFETY: `prev` is a live list node, as `node` is.
                    unsafe { (*prev).next = next };
                }
                return node;
            }
            prev = node;
            node = next;
        }
        ptr::null_mut()
    }

    /// Frees a block that may be huge.
    ///
    /// # Safety
    /// `p` is a live block of this slab.
    #[cold]
    #[inline(never)]
    unsafe fn free_maybe_huge(&self, p: *mut u8) {
        let heap = self.heap();
        let seg = segment_of(p);
        // SAFETY: `p` is a live block (caller), so its segment header is mapped; `kind` and a
        // huge header's `map_size` are fixed while it is.
        let huge_map = unsafe { ((*seg).kind == SegmentKind::Huge).then(|| (*seg).map_size) };
        if let Some(map_size) = huge_map {
            // SAFETY: we own the heap; the huge block's mapping was charged when it was made.
            unsafe { heap.uncharge(map_size) };
            let node = self.unlink_huge(p);
            debug_assert!(!node.is_null());
            if !node.is_null() {
                // SAFETY: the node is a live block of our heap, now out of the list.
                unsafe { heap.free(node.cast()) };
            }
        }
        // SAFETY: `p` is a live block of this slab (caller), freed once.
        unsafe { heap.free(p) };
    }

    /// Frees the huge blocks and destroys the heap.
    ///
    /// # Safety
    /// No block of the slab is used afterwards; `self.heap` is not used again before it is
    /// replaced.
    unsafe fn release(&mut self) {
        let heap = self.heap;
        let mut node = self.huge.replace(ptr::null_mut());
        // SAFETY: nodes and their huge blocks are live and ours (caller: unused from now on);
        // then the heap goes, with every segment and block in it.
        unsafe {
            while !node.is_null() {
                let next = (*node).next;
                (*heap).free((*node).block);
                node = next;
            }
            Heap::destroy(heap);
        }
    }
}

/// Length of a huge-node list.
fn rows_of_nodes(mut node: *mut HugeNode) -> usize {
    let mut n = 0;
    while !node.is_null() {
        n += 1;
        // SAFETY: list nodes are live blocks of the slab's heap.
        node = unsafe { (*node).next };
    }
    n
}

/// Bytes of the mapping that holds a `Heap` itself.
fn heap_mapping_bytes() -> usize {
    crate::engine::checked_round_up(core::mem::size_of::<Heap>(), crate::os::OS_PAGE).unwrap_or(0)
}

impl Default for Slab {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Slab {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slab").field("heap", &self.heap).finish()
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: dropping: no block of the slab can be used any more (they borrowed it).
        unsafe { self.release() }
    }
}

impl RawAllocator for &Slab {
    #[inline]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let heap = self.heap();
        // SAFETY: we own the heap (the holder of a non-`Sync` value); a valid layout.
        let p = unsafe {
            if zeroed {
                heap.alloc_zeroed_fast(layout.size(), layout.align())
            } else {
                heap.alloc_fast(layout.size(), layout.align())
            }
        };
        if !p.is_null() {
            return p;
        }
        self.alloc_slow(layout, zeroed)
    }

    #[inline]
    unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() > MEDIUM_MAX || layout.align() > MEDIUM_MAX {
            // SAFETY: a live block of ours (caller).
            unsafe { self.free_maybe_huge(ptr) }
        } else {
            // SAFETY: a live block of ours; we own the heap.
            unsafe {
                self.heap().free(ptr);
            }
        }
    }

    #[inline]
    unsafe fn raw_usable(&self, ptr: *mut u8, _layout: Layout) -> usize {
        // SAFETY: a live engine block (caller).
        unsafe { Heap::usable_size(ptr) }
    }

    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: a live block of ours (caller): its header is valid.
        let huge = unsafe { (*segment_of(ptr)).kind } == SegmentKind::Huge;
        if huge && self.limit.get() != usize::MAX && new_size > old.size() {
            // A growing huge block under a limit moves instead: its new mapping is charged
            // before it is used.
            return ptr::null_mut();
        }
        let old_map = if huge {
            // SAFETY: a huge block of ours, so its segment header is mapped.
            unsafe { (*segment_of(ptr)).map_size }
        } else {
            0
        };
        // SAFETY: a live block of ours (caller); we own the heap.
        let q = unsafe { self.heap().resize(ptr, new_size) };
        if huge && !q.is_null() {
            // SAFETY: `q` is the live huge block (moved or not); we own the heap. Without a
            // limit (or shrinking) the new charge always fits.
            unsafe {
                self.heap().uncharge(old_map);
                let charged = self.heap().charge((*segment_of(q)).map_size);
                debug_assert!(charged);
            }
        }
        if !q.is_null() && q != ptr {
            // A huge block whose pages moved: follow it in the list.
            let mut node = self.huge.get();
            while !node.is_null() {
                // SAFETY: list nodes are live blocks of our heap, touched only by this
                // thread's calls on `&self` (`Slab` is not `Sync`).
                let this = unsafe { &mut *node };
                if this.block == ptr {
                    this.block = q;
                    break;
                }
                node = this.next;
            }
        }
        q
    }
}

api::impl_allocator!(&Slab);
