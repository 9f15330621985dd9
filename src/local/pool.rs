//! [`Pool`]: fixed-size blocks with an O(1) LIFO free list.
//!
//! One concept in one file: the free list, the chunks it is carved from, the fallback blocks
//! told apart from pool blocks by address, the limit, `reserve` and `trim` all work on the
//! same few fields. About a third of the lines are documentation and runnable examples.

use super::{engine_alloc, engine_alloc_usable, engine_free, engine_free_block, engine_usable};
use super::{fits_limit, free_link, ChunkInfo, LocalMap, LocalStats};
use crate::allocator_api2::alloc::AllocError;
use crate::api::{self, RawAllocator};
use core::alloc::Layout;
use core::ptr;
use std::cell::Cell;

/// Bytes reserved at the start of each chunk for its header (`next`, `bytes`).
#[cfg(not(feature = "checked"))]
const CHUNK_HEADER: usize = 16;
/// Bytes reserved at the start of each chunk for its header (`next`, `bytes`, and with
/// feature `checked` `blocks` and `freed`).
#[cfg(feature = "checked")]
const CHUNK_HEADER: usize = 32;
/// Bytes of the first chunk (later ones double, up to [`CHUNK_MAX`]).
const CHUNK_FIRST: usize = 4096;
/// Chunks stop doubling at this size (unless one block is larger).
const CHUNK_MAX: usize = 256 * 1024;

/// Header at the start of every chunk.
#[repr(C)]
struct Chunk {
    /// The previously taken chunk.
    next: *mut Chunk,
    /// The chunk's engine size (what is given back on drop).
    bytes: usize,
    /// Blocks in this chunk (feature `checked`: the free bits take room at its end).
    #[cfg(feature = "checked")]
    blocks: usize,
    /// One bit per block, set while the block is free (feature `checked`).
    #[cfg(feature = "checked")]
    freed: *mut u64,
}

/// A free block: its first word links the next one, through `free_link` (encoded in the
/// hardened build).
struct Free {
    _link: *mut Free,
}

/// Stores `next` as free block `block`'s link.
///
/// # Safety
/// `block` is a free block of a pool, at least a pointer long and aligned.
#[inline(always)]
unsafe fn set_link(block: *mut Free, next: *mut Free) {
    // SAFETY: a free block, a pointer long and aligned (caller).
    unsafe { free_link::store(block.cast(), next.cast()) }
}

/// A free block's link did not decode into the pool's chunks (hardened build).
#[cfg(feature = "hardened")]
#[cold]
#[inline(never)]
fn link_overwritten(block: *mut Free) -> ! {
    crate::engine::checked::report(
        "Pool free-list link overwritten (a write after free, or an overflow from the block \
         before): the free block",
        block.addr(),
    )
}

/// Blocks in `chunk`, whose blocks start `first` bytes in and are `size` bytes each.
///
/// # Safety
/// `chunk` is a live chunk of a pool with this geometry.
unsafe fn chunk_blocks(chunk: *mut Chunk, first: usize, size: usize) -> usize {
    #[cfg(feature = "checked")]
    {
        let _ = (first, size);
        // SAFETY: a live chunk (caller).
        unsafe { (*chunk).blocks }
    }
    #[cfg(not(feature = "checked"))]
    // SAFETY: a live chunk (caller).
    unsafe {
        ((*chunk).bytes - first) / size
    }
}

/// The sizes a pool works with, from its `Layout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Block size: the layout's size, at least a pointer, rounded up to `align`.
    pub(crate) size: usize,
    /// Block alignment: the layout's, at least a pointer's.
    pub(crate) align: usize,
}

impl Geometry {
    pub(crate) const fn of(layout: Layout) -> Geometry {
        let word = core::mem::size_of::<usize>();
        let align = if layout.align() > word {
            layout.align()
        } else {
            word
        };
        let size = if layout.size() > word {
            layout.size()
        } else {
            word
        };
        // Cannot overflow: a Layout's size rounded up to its align fits `isize`, and a word is
        // at most the align.
        let size = (size + align - 1) & !(align - 1);
        Geometry { size, align }
    }

    /// The request fits a block (and so is served by the free list).
    #[inline(always)]
    pub(crate) fn fits(self, layout: Layout) -> bool {
        // `&`, not `&&`: both compares are cheap, so one branch instead of two.
        (layout.size() <= self.size) & (layout.align() <= self.align)
    }

    /// Usable bytes of a live block of a pool with this geometry: the block size for pool
    /// blocks (chosen by layout, so a block never changes kind under the fit rule), the engine
    /// block's size for fallback blocks.
    ///
    /// # Safety
    /// `p` is a live block of such a pool, allocated with `layout`'s alignment and fitting it.
    #[inline(always)]
    pub(crate) unsafe fn usable(self, p: *mut u8, layout: Layout) -> usize {
        if self.fits(layout) {
            self.size
        } else {
            // SAFETY: a live fallback block (caller).
            unsafe { super::engine_usable(p) }
        }
    }

