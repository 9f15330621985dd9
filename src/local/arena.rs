//! [`Arena`]: bump allocation in chunks of engine memory.

use super::{
    engine_alloc_usable, engine_free, engine_realloc, engine_usable, ChunkInfo, LocalMap,
    LocalStats,
};
use crate::api::{self, RawAllocator};
use crate::engine::ALIGN_MAX;
use core::alloc::Layout;
use core::mem;
use core::ptr::{self, NonNull};
use std::cell::Cell;

/// Room for a chunk's header at its start; allocations start after it.
const HEADER: usize = 16;
/// Alignment chunks are requested with.
const CHUNK_ALIGN: usize = 16;
/// Size of the first chunk an empty arena takes.
const FIRST_CHUNK: usize = 4096;
/// Every allocation starts and ends on a multiple of this (the bump pointer stays aligned to
/// it), so requests aligned to at most 8 — nearly all — need no padding arithmetic on the
/// fast path: one add and one compare. A request's size is rounded up to it.
const GRAIN: usize = 8;
/// Chunks double until this size; beyond it a chunk is as large as the request needs.
const DOUBLING_MAX: usize = 64 << 20;

/// Header at the start of every chunk.
#[repr(C)]
struct Chunk {
    /// The chunk taken before this one.
    prev: *mut Chunk,
    /// The chunk's engine size (usable bytes of its engine block).
    bytes: usize,
}

static_assertions::const_assert!(mem::size_of::<Chunk>() <= HEADER);

/// A bump arena: allocation moves a pointer forward (one add, one compare; sizes round up to
/// 8 bytes), nothing is freed
/// until [`reset`](Arena::reset) or drop, which free everything at once.
///
/// Memory comes in chunks from the engine (blocks of the calling thread's heap: the first is
/// 4 KiB, each next one twice the last) and goes back to it on drop; `reset` keeps the largest
/// chunk. The most recent allocation grows and shrinks in place, so `Vec::new_in(&arena)`
/// growth copies nothing while the chunk has room; a block alone in its chunk that outgrows it
/// takes the chunk along (the engine's `realloc`), so a `Vec` growing from an empty arena does
/// not leave a chunk behind at every doubling. Values put in the arena with
/// [`alloc`](Arena::alloc) are never dropped.
///
/// `&Arena` is an [`Allocator`](crate::allocator_api2::alloc::Allocator); `Arena` is `Send`,
/// not `Sync`.
///
/// ```
/// use allocgator::Arena;
/// use allocgator::allocator_api2::vec::Vec;
///
/// let mut arena = Arena::new();
/// let x = arena.alloc(42u64);
/// *x += 1;
/// let name = arena.alloc_str("allocgator");
/// let mut v = Vec::new_in(&arena);
/// v.extend(0..100u32);
/// assert_eq!((*x, &*name, v.len()), (43, "allocgator", 100));
/// drop(v);
/// arena.reset(); // everything above is gone; the memory is reused
/// ```
pub struct Arena {
    /// Next free byte of the current chunk.
    ptr: Cell<*mut u8>,
    /// End of the current chunk. `ptr <= end` always; both null before the first chunk.
    end: Cell<*mut u8>,
    /// The current (newest) chunk; older ones hang off its `prev`.
    chunk: Cell<*mut Chunk>,
    /// Engine bytes in all chunks.
    allocated: Cell<usize>,
    /// Chunks held.
    chunk_count: Cell<usize>,
    /// `Allocator` blocks handed out since the last reset, minus deallocations. Values placed
    /// with `alloc` and friends are not counted: they can never be freed one by one, and a
    /// counter on that path costs as much as the bump itself.
    live: Cell<usize>,
    /// Bytes used in chunks older than the current one (since the last reset).
    retired_used: Cell<usize>,
    /// The most bytes used between two resets, as of the last reset.
    peak_used: Cell<usize>,
}

// SAFETY: chunks are engine blocks, which any thread may free; the arena's state is plain data
// owned by the value. `&Arena` is not `Send` (no `Sync`), so it is used from one thread at a
// time; references handed out by `alloc` borrow the arena, so it cannot move while they live.
unsafe impl Send for Arena {}