    /// Resizes a fallback block in place, if it stays too big for a pool block (a block keeps
    /// its kind whatever the new alignment, which is not known here; pool blocks always move:
    /// a pool block is a fixed size, growing it is rare). Returns the block and its usable
    /// length before and after, or `None` if the caller must move it.
    ///
    /// # Safety
    /// `p` is a live block of such a pool fitting `old`.
    pub(crate) unsafe fn resize_fallback(
        self,
        p: *mut u8,
        old: Layout,
        new_size: usize,
    ) -> Option<(*mut u8, usize, usize)> {
        if self.fits(old) || new_size <= self.size {
            return None;
        }
        // SAFETY: a live fallback block (caller).
        unsafe {
            let old_len = super::engine_usable(p);
            let q = super::engine_resize(p, old, new_size);
            (!q.is_null()).then(|| (q, old_len, super::engine_usable(q)))
        }
    }
}

/// A pool of fixed-size blocks: `Box<Msg, &Pool>` allocation is a free-list pop, a free is a
/// push, the most recently freed block is reused first (it is warm in cache).
///
/// Requests that fit the block (size ≤ block size, align ≤ block align) use the free list; any
/// other layout is served by the engine, so `Vec::new_in(&pool)` can still grow. Blocks come
/// in chunks from the engine (4 KiB, then doubling to 256 KiB) and go back when the pool is
/// dropped, or earlier with [`trim`](Pool::trim) once a chunk's blocks are all free.
/// [`reserve`](Pool::reserve) warms a pool before traffic;
/// [`set_allocation_limit`](Pool::set_allocation_limit) bounds it. `Send`, not `Sync`; for a
/// pool shared between threads see [`SyncPool`](crate::SyncPool).
///
/// ```
/// use allocgator::Pool;
/// use allocgator::allocator_api2::boxed::Box;
///
/// #[derive(Debug, PartialEq)]
/// enum Msg { Ping(u64), Data([u8; 48]) }
///
/// let pool = Pool::for_type::<Msg>();
/// let a = Box::new_in(Msg::Ping(1), &pool);
/// let addr = &*a as *const Msg;
/// drop(a);
/// let b = Box::new_in(Msg::Data([7; 48]), &pool);
/// assert_eq!(&*b as *const Msg, addr); // LIFO: the block just freed
/// ```
pub struct Pool {
    /// The free list's head (LIFO).
    free: Cell<*mut Free>,
    /// Next never-used block of the newest chunk.
    bump: Cell<*mut u8>,
    /// End of the newest chunk's block area.
    bump_end: Cell<*mut u8>,
    /// Chunks taken from the engine, newest first.
    chunks: Cell<*mut Chunk>,
    geometry: Geometry,
    /// Blocks the chunks hold.
    capacity: Cell<usize>,
    /// Engine bytes in chunks.
    chunk_bytes: Cell<usize>,
    /// Chunks taken.
    chunk_count: Cell<usize>,
    /// Fallback requests served so far.
    fallback_total: Cell<usize>,
    /// Live fallback blocks.
    fallback_live: Cell<usize>,
    /// Engine bytes in live fallback blocks.
    fallback_bytes: Cell<usize>,
    /// Cap on `chunk_bytes + fallback_bytes` (`usize::MAX`: none).
    limit: Cell<usize>,
    /// Requests refused because of the cap.
    limit_refusals: Cell<usize>,
    /// Hardened build: the lowest chunk's start and the bytes from there to the highest
    /// chunk's end; a decoded free-list link must point inside (or be null). A length rather
    /// than an end (as a static pool's span keeps, in atomics it widens without a branch):
    /// each pop's check is then one subtraction and one compare.
    #[cfg(feature = "hardened")]
    span_start: Cell<usize>,
    #[cfg(feature = "hardened")]
    span_len: Cell<usize>,
}

// SAFETY: chunks and fallback blocks are engine blocks, which any thread may free; the pool's
// state is plain data owned by the value. `&Pool` is not `Send` (no `Sync`), so allocations and
// frees stay on the holder's thread.
unsafe impl Send for Pool {}

impl Pool {
    /// A pool whose blocks fit `layout` (block size: `layout.size()` rounded up to its
    /// alignment, at least a pointer). No memory is taken until the first allocation.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let pool = allocgator::Pool::new(Layout::from_size_align(24, 8).unwrap());
    /// assert_eq!(pool.block_size(), 24);
    /// ```
    pub const fn new(layout: Layout) -> Pool {
        Pool {
            free: Cell::new(ptr::null_mut()),
            bump: Cell::new(ptr::null_mut()),
            bump_end: Cell::new(ptr::null_mut()),
            chunks: Cell::new(ptr::null_mut()),
            geometry: Geometry::of(layout),
            capacity: Cell::new(0),
            chunk_bytes: Cell::new(0),
            chunk_count: Cell::new(0),
            fallback_total: Cell::new(0),
            fallback_live: Cell::new(0),
            fallback_bytes: Cell::new(0),
            limit: Cell::new(usize::MAX),
            limit_refusals: Cell::new(0),
            #[cfg(feature = "hardened")]
            span_start: Cell::new(0),
            #[cfg(feature = "hardened")]
            span_len: Cell::new(0),
        }
    }

    /// A pool for values of type `T`.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<(u64, u64)>();
    /// let b = Box::new_in((1, 2), &pool);
    /// assert_eq!(*b, (1, 2));
    /// ```
    pub const fn for_type<T>() -> Pool {
        Self::new(Layout::new::<T>())
    }

    /// Size of the pool's blocks.
    ///
    /// ```
    /// assert_eq!(allocgator::Pool::for_type::<u8>().block_size(), 8); // at least a pointer
    /// ```
    pub fn block_size(&self) -> usize {
        self.geometry.size
    }

    /// Alignment of the pool's blocks.
    ///
    /// ```
    /// assert_eq!(allocgator::Pool::for_type::<u128>().block_align(), core::mem::align_of::<u128>());
    /// ```
    pub fn block_align(&self) -> usize {
        self.geometry.align
    }

    /// A snapshot: live blocks (pool and fallback), capacity, chunks, fallback counts.
    ///
    /// The pool keeps no live-block counter (that would cost two memory updates on every
    /// allocation and free): live blocks are the blocks carved from chunks minus the free
    /// list's length, so `stats` walks the free list.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<u64>();
    /// let b = Box::new_in(5u64, &pool);
    /// let s = pool.stats();
    /// assert_eq!((s.live_blocks(), s.fallback_allocs()), (1, 0));
    /// println!("{s}");
    /// # drop(b);
    /// ```
    pub fn stats(&self) -> LocalStats {
        let committed = self.chunk_bytes.get() + self.fallback_bytes.get();
        let mut carved = 0;
        self.map_chunks(|c| carved += c.carved_blocks);
        let live = carved - self.free_blocks(carved);
        LocalStats {
            kind: "Pool",
            peak_live_bytes: carved * self.geometry.size,
            live_blocks: live + self.fallback_live.get(),
            live_bytes: live * self.geometry.size + self.fallback_bytes.get(),
            committed,
            reserved: committed,
            capacity_blocks: self.capacity.get(),
            chunks: self.chunk_count.get(),
            fallback_allocs: self.fallback_total.get(),
            fallback_live: self.fallback_live.get(),
            limit: self.limit.get(),
            limit_refusals: self.limit_refusals.get(),
        }
    }

    /// Caps the engine memory the pool holds (its chunks and live fallback blocks, counted
    /// at the engine's usable size: [`LocalStats::committed_bytes`]) at `limit` bytes, or
    /// lifts the cap (`None`). A request that would take the pool past it fails with
    /// `AllocError`; freed blocks are still reused, and nothing already allocated is
    /// touched. A limit below what is held fails only requests that need more memory.
    ///
    /// Checked where the pool takes a new chunk or a fallback block; the free-list fast
    /// path is unchanged.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<[u8; 256]>();
    /// pool.set_allocation_limit(Some(64 * 1024));
    /// let mut boxes = Vec::new();
    /// while let Ok(b) = Box::try_new_in([0u8; 256], &pool) {
    ///     boxes.push(b);
    /// }
    /// assert!(boxes.len() >= 200);
    /// assert!(pool.stats().committed_bytes() <= 64 * 1024);
    /// boxes.pop(); // a freed block is reused under the limit
    /// assert!(Box::try_new_in([0u8; 256], &pool).is_ok());
    /// ```
    pub fn set_allocation_limit(&self, limit: Option<usize>) {
        self.limit.set(limit.unwrap_or(usize::MAX));
    }

    /// The cap set with [`set_allocation_limit`](Self::set_allocation_limit), or `None`.
    ///
    /// ```
    /// let pool = allocgator::Pool::for_type::<u64>();
    /// pool.set_allocation_limit(Some(4096));
    /// assert_eq!(pool.allocation_limit(), Some(4096));
    /// ```
    pub fn allocation_limit(&self) -> Option<usize> {
        (self.limit.get() != usize::MAX).then_some(self.limit.get())
    }

    /// Makes sure the next `blocks` pool-block allocations need no engine call: free blocks
    /// and never-used room count, and one chunk is taken for the rest. Fails with
    /// `AllocError` (taking nothing) if the engine or the allocation limit refuses, or if
    /// `blocks` blocks cannot exist (`reserve(usize::MAX)`).
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<[u64; 4]>();
    /// pool.reserve(10_000).unwrap();
    /// let chunks = pool.stats().chunks();
    /// let boxes: Vec<_> = (0..10_000).map(|i| Box::new_in([i as u64; 4], &pool)).collect();
    /// assert_eq!(pool.stats().chunks(), chunks); // no chunk taken while serving them
    /// assert!(pool.reserve(usize::MAX).is_err());
    /// # drop(boxes);
    /// ```
    pub fn reserve(&self, blocks: usize) -> Result<(), AllocError> {
        let g = self.geometry;
        let mut carved = 0;
        self.map_chunks(|c| carved += c.carved_blocks);
        let room = if self.bump.get().is_null() {
            0
        } else {
            (self.bump_end.get() as usize - self.bump.get() as usize) / g.size
        };
        let available = self.free_blocks(carved) + room;
        let Some(need) = blocks.checked_sub(available).filter(|&n| n > 0) else {
            return Ok(());
        };
        let first = g.align.max(CHUNK_HEADER);
        // Checked builds keep a free bit per block after the blocks.
        let bits = if cfg!(feature = "checked") {
            need.div_ceil(64).checked_mul(8).ok_or(AllocError)?
        } else {
            0
        };
        let bytes = need
            .checked_mul(g.size)
            .and_then(|b| b.checked_add(first + bits))
            .ok_or(AllocError)?;
        // The never-used room of the current chunk would be lost when a new chunk becomes
        // the carving area: it goes on the free list first.
        let (bump, end) = (self.bump.get(), self.bump_end.get());
        if !self.take_chunk(bytes) {
            return Err(AllocError);
        }
        // From the top down, so the lowest address is handed out first. `end - bump` is a
        // multiple of the block size (both move in whole blocks from the blocks' start).
        let mut p = end;
        while !bump.is_null() && p > bump {
            p = p.wrapping_sub(g.size);
            #[cfg(feature = "checked")]
            if let Some((word, mask)) = self.freed_bit(p) {
                // SAFETY: the bit word of one of our chunks.
                unsafe { *word |= mask };
            }
            // SAFETY: a never-used block of ours, at least a pointer long and aligned.
            unsafe { self.free_block(p) };
        }
        Ok(())
    }