impl Arena {
    /// An empty arena; it takes no memory until the first allocation.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// assert_eq!(arena.allocated_bytes(), 0);
    /// ```
    pub const fn new() -> Arena {
        Arena {
            ptr: Cell::new(ptr::null_mut()),
            end: Cell::new(ptr::null_mut()),
            chunk: Cell::new(ptr::null_mut()),
            allocated: Cell::new(0),
            chunk_count: Cell::new(0),
            live: Cell::new(0),
            retired_used: Cell::new(0),
            peak_used: Cell::new(0),
        }
    }

    /// An arena whose first chunk holds at least `bytes` bytes of allocations.
    ///
    /// Aborts through [`handle_alloc_error`](std::alloc::handle_alloc_error) if the engine
    /// refuses the memory.
    ///
    /// ```
    /// let arena = allocgator::Arena::with_capacity(1 << 20);
    /// assert!(arena.allocated_bytes() >= 1 << 20);
    /// let before = arena.allocated_bytes();
    /// for i in 0..100_000u64 {
    ///     arena.alloc(i);
    /// }
    /// assert_eq!(arena.allocated_bytes(), before); // no new chunk was needed
    /// ```
    pub fn with_capacity(bytes: usize) -> Arena {
        let arena = Arena::new();
        if bytes != 0 && !arena.new_chunk(bytes, 1) {
            std::alloc::handle_alloc_error(
                Layout::from_size_align(bytes, 1).unwrap_or(Layout::new::<u8>()),
            );
        }
        arena
    }

    /// Engine bytes held in chunks (what the arena has taken, used or not).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.alloc(1u8);
    /// assert!(arena.allocated_bytes() >= 1);
    /// ```
    pub fn allocated_bytes(&self) -> usize {
        self.allocated.get()
    }

    /// Frees every allocation at once. The largest chunk is kept (and reused from its start);
    /// the others go back to the engine.
    ///
    /// ```
    /// let mut arena = allocgator::Arena::new();
    /// for round in 0..10 {
    ///     for i in 0..10_000u64 {
    ///         arena.alloc(i);
    ///     }
    ///     arena.reset();
    ///     if round > 0 {
    ///         assert_eq!(arena.stats().chunks(), 1);
    ///     }
    /// }
    /// ```
    pub fn reset(&mut self) {
        let used = self.used_bytes();
        if used > self.peak_used.get() {
            self.peak_used.set(used);
        }
        let mut largest: *mut Chunk = ptr::null_mut();
        let mut largest_bytes = 0;
        let mut chunk = self.chunk.get();
        // SAFETY: our chunks, with the headers we wrote; `&mut self`: nothing allocated in
        // them is borrowed any more.
        unsafe {
            while !chunk.is_null() {
                let Chunk { prev, bytes } = chunk.read();
                if bytes > largest_bytes {
                    if !largest.is_null() {
                        free_chunk(largest);
                    }
                    largest = chunk;
                    largest_bytes = bytes;
                } else {
                    free_chunk(chunk);
                }
                chunk = prev;
            }
        }
        self.live.set(0);
        self.retired_used.set(0);
        if largest.is_null() {
            return;
        }
        // SAFETY: the kept chunk is ours; it becomes the only one.
        unsafe { (*largest).prev = ptr::null_mut() };
        self.chunk.set(largest);
        let base = largest.cast::<u8>();
        self.ptr.set(base.wrapping_add(HEADER));
        self.end
            .set(base.wrapping_add(largest_bytes & !(GRAIN - 1)));
        self.allocated.set(largest_bytes);
        self.chunk_count.set(1);
    }

    /// Moves `value` into the arena and returns a mutable reference to it. The value is never
    /// dropped (its memory goes with the arena's).
    ///
    /// Aborts through [`handle_alloc_error`](std::alloc::handle_alloc_error) if the engine
    /// refuses memory; [`try_alloc`](Self::try_alloc) returns the value back instead.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let a = arena.alloc([1u32, 2, 3]);
    /// let b = arena.alloc(String::from("not dropped"));
    /// a[0] = 10;
    /// assert_eq!((a[0], b.as_str()), (10, "not dropped"));
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc<T>(&self, value: T) -> &mut T {
        // Not `try_alloc`: keeping `value` alive for its error path made the compiler build
        // it before the bump and store it piecewise (a 32-byte array took five stores).
        self.alloc_with(|| value)
    }