    /// Gives every chunk whose blocks are all free back to the engine, and returns the bytes
    /// given back; live blocks, fallback blocks and chunks holding a live block stay. A walk
    /// of the free list (the pool keeps no per-chunk counts, so that its fast paths stay one
    /// pop and one push): call it after a burst, not per request.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<[u8; 64]>();
    /// let keep = Box::new_in([1u8; 64], &pool);
    /// let burst: Vec<_> = (0..100_000).map(|_| Box::new_in([0u8; 64], &pool)).collect();
    /// let held = pool.stats().committed_bytes();
    /// drop(burst);
    /// let released = pool.trim();
    /// assert!(released > 0);
    /// assert_eq!(pool.stats().committed_bytes(), held - released);
    /// assert_eq!(*keep, [1u8; 64]); // live blocks are untouched
    /// ```
    pub fn trim(&self) -> usize {
        let g = self.geometry;
        let first = g.align.max(CHUNK_HEADER);
        // (start, end of blocks, carved blocks, free blocks seen), sorted by address.
        let mut chunks: Vec<(usize, usize, usize, usize, *mut Chunk)> =
            Vec::with_capacity(self.chunk_count.get());
        let mut carved_total = 0;
        let mut chunk = self.chunks.get();
        let mut newest = true;
        while !chunk.is_null() {
            // SAFETY: our chunk, with the header we wrote.
            let (next, blocks) = unsafe { ((*chunk).next, chunk_blocks(chunk, first, g.size)) };
            let start = chunk as usize + first;
            let carved = if newest && !self.bump.get().is_null() {
                (self.bump.get() as usize - start) / g.size
            } else {
                blocks
            };
            carved_total += carved;
            chunks.push((start, start + carved * g.size, carved, 0, chunk));
            newest = false;
            chunk = next;
        }
        chunks.sort_unstable_by_key(|c| c.0);
        let find = |p: usize, chunks: &[(usize, usize, usize, usize, *mut Chunk)]| {
            let i = chunks.partition_point(|c| c.0 <= p).checked_sub(1)?;
            (p < chunks[i].1).then_some(i)
        };
        let mut block = self.free.get();
        let mut seen = 0;
        while !block.is_null() {
            seen += 1;
            let Some(i) = find(block as usize, &chunks).filter(|_| seen <= carved_total) else {
                return 0; // not a block of ours, or a cycle: a corrupted list is left alone
            };
            chunks[i].3 += 1;
            // SAFETY: a free block of ours; its link was written when it was freed.
            block = unsafe { self.link(block) };
        }
        let empty = |c: &(usize, usize, usize, usize, *mut Chunk)| c.2 == c.3;
        if !chunks.iter().any(empty) {
            return 0;
        }
        // Unlink the free blocks of empty chunks, keeping the order of the rest.
        let mut prev: *mut Free = ptr::null_mut();
        let mut block = self.free.get();
        while !block.is_null() {
            // SAFETY: a free block of ours (every one was found in a chunk above).
            let next = unsafe { self.link(block) };
            let gone = find(block as usize, &chunks).is_some_and(|i| empty(&chunks[i]));
            if gone {
                if prev.is_null() {
                    self.free.set(next);
                } else {
                    // SAFETY: `prev` is a free block we keep.
                    unsafe { set_link(prev, next) };
                }
            } else {
                prev = block;
            }
            block = next;
        }
        // Unlink and give back the empty chunks.
        let mut released = 0;
        let mut link: *mut *mut Chunk = self.chunks.as_ptr();
        newest = true;
        loop {
            // SAFETY: `link` points at the list head or at a kept chunk's `next` field.
            let chunk = unsafe { *link };
            if chunk.is_null() {
                break;
            }
            // SAFETY: our chunk, with the header we wrote.
            let (next, bytes, blocks) = unsafe {
                (
                    (*chunk).next,
                    (*chunk).bytes,
                    chunk_blocks(chunk, first, g.size),
                )
            };
            let start = chunk as usize + first;
            let i = chunks.partition_point(|c| c.0 < start);
            if empty(&chunks[i]) {
                // SAFETY: `link` points at the field (the list head or a chunk's `next`) that holds
                // this chunk, in a chunk of ours or in `self`.
                unsafe { *link = next };
                if newest {
                    self.bump.set(ptr::null_mut());
                    self.bump_end.set(ptr::null_mut());
                }
                self.capacity.set(self.capacity.get() - blocks);
                self.chunk_bytes.set(self.chunk_bytes.get() - bytes);
                self.chunk_count.set(self.chunk_count.get() - 1);
                released += bytes;
                // SAFETY: our chunk, unlinked; none of its blocks is live or on the free
                // list. The layout's size is the engine size we recorded.
                unsafe {
                    engine_free(
                        chunk.cast(),
                        Layout::from_size_align_unchecked(bytes, first),
                    )
                };
            } else {
                // SAFETY: a kept chunk's `next` field.
                link = unsafe { ptr::addr_of_mut!((*chunk).next) };
            }
            newest = false;
        }
        released
    }

    /// A map of the pool's chunks, newest first: address, engine size, blocks carved and held.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// let pool = allocgator::Pool::for_type::<[u8; 64]>();
    /// let boxes: Vec<_> = (0..100).map(|_| Box::new_in([0u8; 64], &pool)).collect();
    /// let map = pool.map();
    /// assert_eq!(map.chunks().iter().map(|c| c.carved_blocks).sum::<usize>(), 100);
    /// println!("{map}");
    /// # drop(boxes);
    /// ```
    pub fn map(&self) -> LocalMap {
        let mut chunks = Vec::with_capacity(self.chunk_count.get());
        self.map_chunks(|c| chunks.push(c));
        LocalMap {
            kind: "Pool",
            chunks,
        }
    }

    /// The free list's length. A free list longer than the `carved` blocks means a link was
    /// overwritten after its block was freed (a cycle, say): the count stops there rather
    /// than loop.
    fn free_blocks(&self, carved: usize) -> usize {
        let mut count = 0;
        let mut block = self.free.get();
        while !block.is_null() && count < carved {
            count += 1;
            // SAFETY: a free block of ours; its link was written when it was freed.
            block = unsafe { self.link(block) };
        }
        count
    }

    /// Calls `f` for each chunk, newest first.
    fn map_chunks(&self, mut f: impl FnMut(ChunkInfo)) {
        let g = self.geometry;
        let first = g.align.max(CHUNK_HEADER);
        let mut chunk = self.chunks.get();
        let mut newest = true;
        while !chunk.is_null() {
            // SAFETY: our chunk, with the header we wrote.
            let Chunk { next, bytes, .. } = unsafe { chunk.read() };
            // SAFETY: our chunk, with the header we wrote (its block area starts `first` bytes in).
            let blocks = unsafe { chunk_blocks(chunk, first, g.size) };
            let carved = if newest && !self.bump.get().is_null() {
                (self.bump.get() as usize - (chunk as usize + first)) / g.size
            } else {
                blocks // fully carved (or the carving chunk was given back by `trim`)
            };
            f(ChunkInfo {
                addr: chunk as usize,
                bytes,
                used_bytes: Some(carved * g.size),
                capacity_blocks: blocks,
                carved_blocks: carved,
            });
            newest = false;
            chunk = next;
        }
    }

    /// The link of free block `block`, written by [`set_link`]. The hardened build decodes it
    /// and aborts, naming `block`, unless it is null or an 8-aligned address inside the span
    /// of the pool's chunks: an overwritten link decodes to an address of no one's choosing.
    ///
    /// # Safety
    /// `block` is a free block of this pool.
    #[inline(always)]
    unsafe fn link(&self, block: *mut Free) -> *mut Free {
        // SAFETY: a free block of ours, its link written by `set_link` (caller).
        let next = unsafe { free_link::load(block.cast()) };
        #[cfg(feature = "hardened")]
        {
            if next.is_null() {
                return ptr::null_mut();
            }
            let at = next.addr();
            // `at - start`, wrapping: one compare for both ends of the span.
            if at & 7 != 0 || at.wrapping_sub(self.span_start.get()) >= self.span_len.get() {
                link_overwritten(block);
            }
            // The next block's own provenance (under Miri, its chunk's mapping).
            crate::engine::with_engine_provenance(next).cast()
        }
        #[cfg(not(feature = "hardened"))]
        next.cast()
    }

    /// Hardened build: takes the chunk at `base` (`len` bytes) into the span links may point
    /// into.
    #[cfg(feature = "hardened")]
    fn widen_span(&self, base: usize, len: usize) {
        let (start, old_len) = (self.span_start.get(), self.span_len.get());
        let (lo, hi) = if old_len == 0 {
            (base, base + len)
        } else {
            (start.min(base), (start + old_len).max(base + len))
        };
        self.span_start.set(lo);
        self.span_len.set(hi - lo);
    }

    /// Pops a block (the fast path), or takes the slow path.
    #[inline(always)]
    fn alloc_block(&self) -> *mut u8 {
        let head = self.free.get();
        if !head.is_null() {
            #[cfg(feature = "checked")]
            self.check_popped(head.cast());
            // SAFETY: `head` is a free block of ours; its link was written when it was freed.
            self.free.set(unsafe { self.link(head) });
            // SAFETY: the block we are handing out, at least a pointer long and aligned.
            unsafe { free_link::clear(head.cast()) };
            return head.cast();
        }
        self.alloc_block_slow()
    }

    /// Carves a never-used block, taking a new chunk if needed.
    #[cold]
    #[inline(never)]
    fn alloc_block_slow(&self) -> *mut u8 {
        let size = self.geometry.size;
        let mut p = self.bump.get();
        if (self.bump_end.get() as usize).wrapping_sub(p as usize) < size || p.is_null() {
            if !self.new_chunk() {
                return ptr::null_mut();
            }
            p = self.bump.get();
        }
        self.bump.set(p.wrapping_add(size));
        p
    }