    /// Places the value `make()` returns in the arena, built after the room is found (so a
    /// large value can be written straight into place), and returns a mutable reference to it.
    /// The value is never dropped.
    ///
    /// Aborts through [`handle_alloc_error`](std::alloc::handle_alloc_error) if the engine
    /// refuses memory.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let table = arena.alloc_with(|| [0u32; 1024]);
    /// table[7] = 7;
    /// assert_eq!(table.iter().sum::<u32>(), 7);
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_with<T>(&self, make: impl FnOnce() -> T) -> &mut T {
        let layout = Layout::new::<T>();
        let Some(p) = self.alloc_layout_raw(layout) else {
            std::alloc::handle_alloc_error(layout)
        };
        let p = p.cast::<T>();
        // SAFETY: a fresh, exclusive, suitably sized and aligned block (or a dangling aligned
        // pointer for a zero-size `T`) that lives as long as the arena borrow. If `make`
        // panics, the room is simply unused until reset.
        unsafe {
            p.as_ptr().write(make());
            &mut *p.as_ptr()
        }
    }

    /// Moves `value` into the arena, or gives it back if the engine refuses memory.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let x = arena.try_alloc(5i32).unwrap();
    /// assert_eq!(*x, 5);
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc<T>(&self, value: T) -> Result<&mut T, T> {
        let p = match self.alloc_layout_raw(Layout::new::<T>()) {
            Some(p) => p.cast::<T>(),
            None => return Err(value),
        };
        // SAFETY: a fresh, exclusive, suitably sized and aligned block (or a dangling aligned
        // pointer for a zero-size `T`) that lives as long as the arena borrow.
        unsafe {
            p.as_ptr().write(value);
            Ok(&mut *p.as_ptr())
        }
    }

    /// Allocates a block for `layout` (a dangling aligned pointer for size 0); `None` if the
    /// engine refuses memory or the layout is impossible.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let arena = allocgator::Arena::new();
    /// let p = arena.try_alloc_layout(Layout::from_size_align(100, 64).unwrap()).unwrap();
    /// assert_eq!(p.as_ptr() as usize % 64, 0);
    /// ```
    #[inline(always)]
    pub fn try_alloc_layout(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.alloc_layout_raw(layout)
    }