    /// Bytes the allocation limit leaves (`usize::MAX` without a limit).
    fn limit_room(&self) -> usize {
        let held = self.chunk_bytes.get() + self.fallback_bytes.get();
        match self.limit.get() {
            usize::MAX => usize::MAX,
            limit => limit.saturating_sub(held),
        }
    }

    /// Counts a request refused by the allocation limit.
    #[cold]
    fn refuse(&self) -> bool {
        self.limit_refusals.set(self.limit_refusals.get() + 1);
        false
    }

    /// Takes a chunk from the engine and makes it the carving area; false if the engine or
    /// the allocation limit refuses. Under a limit, a chunk that would pass it shrinks to one
    /// block.
    fn new_chunk(&self) -> bool {
        let g = self.geometry;
        let first = g.align.max(CHUNK_HEADER);
        let target = (CHUNK_FIRST << self.chunk_count.get().min(16)).min(CHUNK_MAX);
        let least = first.saturating_add(g.size);
        let bytes = target.max(least);
        if fits_limit(bytes, first, self.limit_room()) {
            self.take_chunk(bytes)
        } else {
            self.take_chunk(least)
        }
    }

    /// Takes a chunk of at least `bytes` bytes and makes it the carving area; false if the
    /// engine or the allocation limit refuses.
    fn take_chunk(&self, bytes: usize) -> bool {
        let g = self.geometry;
        let first = g.align.max(CHUNK_HEADER);
        let room = self.limit_room();
        if !fits_limit(bytes, first, room) {
            return self.refuse();
        }
        let Ok(layout) = Layout::from_size_align(bytes, first) else {
            return false;
        };
        let (base, len) = engine_alloc_usable(layout);
        if base.is_null() {
            return false;
        }
        if len > room {
            // A huge block whose usable size was not known before asking.
            // SAFETY: our fresh, unused engine block.
            unsafe { engine_free(base, layout) };
            return self.refuse();
        }
        #[cfg(not(feature = "checked"))]
        let blocks = (len - first) / g.size;
        // Checked: the free bits go at the end; each block costs `size` bytes and one bit.
        #[cfg(feature = "checked")]
        let blocks = {
            let area = len - first;
            let mut blocks = (area / g.size).min(area * 8 / (8 * g.size + 1));
            while blocks > 0 && blocks * g.size + blocks.div_ceil(64) * 8 > area {
                blocks -= 1;
            }
            blocks
        };
        #[cfg(feature = "checked")]
        if blocks == 0 {
            // No room for a block and its bit word (a block as large as the chunk, which the
            // engine did not round up): ask for a word more.
            // SAFETY: our fresh, unused engine block.
            unsafe { engine_free(base, layout) };
            let Ok(layout) = Layout::from_size_align(bytes + 8, layout.align()) else {
                return false;
            };
            let (base, len) = engine_alloc_usable(layout);
            if base.is_null() {
                return false;
            }
            if len > room {
                // SAFETY: our fresh, unused engine block.
                unsafe { engine_free(base, layout) };
                return self.refuse();
            }
            return self.install_chunk(base, len, 1);
        }
        self.install_chunk(base, len, blocks)
    }

    /// Makes the fresh engine block `base` (`len` bytes) a chunk of `blocks` blocks and the
    /// carving area.
    fn install_chunk(&self, base: *mut u8, len: usize, blocks: usize) -> bool {
        let g = self.geometry;
        let first = g.align.max(CHUNK_HEADER);
        let chunk = base.cast::<Chunk>();
        // `base` is a fresh engine block of `len` bytes, aligned for `Chunk`, with room for the
        // header and `blocks` blocks (and, checked builds, their bit words after the blocks,
        // 8-aligned: `first` and the block size are multiples of 8).
        #[cfg(feature = "checked")]
        // SAFETY: the bit words lie after the header and the blocks, inside the fresh block.
        let freed = unsafe { base.add(first + blocks * g.size).cast::<u64>() };
        #[cfg(feature = "checked")]
        // SAFETY: `blocks.div_ceil(64)` words, 8-aligned, inside the fresh block (above).
        unsafe {
            ptr::write_bytes(freed, 0, blocks.div_ceil(64))
        };
        // SAFETY: the header's room at the start of the fresh block, aligned for `Chunk`.
        unsafe {
            chunk.write(Chunk {
                next: self.chunks.get(),
                bytes: len,
                #[cfg(feature = "checked")]
                blocks,
                #[cfg(feature = "checked")]
                freed,
            })
        };
        self.chunks.set(chunk);
        #[cfg(feature = "hardened")]
        self.widen_span(base.addr(), len);
        self.bump.set(base.wrapping_add(first));
        self.bump_end
            .set(base.wrapping_add(first + blocks * g.size));
        self.capacity.set(self.capacity.get() + blocks);
        self.chunk_bytes.set(self.chunk_bytes.get() + len);
        self.chunk_count.set(self.chunk_count.get() + 1);
        true
    }

    /// Pushes a block back (LIFO).
    ///
    /// # Safety
    /// `p` is a live pool block of this pool.
    #[inline(always)]
    unsafe fn free_block(&self, p: *mut u8) {
        let block = crate::engine::with_engine_provenance(p).cast::<Free>();
        // Every build: the block freed last, freed again, would become its own successor and
        // be handed out twice. One compare with a value already in hand. (Feature `checked`
        // catches every double free, with the free bits.)
        if block == self.free.get() {
            crate::engine::checked::report(
                "double free of a Pool block (deallocated twice in a row)",
                p as usize,
            );
        }
        // SAFETY: the block is ours again and at least a pointer long and aligned.
        unsafe { set_link(block, self.free.get()) };
        self.free.set(block);
    }

    /// The free fast path: pushes a pool block after one test for both rare cases, fallback
    /// blocks being live (`ptr` may be one) and `ptr` being the head (a double free); both go
    /// to one cold function: three loads, one branch, two stores.
    ///
    /// # Safety
    /// `ptr` is a live block of this pool (pool or fallback block).
    #[cfg(not(feature = "checked"))]
    #[inline(always)]
    unsafe fn free_fast(&self, ptr: *mut u8) {
        let block = crate::engine::with_engine_provenance(ptr).cast::<Free>();
        let head = self.free.get();
        // `|`, not `||`: one branch.
        if (self.fallback_live.get() != 0) | (block == head) {
            // SAFETY: a live block of ours (caller).
            return unsafe { self.free_slow(ptr) };
        }
        // SAFETY: no fallback block is live, so `ptr` is a pool block (caller), ours again, at
        // least a pointer long and aligned.
        unsafe { set_link(block, head) };
        self.free.set(block);
    }

    /// Gives back a block that may be a pool block or a fallback block, telling them apart by
    /// address: a fallback block starts an engine block, a pool block never does (it sits
    /// after its chunk's header). With no fallback block live, the block is a pool block, and
    /// `free_block` reports the double free that sent it here.
    ///
    /// # Safety
    /// `ptr` is a live block of this pool (pool or fallback block).
    #[cfg(not(feature = "checked"))]
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(&self, ptr: *mut u8) {
        if self.fallback_live.get() == 0 {
            // SAFETY: a live block of ours, and not a fallback block (none is live) (caller).
            return unsafe { self.free_block(ptr) };
        }
        // SAFETY: `ptr` lies in a live engine block (a fallback block, or a chunk) (caller).
        if unsafe { crate::engine::heap::Heap::is_block_start(ptr) } {
            // SAFETY: a live fallback block (caller).
            unsafe { self.fallback_free(ptr) }
        } else {
            // SAFETY: a live pool block (caller).
            unsafe { self.free_block(ptr) }
        }
    }

    /// Feature `checked`: gives back a block, telling its kind from `layout` and checking
    /// the claim against the chunks and the free bits.
    ///
    /// # Safety
    /// `ptr` is a live block of this pool fitting `layout`.
    #[cfg(feature = "checked")]
    unsafe fn free_checked(&self, ptr: *mut u8, layout: Layout) {
        // A block's kind follows from its layout: pool blocks are returned with length
        // `geometry.size`, so every size the fit rule allows back still fits; a fallback block
        // was requested with a size or align that does not fit, and the fit rule keeps it so.
        if self.geometry.fits(layout) {
            self.check_freed(ptr);
            // SAFETY: a live pool block (caller).
            unsafe { self.free_block(ptr) }
        } else {
            if self.in_chunks(ptr) {
                crate::engine::checked::report(
                    "deallocate to a Pool with the wrong size or alignment (a pool block given \
                     back with a layout that does not fit the pool's blocks)",
                    ptr as usize,
                );
            }
            // SAFETY: a live fallback block (caller).
            unsafe { self.fallback_free(ptr) }
        }
    }

    #[cold]
    fn fallback_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let room = self.limit_room();
        if !fits_limit(layout.size(), layout.align(), room) {
            self.refuse();
            return ptr::null_mut();
        }
        let p = engine_alloc(layout, zeroed);
        // SAFETY: a live engine block.
        if room != usize::MAX && !p.is_null() && unsafe { engine_usable(p) } > room {
            // A huge block whose usable size was not known before asking.
            // SAFETY: our fresh, unused engine block.
            unsafe { engine_free_block(p) };
            self.refuse();
            return ptr::null_mut();
        }
        if !p.is_null() {
            self.fallback_total.set(self.fallback_total.get() + 1);
            self.fallback_live.set(self.fallback_live.get() + 1);
            // SAFETY: a live engine block.
            let len = unsafe { engine_usable(p) };
            self.fallback_bytes.set(self.fallback_bytes.get() + len);
        }
        p
    }

    /// # Safety
    /// `p` is a live fallback block.
    #[cold]
    unsafe fn fallback_free(&self, p: *mut u8) {
        // SAFETY: a live engine block (caller).
        let len = unsafe { engine_usable(p) };
        self.fallback_bytes
            .set(self.fallback_bytes.get().wrapping_sub(len));
        self.fallback_live
            .set(self.fallback_live.get().wrapping_sub(1));
        // SAFETY: a live engine block (caller), given back once.
        unsafe { engine_free_block(p) };
    }
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("block_size", &self.geometry.size)
            .field("block_align", &self.geometry.align)
            .field("chunks", &self.chunk_count.get())
            .finish()
    }
}