    /// Copies a slice into the arena.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let s = arena.alloc_slice_copy(&[1, 2, 3]);
    /// s[0] = 9;
    /// assert_eq!(s, &[9, 2, 3]);
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &mut [T] {
        let p = self.alloc_array::<T>(src.len());
        // SAFETY: a fresh block for `src.len()` values of `T`, distinct from `src`.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), src.len());
            core::slice::from_raw_parts_mut(p.as_ptr(), src.len())
        }
    }

    /// Clones a slice into the arena (the clones are never dropped).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let s = arena.alloc_slice_clone(&[String::from("a"), String::from("b")]);
    /// assert_eq!(s[1], "b");
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_clone<T: Clone>(&self, src: &[T]) -> &mut [T] {
        self.alloc_slice_fill_with(src.len(), |i| src[i].clone())
    }

    /// Allocates a slice of `len` values made by `f(index)`.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let squares = arena.alloc_slice_fill_with(5, |i| i * i);
    /// assert_eq!(squares, &[0, 1, 4, 9, 16]);
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_fill_with<T>(&self, len: usize, mut f: impl FnMut(usize) -> T) -> &mut [T] {
        let p = self.alloc_array::<T>(len);
        for i in 0..len {
            // SAFETY: `i < len`, inside the fresh block. If `f` panics, the values written so
            // far are leaked in the arena (never dropped), which is allowed.
            unsafe { p.as_ptr().add(i).write(f(i)) };
        }
        // SAFETY: all `len` values are initialised.
        unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) }
    }

    /// Copies a string into the arena.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let s = arena.alloc_str("hello");
    /// s.make_ascii_uppercase();
    /// assert_eq!(s, "HELLO");
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_str(&self, src: &str) -> &mut str {
        let bytes = self.alloc_slice_copy(src.as_bytes());
        // SAFETY: a copy of valid UTF-8.
        unsafe { core::str::from_utf8_unchecked_mut(bytes) }
    }

    /// A snapshot: `Allocator` blocks live since the last reset, bytes used (values placed
    /// with [`alloc`](Self::alloc) and its siblings included), chunk memory.
    ///
    /// ```
    /// use allocgator::allocator_api2::vec::Vec;
    ///
    /// let arena = allocgator::Arena::new();
    /// arena.alloc_slice_copy(&[0u8; 1000]);
    /// let v: Vec<u8, _> = Vec::with_capacity_in(24, &arena);
    /// let s = arena.stats();
    /// assert_eq!((s.live_blocks(), s.live_bytes()), (1, 1024));
    /// println!("{s}");
    /// ```
    pub fn stats(&self) -> LocalStats {
        let used = self.used_bytes();
        LocalStats {
            kind: "Arena",
            live_blocks: self.live.get(),
            live_bytes: used,
            peak_live_bytes: used.max(self.peak_used.get()),
            committed: self.allocated.get(),
            reserved: self.allocated.get(),
            capacity_blocks: 0,
            chunks: self.chunk_count.get(),
            fallback_allocs: 0,
            fallback_live: 0,
        }
    }

    /// Bytes bumped in the current chunk.
    fn current_used(&self) -> usize {
        if self.chunk.get().is_null() {
            0
        } else {
            (self.ptr.get() as usize) - (self.chunk.get() as usize + HEADER)
        }
    }

    /// Bytes used since the last reset.
    fn used_bytes(&self) -> usize {
        self.retired_used.get() + self.current_used()
    }

    /// A map of the arena's chunks, newest first: address, engine size, bytes used in the
    /// current one.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// for i in 0..2000u64 {
    ///     arena.alloc(i);
    /// }
    /// let map = arena.map();
    /// assert!(map.chunks().len() >= 2);
    /// assert_eq!(map.chunks()[1].used_bytes, None); // an older chunk
    /// println!("{map}");
    /// ```
    pub fn map(&self) -> LocalMap {
        let mut chunks = Vec::with_capacity(self.chunk_count.get());
        let mut chunk = self.chunk.get();
        while !chunk.is_null() {
            // SAFETY: our chunks, with the headers we wrote.
            let Chunk { prev, bytes } = unsafe { chunk.read() };
            chunks.push(ChunkInfo {
                addr: chunk as usize,
                bytes,
                used_bytes: chunks.is_empty().then(|| self.current_used()),
                capacity_blocks: 0,
                carved_blocks: 0,
            });
            chunk = prev;
        }
        LocalMap {
            kind: "Arena",
            chunks,
        }
    }

    /// A block for `len` values of `T`; aborts on failure (like `Vec::with_capacity`).
    fn alloc_array<T>(&self, len: usize) -> NonNull<T> {
        let Ok(layout) = Layout::array::<T>(len) else {
            capacity_overflow()
        };
        match self.alloc_layout_raw(layout) {
            Some(p) => p.cast(),
            None => std::alloc::handle_alloc_error(layout),
        }
    }

    /// The allocation fast path: one bump and one branch (no counting).
    #[inline(always)]
    fn alloc_layout_raw(&self, layout: Layout) -> Option<NonNull<u8>> {
        if layout.size() == 0 {
            // A dangling, aligned address (no provenance needed for zero-size accesses).
            // SAFETY: an alignment is never zero.
            return Some(unsafe {
                NonNull::new_unchecked(ptr::without_provenance_mut(layout.align()))
            });
        }
        self.bump(layout)
    }

    /// Bumps for a layout of non-zero size; `None` on failure.
    #[inline(always)]
    fn bump(&self, layout: Layout) -> Option<NonNull<u8>> {
        let ptr = self.ptr.get();
        // No overflow: a Layout's size is at most `isize::MAX - (align - 1)`.
        let size = grain_up(layout.size());
        // `end - ptr` cannot wrap: `ptr <= end`. Both are null before the first chunk, so a
        // request that fits here has a non-null `ptr`.
        let room = (self.end.get() as usize) - (ptr as usize);
        if layout.align() <= GRAIN {
            // `ptr` is GRAIN-aligned already.
            if size <= room {
                self.ptr.set(ptr.wrapping_add(size));
                // SAFETY: non-null (above).
                return Some(unsafe { NonNull::new_unchecked(ptr) });
            }
        } else {
            let pad = (ptr as usize).wrapping_neg() & (layout.align() - 1);
            // No overflow: `pad < align` and `size <= isize::MAX`.
            if size + pad <= room {
                let p = ptr.wrapping_add(pad);
                self.ptr.set(p.wrapping_add(size));
                // SAFETY: non-null (above).
                return Some(unsafe { NonNull::new_unchecked(p) });
            }
        }
        self.bump_slow(layout)
    }

    /// A new chunk for a request that does not fit the current one.
    #[cold]
    #[inline(never)]
    fn bump_slow(&self, layout: Layout) -> Option<NonNull<u8>> {
        if layout.align() > ALIGN_MAX || !self.new_chunk(layout.size(), layout.align()) {
            return None;
        }
        let ptr = self.ptr.get();
        let pad = (ptr as usize).wrapping_neg() & (layout.align() - 1);
        let size = grain_up(layout.size());
        debug_assert!(size + pad <= self.end.get() as usize - ptr as usize);
        let p = ptr.wrapping_add(pad);
        self.ptr.set(p.wrapping_add(size));
        NonNull::new(p)
    }

    /// Takes a chunk with room for `size` bytes at `align` and makes it current; false if the
    /// engine refuses or the size is impossible.
    fn new_chunk(&self, size: usize, align: usize) -> bool {
        let Some(needed) = size
            .checked_add(align - 1)
            .and_then(|n| n.checked_add(HEADER))
        else {
            return false;
        };
        let last = if self.chunk.get().is_null() {
            FIRST_CHUNK / 2
        } else {
            // SAFETY: our current chunk's header.
            unsafe { (*self.chunk.get()).bytes }
        };
        let doubled = last.min(DOUBLING_MAX) * 2;
        let mut bytes = doubled.max(needed);
        let (base, len) = loop {
            let Ok(layout) = Layout::from_size_align(bytes, CHUNK_ALIGN) else {
                return false;
            };
            let (base, len) = engine_alloc_usable(layout);
            if !base.is_null() {
                break (base, len);
            }
            if bytes == needed {
                return false;
            }
            bytes = needed; // out of memory for a doubled chunk: try just what is needed
        };
        // What the old chunk used stays counted as live bytes until reset.
        if !self.chunk.get().is_null() {
            let used = self.ptr.get() as usize - (self.chunk.get() as usize + HEADER);
            self.retired_used.set(self.retired_used.get() + used);
        }
        let chunk = base.cast::<Chunk>();
        // SAFETY: a fresh engine block, at least `HEADER` bytes, 16-aligned.
        unsafe {
            chunk.write(Chunk {
                prev: self.chunk.get(),
                bytes: len,
            })
        };
        self.chunk.set(chunk);
        self.ptr.set(base.wrapping_add(HEADER));
        self.end.set(base.wrapping_add(len & !(GRAIN - 1)));
        self.allocated.set(self.allocated.get() + len);
        self.chunk_count.set(self.chunk_count.get() + 1);
        true
    }

    /// A block that is alone in the current chunk and outgrows it takes the chunk with it:
    /// the engine's `realloc` grows the chunk in place, remaps its pages (huge blocks) or
    /// copies it once, and the old chunk is not left behind unused until reset. This is what
    /// keeps a `Vec` growing from an empty arena from holding every size it passed through.
    ///
    /// # Safety
    /// `ptr` is a live block of this arena that fits `old`; `new.size() >= old.size()`.
    #[inline(never)]
    unsafe fn grow_alone(&self, ptr: *mut u8, old: Layout, new: Layout) -> *mut u8 {
        let chunk = self.chunk.get();
        let alone = !chunk.is_null()
            && ptr == chunk.cast::<u8>().wrapping_add(HEADER)
            && ptr.wrapping_add(grain_up(old.size())) == self.ptr.get();
        // A moved chunk starts on a `CHUNK_ALIGN` boundary: larger alignments cannot follow.
        if !alone || new.align() > CHUNK_ALIGN {
            return ptr::null_mut();
        }
        // SAFETY: our current chunk's header.
        let last = unsafe { (*chunk).bytes };
        // No overflow: a Layout's size is at most `isize::MAX`.
        let needed = grain_up(new.size()) + HEADER;
        let bytes = (last.min(DOUBLING_MAX) * 2).max(needed);
        if Layout::from_size_align(bytes, CHUNK_ALIGN).is_err() {
            return ptr::null_mut();
        }
        // SAFETY: the chunk is a live engine block of `last` usable bytes, 16-aligned; `bytes`
        // is non-zero and a valid layout size (checked above). The chunk header moves with it.
        let moved = unsafe {
            engine_realloc(
                chunk.cast(),
                Layout::from_size_align_unchecked(last, CHUNK_ALIGN),
                bytes,
            )
        };
        if moved.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a live engine block, now our current chunk (its header was copied along).
        let len = unsafe { engine_usable(moved) };
        // SAFETY: as above.
        unsafe { (*moved.cast::<Chunk>()).bytes = len };
        self.chunk.set(moved.cast());
        self.allocated.set(self.allocated.get() - last + len);
        let block = moved.wrapping_add(HEADER);
        self.ptr.set(block.wrapping_add(grain_up(new.size())));
        self.end.set(moved.wrapping_add(len & !(GRAIN - 1)));
        block
    }
}