#[cfg(feature = "checked")]
impl Pool {
    /// The free-bit word and mask of pool block `p`, or `None` if `p` is not the start of a
    /// block of one of our chunks.
    #[cfg(feature = "checked")]
    fn freed_bit(&self, p: *mut u8) -> Option<(*mut u64, u64)> {
        let first = self.geometry.align.max(CHUNK_HEADER);
        let mut chunk = self.chunks.get();
        while !chunk.is_null() {
            // SAFETY: our chunk, with the header we wrote.
            let Chunk {
                next,
                blocks,
                freed,
                ..
            } = unsafe { chunk.read() };
            let off = (p as usize).wrapping_sub(chunk as usize + first);
            if off < blocks * self.geometry.size {
                if off % self.geometry.size != 0 {
                    return None;
                }
                let i = off / self.geometry.size;
                return Some((freed.wrapping_add(i / 64), 1 << (i % 64)));
            }
            chunk = next;
        }
        None
    }

    /// Feature `checked`: marks a block freed, or reports a double or foreign free.
    #[cfg(feature = "checked")]
    fn check_freed(&self, p: *mut u8) {
        match self.freed_bit(p) {
            None => crate::engine::checked::report(
                "deallocate to a Pool of a block it did not hand out (another allocator's \
                 block, or a layout other than the one it was allocated with)",
                p as usize,
            ),
            // SAFETY: the bit word of one of our chunks.
            Some((word, mask)) => unsafe {
                if *word & mask != 0 {
                    crate::engine::checked::report("double free of a Pool block", p as usize);
                }
                *word |= mask;
            },
        }
    }

    /// Feature `checked`: the free-list head about to be handed out must be a free block of
    /// ours; anything else means its predecessor's link was overwritten after it was freed.
    #[cfg(feature = "checked")]
    fn check_popped(&self, p: *mut u8) {
        match self.freed_bit(p) {
            // SAFETY: the bit word of one of our chunks.
            Some((word, mask)) if unsafe { *word } & mask != 0 => unsafe { *word &= !mask },
            _ => crate::engine::checked::report(
                "Pool free list corrupted: its next block is not a free block of the pool (a \
                 block written after it was freed?)",
                p as usize,
            ),
        }
    }

    /// Whether `p` lies in one of the pool's chunks (feature `checked`: a walk of the chunk
    /// list, which doubles in size, so it is short).
    fn in_chunks(&self, p: *mut u8) -> bool {
        let mut chunk = self.chunks.get();
        while !chunk.is_null() {
            // SAFETY: our chunk, with the header we wrote.
            let Chunk { next, bytes, .. } = unsafe { chunk.read() };
            if (p as usize).wrapping_sub(chunk as usize) < bytes {
                return true;
            }
            chunk = next;
        }
        false
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let align = self.geometry.align.max(CHUNK_HEADER);
        let mut chunk = self.chunks.replace(ptr::null_mut());
        while !chunk.is_null() {
            // SAFETY: our chunk, with the header we wrote; no pool block is used any more
            // (they borrowed the pool). The layout's size is the engine size we recorded,
            // which fits the block (Allocator fit rule: any size up to the usable length).
            unsafe {
                let Chunk { next, bytes, .. } = chunk.read();
                engine_free(
                    chunk.cast(),
                    Layout::from_size_align_unchecked(bytes, align),
                );
                chunk = next;
            }
        }
    }
}

impl RawAllocator for &Pool {
    #[inline(always)]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        if self.geometry.fits(layout) {
            let p = self.alloc_block();
            if zeroed && !p.is_null() {
                // SAFETY: a block of `geometry.size` bytes we just took.
                unsafe { ptr::write_bytes(p, 0, self.geometry.size) };
            }
            p
        } else {
            self.fallback_alloc(layout, zeroed)
        }
    }

    #[inline(always)]
    unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout) {
        // The fast path does not look at `layout`. Boxes of several types, each in its own
        // pool, are freed by one `match` on the enum that holds them; code that differs per
        // type (a compare with the type's size) would make that `match` a branch on the type,
        // mispredicted when the types arrive in random order, which cost the protocol example
        // 10 ns per message. With no fallback block live, every block is a pool block.
        #[cfg(not(feature = "checked"))]
        {
            let _ = layout;
            // SAFETY: a live block of ours (caller).
            unsafe { self.free_fast(ptr) }
        }
        #[cfg(feature = "checked")]
        // SAFETY: a live block of ours fitting `layout` (caller).
        unsafe {
            self.free_checked(ptr, layout)
        }
    }

    #[inline(always)]
    unsafe fn raw_usable(&self, ptr: *mut u8, layout: Layout) -> usize {
        // SAFETY: `ptr` is a live block of this pool fitting `layout` (the Allocator contract).
        unsafe { self.geometry.usable(ptr, layout) }
    }

    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        if self.limit.get() != usize::MAX && new_size > old.size() {
            // Under a limit a growing fallback block moves instead: the new block is checked against
            // the limit exactly, before it is taken.
            return ptr::null_mut();
        }
        // SAFETY: `ptr` is a live block of this pool fitting `old` (the Allocator contract).
        match unsafe { self.geometry.resize_fallback(ptr, old, new_size) } {
            Some((q, old_len, new_len)) => {
                // Keep the byte count exact: the block's engine size may have changed.
                self.fallback_bytes
                    .set(self.fallback_bytes.get().wrapping_sub(old_len) + new_len);
                q
            }
            None => ptr::null_mut(),
        }
    }
}

api::impl_allocator!(&Pool);