/// `n` rounded up to a multiple of [`GRAIN`] (no overflow for a `Layout`'s size).
#[inline(always)]
const fn grain_up(n: usize) -> usize {
    (n + GRAIN - 1) & !(GRAIN - 1)
}

#[cold]
fn capacity_overflow() -> ! {
    panic!("arena slice: capacity overflow")
}

/// Gives a chunk back to the engine.
///
/// # Safety
/// `chunk` is a chunk of an arena, not used afterwards.
unsafe fn free_chunk(chunk: *mut Chunk) {
    // SAFETY: the chunk's header (caller); the engine block's recorded size and alignment
    // fit it.
    unsafe {
        let bytes = (*chunk).bytes;
        engine_free(
            chunk.cast(),
            Layout::from_size_align_unchecked(bytes, CHUNK_ALIGN),
        );
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Arena {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Arena")
            .field("allocated_bytes", &self.allocated.get())
            .field("chunks", &self.chunk_count.get())
            .finish()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let mut chunk = self.chunk.replace(ptr::null_mut());
        while !chunk.is_null() {
            // SAFETY: our chunks; nothing allocated in them is borrowed any more.
            unsafe {
                let prev = (*chunk).prev;
                free_chunk(chunk);
                chunk = prev;
            }
        }
    }
}

impl RawAllocator for &Arena {
    #[inline(always)]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let Some(p) = self.bump(layout) else {
            return ptr::null_mut();
        };
        self.live.set(self.live.get() + 1);
        if zeroed {
            // SAFETY: a fresh block of `layout.size()` bytes (its returned length).
            unsafe { ptr::write_bytes(p.as_ptr(), 0, layout.size()) };
        }
        p.as_ptr()
    }

    #[inline(always)]
    unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout) {
        // Saturating: a value placed with `alloc` (not counted) may be handed back here too.
        self.live.set(self.live.get().saturating_sub(1));
        // The most recent allocation gives its bytes back; others wait for reset. Returned
        // lengths are exact, so `layout.size()` is the block's length (fit rule).
        if ptr.wrapping_add(grain_up(layout.size())) == self.ptr.get() {
            self.ptr.set(ptr);
        }
    }

    #[inline(always)]
    unsafe fn raw_usable(&self, _ptr: *mut u8, layout: Layout) -> usize {
        layout.size()
    }

    #[inline]
    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        let top = self.ptr.get();
        let (old_end, new_end) = (grain_up(old.size()), grain_up(new_size));
        if ptr.wrapping_add(old_end) == top {
            // The most recent allocation: move the bump pointer.
            if new_end <= old_end || new_end - old_end <= self.end.get() as usize - top as usize {
                self.ptr.set(ptr.wrapping_add(new_end));
                return ptr;
            }
            return ptr::null_mut();
        }
        if new_size <= old.size() {
            ptr // shrinking elsewhere: keep the block, the tail waits for reset
        } else {
            ptr::null_mut()
        }
    }

    #[inline(always)]
    unsafe fn raw_grow_moving(&self, ptr: *mut u8, old: Layout, new: Layout) -> *mut u8 {
        // Through `Arena` itself, not `&&Arena`: a call that is handed the address of the
        // reference inside a `Vec` makes the compiler keep the `Vec`'s length in memory,
        // a store on every `push`.
        // SAFETY: forwarded (caller).
        unsafe { Arena::grow_alone(self, ptr, old, new) }
    }
}

api::impl_allocator!(&Arena);
