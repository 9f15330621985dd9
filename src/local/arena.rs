//! [`Arena`]: bump allocation in chunks of engine memory.
//!
//! One concept in one file: the arena, its chunks, checkpoints and limit share one bump
//! pointer and one chunk chain, which every method reads. About two lines in five are
//! documentation and runnable examples.

use super::{
    engine_alloc_usable, engine_free, engine_realloc, engine_resize, engine_usable, ChunkInfo,
    LocalMap, LocalStats,
};
use crate::allocator_api2::alloc::AllocError;
use crate::api::{self, RawAllocator};
use crate::engine::size_class::MEDIUM_MAX;
use crate::engine::ALIGN_MAX;
use crate::sync::{AtomicUsize, Ordering};
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
/// 8 bytes), nothing is freed until [`reset`](Arena::reset), [`reset_to`](Arena::reset_to) a
/// [`checkpoint`](Arena::checkpoint), the end of a [`scoped`](Arena::scoped) call, or drop,
/// which free everything allocated since at once.
///
/// Memory comes in chunks from the engine (blocks of the calling thread's heap: the first is
/// 4 KiB, each next one twice the last) and goes back to it on drop; `reset` keeps the largest
/// chunk. The most recent allocation grows and shrinks in place, so `Vec::new_in(&arena)`
/// growth copies nothing while the chunk has room; a block alone in its chunk that outgrows it
/// takes the chunk along (the engine's `realloc`), so a `Vec` growing from an empty arena does
/// not leave a chunk behind at every doubling.
///
/// **Values put in the arena with [`alloc`](Arena::alloc) and its siblings are never dropped**:
/// their memory is reused, their `Drop` never runs (a `String` or `Vec` placed there leaks its
/// own heap buffer). For a value whose `Drop` must run, use a box in the arena,
/// `allocator_api2::boxed::Box::new_in(value, &arena)`: dropping the box runs `Drop` and gives
/// the block back (its bytes are reused if it was the most recent allocation).
///
/// [`set_allocation_limit`](Arena::set_allocation_limit) caps the memory the arena takes from
/// the engine: past it, allocations fail (`Allocator` calls return `AllocError`, the `try_`
/// helpers an error) and nothing already allocated is touched.
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
    /// Cap on `allocated` (`usize::MAX`: none).
    limit: Cell<usize>,
    /// Requests refused because of the cap.
    limit_refusals: Cell<usize>,
    /// A chunk `reset_to` kept for reuse (not on the chain; its bytes count in `allocated`),
    /// or null.
    spare: Cell<*mut Chunk>,
    /// This arena's identity for checkpoints: 0 until the first checkpoint, then unique.
    id: Cell<usize>,
    /// Bumped by `reset` and by a `trim` that frees the chain: checkpoints from before are
    /// rejected.
    epoch: Cell<usize>,
    /// The current chunk when the last checkpoint was taken (or `reset_to` returned to):
    /// `grow_alone` must not move it (a checkpoint names its chunk by address).
    pinned: Cell<*mut Chunk>,
    /// The position of that checkpoint, the highest any valid checkpoint has. The bump
    /// pointer never goes back below it (a freed or shrunk top block below it stays used
    /// until `reset_to`), so positions only grow between `reset_to`s and a checkpoint past
    /// the bump pointer is known stale; and a block that starts below it does not grow in
    /// place across it (it moves), so `reset_to` never frees part of a block allocated
    /// before the checkpoint.
    pinned_ptr: Cell<*mut u8>,
}

/// Source of arena identities for checkpoints (0 is "none yet").
static NEXT_ARENA_ID: AtomicUsize = AtomicUsize::new(1);

/// A position in an [`Arena`], from [`Arena::checkpoint`]: [`Arena::reset_to`] frees
/// everything allocated after it.
///
/// A checkpoint belongs to the arena that made it and is valid until that arena's next
/// [`reset`](Arena::reset) (or a [`reset_to`](Arena::reset_to) an earlier checkpoint, or a
/// [`trim`](Arena::trim) that empties it); `reset_to` rejects any other with a panic that says
/// why. It is `Copy`: one checkpoint can be returned to again and again.
///
/// ```
/// let mut arena = allocgator::Arena::new();
/// arena.alloc_str("kept");
/// let start = arena.checkpoint();
/// for request in 0..3 {
///     arena.alloc_slice_fill_with(1000, |i| i + request);
///     arena.reset_to(start); // the request's memory is reused by the next one
/// }
/// assert_eq!(arena.stats().live_bytes(), 8); // "kept", rounded up to 8 bytes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    arena: usize,
    epoch: usize,
    /// Address of the chunk the position is in (0 for an arena without chunks).
    chunk: usize,
    /// Chunks on the chain then, this one included.
    depth: usize,
    /// The bump pointer then.
    ptr: usize,
    retired_used: usize,
    live: usize,
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
            limit: Cell::new(usize::MAX),
            limit_refusals: Cell::new(0),
            spare: Cell::new(ptr::null_mut()),
            id: Cell::new(0),
            epoch: Cell::new(0),
            pinned: Cell::new(ptr::null_mut()),
            pinned_ptr: Cell::new(ptr::null_mut()),
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
        self.note_peak();
        self.epoch.set(self.epoch.get().wrapping_add(1));
        let mut largest: *mut Chunk = ptr::null_mut();
        let mut largest_bytes = 0;
        let mut chunk = self.chunk.get();
        // The spare chunk (if any) competes too: it heads the walk.
        let spare = self.spare.replace(ptr::null_mut());
        if !spare.is_null() {
            // SAFETY: our spare chunk's header; it is off the chain, so linking the chain
            // behind it changes nothing else.
            unsafe { (*spare).prev = chunk };
            chunk = spare;
        }
        while !chunk.is_null() {
            // SAFETY: one of our chunks, with the header we wrote.
            let Chunk { prev, bytes } = unsafe { chunk.read() };
            if bytes > largest_bytes {
                if !largest.is_null() {
                    // SAFETY: a chunk of ours, read already and not kept; `&mut self`:
                    // nothing allocated in it is borrowed any more.
                    unsafe { free_chunk(largest) };
                }
                largest = chunk;
                largest_bytes = bytes;
            } else {
                // SAFETY: as for `largest` above.
                unsafe { free_chunk(chunk) };
            }
            chunk = prev;
        }
        self.live.set(0);
        self.retired_used.set(0);
        if largest.is_null() {
            self.clear_chain();
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

    /// Caps the engine memory the arena holds ([`allocated_bytes`](Self::allocated_bytes):
    /// its chunks, counted at the engine's usable size) at `limit` bytes, or lifts the cap
    /// (`None`). A request that would need a chunk past the cap fails: `Allocator` calls
    /// return `AllocError` (so `Vec::try_reserve_in`-style calls and `Box::try_new_in` report
    /// it), [`try_alloc_with`](Self::try_alloc_with) and the other `try_` helpers return an
    /// error, and the infallible helpers abort through `handle_alloc_error` as for any
    /// refused memory. Nothing already allocated is touched: a limit below what is held
    /// only fails further requests that need a new chunk, and a limit of 0 fails every one.
    ///
    /// The check is on the slow path that takes a new chunk; the bump fast path is
    /// unchanged. Chunks keep doubling up to what the limit leaves room for.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.set_allocation_limit(Some(16 * 1024));
    /// let mut taken = 0;
    /// while arena.try_alloc_with(|| [0u8; 512]).is_ok() {
    ///     taken += 1;
    /// }
    /// assert!(taken >= 16);
    /// assert!(arena.allocated_bytes() <= 16 * 1024);
    /// assert_eq!(arena.stats().limit_refusals(), 1);
    /// arena.set_allocation_limit(None);
    /// assert!(arena.try_alloc_with(|| [0u8; 512]).is_ok());
    /// ```
    pub fn set_allocation_limit(&self, limit: Option<usize>) {
        self.limit.set(limit.unwrap_or(usize::MAX));
    }

    /// The cap set with [`set_allocation_limit`](Self::set_allocation_limit), or `None`.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// assert_eq!(arena.allocation_limit(), None);
    /// arena.set_allocation_limit(Some(0));
    /// assert_eq!(arena.allocation_limit(), Some(0));
    /// assert!(arena.try_alloc(1u8).is_err());
    /// ```
    pub fn allocation_limit(&self) -> Option<usize> {
        (self.limit.get() != usize::MAX).then_some(self.limit.get())
    }

    /// The arena's current position, for [`reset_to`](Self::reset_to). Takes no memory.
    ///
    /// ```
    /// let mut arena = allocgator::Arena::new();
    /// let before = arena.checkpoint();
    /// arena.alloc_slice_copy(&[1u64; 100]);
    /// arena.reset_to(before);
    /// assert_eq!(arena.stats().live_bytes(), 0);
    /// ```
    pub fn checkpoint(&self) -> Checkpoint {
        if self.id.get() == 0 {
            // Relaxed: only uniqueness matters, which the RMW gives.
            self.id.set(NEXT_ARENA_ID.fetch_add(1, Ordering::Relaxed));
        }
        let chunk = self.chunk.get();
        self.pinned.set(chunk);
        self.pinned_ptr.set(self.ptr.get());
        Checkpoint {
            arena: self.id.get(),
            epoch: self.epoch.get(),
            chunk: chunk as usize,
            depth: self.chunk_count.get(),
            ptr: self.ptr.get() as usize,
            retired_used: self.retired_used.get(),
            live: self.live.get(),
        }
    }

    /// Frees everything allocated since `checkpoint` was taken; what was allocated before it
    /// stays. Chunks taken since go back to the engine, except the largest, which is kept
    /// for the next allocations (see [`trim`](Self::trim)). Safe: `&mut self` proves that no
    /// allocation is still borrowed.
    ///
    /// A checkpoint taken after one the arena has since been reset to is stale and must not
    /// be used: `reset_to` rejects it when it can tell (its chunk is gone, or it lies past the
    /// arena's position) and otherwise treats it as a position in the arena, which is
    /// memory-safe but may free blocks allocated after the earlier `reset_to` in part.
    ///
    /// # Panics
    /// If the checkpoint comes from another arena, is older than this arena's last
    /// [`reset`](Self::reset) (or a [`trim`](Self::trim) that emptied it), or is stale as
    /// above. The arena is left as it was.
    ///
    /// ```
    /// let mut arena = allocgator::Arena::new();
    /// let config = arena.alloc_str("port=8080") as *const str;
    /// let cp = arena.checkpoint();
    /// for _ in 0..10_000 {
    ///     arena.alloc([0u64; 8]); // several new chunks
    /// }
    /// arena.reset_to(cp);
    /// assert_eq!(arena.stats().live_bytes(), 16);
    /// assert_eq!(unsafe { &*config }, "port=8080"); // allocated before: untouched
    /// ```
    pub fn reset_to(&mut self, checkpoint: Checkpoint) {
        let cp = checkpoint;
        if cp.arena != self.id.get() || cp.arena == 0 {
            reject_checkpoint("it comes from another arena");
        }
        if cp.epoch != self.epoch.get() {
            reject_checkpoint("the arena was reset (or emptied by trim) after it was taken");
        }
        let Some(above) = self.chunk_count.get().checked_sub(cp.depth) else {
            reject_checkpoint("it is past the arena's position (taken after a checkpoint the arena was since reset to)");
        };
        // Find the checkpoint's chunk before changing anything.
        let mut target = self.chunk.get();
        for _ in 0..above {
            // SAFETY: one of our `chunk_count` chunks (`above < chunk_count` steps from the
            // newest), with the header we wrote.
            target = unsafe { (*target).prev };
        }
        if target as usize != cp.chunk {
            reject_checkpoint("its chunk is no longer the arena's (the arena was reset to an earlier checkpoint since)");
        }
        if !target.is_null() {
            // SAFETY: our chunk's header.
            let bytes = unsafe { (*target).bytes };
            let (start, end) = (
                target as usize + HEADER,
                target as usize + (bytes & !(GRAIN - 1)),
            );
            let limit = if above == 0 {
                self.ptr.get() as usize
            } else {
                end
            };
            if cp.ptr < start || cp.ptr > limit {
                reject_checkpoint("it is past the arena's position (taken after a checkpoint the arena was since reset to)");
            }
        }
        self.note_peak();
        // Free the chunks above the target, keeping the largest (or the older spare) as the
        // spare.
        let mut chunk = self.chunk.get();
        for _ in 0..above {
            // SAFETY: our chunks above the target; `&mut self`: nothing allocated in them is
            // borrowed any more.
            let prev = unsafe { (*chunk).prev };
            self.keep_or_free(chunk);
            chunk = prev;
        }
        self.chunk.set(target);
        self.chunk_count.set(cp.depth);
        self.retired_used.set(cp.retired_used);
        self.live.set(cp.live);
        self.pinned.set(target);
        if target.is_null() {
            self.ptr.set(ptr::null_mut());
            self.end.set(ptr::null_mut());
        } else {
            // SAFETY: our chunk's header.
            let bytes = unsafe { (*target).bytes };
            // The position lies in the target (checked above); it keeps the chunk's
            // provenance.
            let base = target.cast::<u8>();
            self.ptr.set(base.wrapping_add(cp.ptr - target as usize));
            self.end.set(base.wrapping_add(bytes & !(GRAIN - 1)));
        }
        self.pinned_ptr.set(self.ptr.get());
    }

    /// Runs `f` on the arena and frees everything `f` allocated when it returns (or
    /// unwinds): a [`checkpoint`](Self::checkpoint) and a [`reset_to`](Self::reset_to)
    /// around it. Chunks added inside go back to the engine, except one kept for reuse, so a
    /// loop of scopes takes no engine memory after the first.
    ///
    /// `f`'s result cannot borrow from the arena (the scope's allocations are gone when it
    /// returns): the compiler rejects that.
    ///
    /// ```
    /// let mut arena = allocgator::Arena::new();
    /// let total: usize = (0..100)
    ///     .map(|request| {
    ///         arena.scoped(|a| {
    ///             let parts = a.alloc_slice_fill_with(64, |i| i * request);
    ///             parts.iter().sum::<usize>()
    ///         })
    ///     })
    ///     .sum();
    /// assert_eq!(total, (0..64).sum::<usize>() * (0..100).sum::<usize>());
    /// assert_eq!(arena.stats().live_bytes(), 0);
    /// assert_eq!(arena.stats().chunks(), 1);
    /// ```
    pub fn scoped<R>(&mut self, f: impl FnOnce(&Arena) -> R) -> R {
        /// Returns to the checkpoint on the way out, unwinding included.
        struct Scope<'a>(&'a mut Arena, Checkpoint);
        impl Drop for Scope<'_> {
            fn drop(&mut self) {
                self.0.reset_to(self.1);
            }
        }
        let cp = self.checkpoint();
        let scope = Scope(self, cp);
        f(scope.0)
    }

    /// Gives back engine memory the arena holds but does not use: the spare chunk kept by
    /// [`reset_to`](Self::reset_to) and [`scoped`](Self::scoped); all chunks if nothing is
    /// allocated (as after [`reset`](Self::reset)); otherwise the unused tail of the current
    /// chunk, where the engine can shrink a block in place (blocks past 64 KiB).
    ///
    /// ```
    /// let mut arena = allocgator::Arena::new();
    /// arena.alloc_slice_copy(&[0u8; 100_000]);
    /// arena.reset();
    /// assert!(arena.allocated_bytes() >= 100_000); // reset keeps the largest chunk
    /// arena.trim();
    /// assert_eq!(arena.allocated_bytes(), 0);
    /// ```
    pub fn trim(&mut self) {
        let spare = self.spare.replace(ptr::null_mut());
        if !spare.is_null() {
            self.release(spare);
        }
        if self.used_bytes() == 0 && self.live.get() == 0 {
            let mut chunk = self.chunk.get();
            while !chunk.is_null() {
                // SAFETY: our chunks; `&mut self` and nothing used: nothing borrowed.
                let prev = unsafe { (*chunk).prev };
                self.release(chunk);
                chunk = prev;
            }
            self.clear_chain();
            self.epoch.set(self.epoch.get().wrapping_add(1));
            return;
        }
        let chunk = self.chunk.get();
        if chunk.is_null() {
            return;
        }
        // SAFETY: our current chunk's header.
        let bytes = unsafe { (*chunk).bytes };
        // A large block shrinks in place down to just above the medium sizes; below that
        // the engine would have to move it.
        let used_end = (grain_up(self.current_used()) + HEADER).max(MEDIUM_MAX + 1);
        if used_end.saturating_mul(2) > bytes {
            return; // less than half unused: not worth a resize
        }
        // SAFETY: the chunk is a live engine block of `bytes` usable bytes, 16-aligned;
        // `used_end` is non-zero and smaller. Shrinking in place keeps its address.
        let kept = unsafe {
            engine_resize(
                chunk.cast(),
                Layout::from_size_align_unchecked(bytes, CHUNK_ALIGN),
                used_end,
            )
        };
        if kept.is_null() {
            return;
        }
        // SAFETY: still our live chunk, at the same address.
        let len = unsafe { engine_usable(kept) };
        // SAFETY: our chunk's header.
        unsafe { (*chunk).bytes = len };
        self.allocated.set(self.allocated.get() - bytes + len);
        self.end
            .set(chunk.cast::<u8>().wrapping_add(len & !(GRAIN - 1)));
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

    /// Places the value `make()` returns in the arena (built after the room is found, so it
    /// can be written straight into place), or fails without calling `make` if the engine or
    /// the [allocation limit](Self::set_allocation_limit) refuses memory. The value is never
    /// dropped.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.set_allocation_limit(Some(8192));
    /// assert!(arena.try_alloc_with(|| [1u8; 1000]).is_ok());
    /// assert!(arena.try_alloc_with(|| [1u8; 10_000]).is_err());
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_with<T>(&self, make: impl FnOnce() -> T) -> Result<&mut T, AllocError> {
        let p = self
            .alloc_layout_raw(Layout::new::<T>())
            .ok_or(AllocError)?
            .cast::<T>();
        // SAFETY: a fresh, exclusive, suitably sized and aligned block (or a dangling aligned
        // pointer for a zero-size `T`) that lives as long as the arena borrow.
        unsafe {
            p.as_ptr().write(make());
            Ok(&mut *p.as_ptr())
        }
    }

    /// Builds a value in place with a constructor that may fail: the room is taken first,
    /// `make` fills it, and if `make` fails the room is given back (when nothing was
    /// allocated after it meanwhile) and its error returned. Memory refused by the engine or
    /// the [allocation limit](Self::set_allocation_limit) is `Err(None)`.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let parsed = arena.alloc_try_with(|| "42".parse::<u64>());
    /// assert_eq!(parsed.map(|v| *v), Ok(42));
    /// let bad = arena.alloc_try_with(|| "forty-two".parse::<u64>());
    /// assert!(matches!(bad, Err(Some(_))));
    /// assert_eq!(arena.stats().live_bytes(), 8); // the failed value's room was given back
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_try_with<T, E>(
        &self,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<&mut T, Option<E>> {
        let layout = Layout::new::<T>();
        let p = self.alloc_layout_raw(layout).ok_or(None)?;
        match make() {
            Ok(value) => {
                let p = p.cast::<T>();
                // SAFETY: a fresh, exclusive, suitably sized and aligned block (or a dangling
                // aligned pointer for a zero-size `T`) that lives as long as the arena borrow.
                unsafe {
                    p.as_ptr().write(value);
                    Ok(&mut *p.as_ptr())
                }
            }
            Err(e) => {
                // `make` may have allocated after the room; only a room still on top goes
                // back.
                if layout.size() != 0
                    && p.as_ptr().wrapping_add(grain_up(layout.size())) == self.ptr.get()
                {
                    self.ptr.set(p.as_ptr());
                }
                Err(Some(e))
            }
        }
    }

    /// Copies a slice into the arena, or fails if memory is refused (the engine, the
    /// [allocation limit](Self::set_allocation_limit), or a length whose bytes overflow).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// assert_eq!(arena.try_alloc_slice_copy(&[1, 2, 3]).unwrap(), &[1, 2, 3]);
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&mut [T], AllocError> {
        let p = self.try_alloc_array::<T>(src.len())?;
        // SAFETY: a fresh block for `src.len()` values of `T`, distinct from `src`.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), src.len());
            Ok(core::slice::from_raw_parts_mut(p.as_ptr(), src.len()))
        }
    }

    /// Clones a slice into the arena (the clones are never dropped), or fails if memory is
    /// refused; nothing is cloned then.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// let s = arena.try_alloc_slice_clone(&[String::from("a")]).unwrap();
    /// assert_eq!(s[0], "a");
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_slice_clone<T: Clone>(&self, src: &[T]) -> Result<&mut [T], AllocError> {
        self.try_alloc_slice_fill_with(src.len(), |i| src[i].clone())
    }

    /// Allocates a slice of `len` values made by `f(index)`, or fails if memory is refused
    /// (then `f` is never called).
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// arena.set_allocation_limit(Some(4096));
    /// assert!(arena.try_alloc_slice_fill_with(10, |i| i).is_ok());
    /// assert!(arena.try_alloc_slice_fill_with(1 << 20, |i| i).is_err());
    /// assert!(arena.try_alloc_slice_fill_with(usize::MAX, |i| i).is_err()); // overflow
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_slice_fill_with<T>(
        &self,
        len: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<&mut [T], AllocError> {
        let p = self.try_alloc_array::<T>(len)?;
        for i in 0..len {
            // SAFETY: `i < len`, inside the fresh block. If `f` panics, the values written so
            // far are leaked in the arena (never dropped), which is allowed.
            unsafe { p.as_ptr().add(i).write(f(i)) };
        }
        // SAFETY: all `len` values are initialised.
        Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
    }

    /// Copies a string into the arena, or fails if memory is refused.
    ///
    /// ```
    /// let arena = allocgator::Arena::new();
    /// assert_eq!(arena.try_alloc_str("hi").unwrap(), "hi");
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_str(&self, src: &str) -> Result<&mut str, AllocError> {
        let bytes = self.try_alloc_slice_copy(src.as_bytes())?;
        // SAFETY: a copy of valid UTF-8.
        Ok(unsafe { core::str::from_utf8_unchecked_mut(bytes) })
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
            chunks: self.chunk_count.get() + usize::from(!self.spare.get().is_null()),
            fallback_allocs: 0,
            fallback_live: 0,
            limit: self.limit.get(),
            limit_refusals: self.limit_refusals.get(),
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

    /// A block for `len` values of `T`, or an error (overflow or refused memory).
    fn try_alloc_array<T>(&self, len: usize) -> Result<NonNull<T>, AllocError> {
        let layout = Layout::array::<T>(len).map_err(|_| AllocError)?;
        self.alloc_layout_raw(layout)
            .map(NonNull::cast)
            .ok_or(AllocError)
    }

    /// Records the bytes used so far as the peak, if they are more.
    fn note_peak(&self) {
        let used = self.used_bytes();
        if used > self.peak_used.get() {
            self.peak_used.set(used);
        }
    }

    /// An arena without chunks on its chain (the spare is not touched).
    fn clear_chain(&self) {
        self.chunk.set(ptr::null_mut());
        self.ptr.set(ptr::null_mut());
        self.end.set(ptr::null_mut());
        self.chunk_count.set(0);
        self.retired_used.set(0);
    }

    /// Gives a chunk back to the engine and stops counting its bytes.
    fn release(&self, chunk: *mut Chunk) {
        // SAFETY: `chunk` is ours and its caller unlinks it; nothing in it is borrowed
        // (callers hold `&mut self` or are dropping the arena).
        unsafe {
            self.allocated.set(self.allocated.get() - (*chunk).bytes);
            free_chunk(chunk);
        }
    }

    /// A chunk leaving the chain: it becomes the spare if it is larger than the current
    /// spare (which is then given back), or is given back itself.
    fn keep_or_free(&self, chunk: *mut Chunk) {
        let spare = self.spare.get();
        // SAFETY: our chunks' headers.
        let larger = spare.is_null() || unsafe { (*chunk).bytes > (*spare).bytes };
        if larger {
            if !spare.is_null() {
                self.release(spare);
            }
            self.spare.set(chunk);
        } else {
            self.release(chunk);
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
        // A multiple of `GRAIN`: the bump pointer moves in grains up to the chunk's usable
        // end, which is the requested size when the hardened build's canary keeps the slack.
        let Some(needed) = size
            .checked_add(align - 1 + GRAIN - 1)
            .map(|n| n & !(GRAIN - 1))
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
        // The spare chunk `reset_to` kept serves first, if it has room; one that has not is
        // given back (its bytes may be what the limit needs).
        let spare = self.spare.replace(ptr::null_mut());
        if !spare.is_null() {
            // SAFETY: our spare chunk's header.
            let spare_bytes = unsafe { (*spare).bytes };
            if spare_bytes >= needed {
                // Already counted in `allocated`.
                self.push_chunk(spare.cast(), spare_bytes);
                return true;
            }
            self.release(spare);
        }
        let room = self.limit.get().saturating_sub(self.allocated.get());
        if !fits_limit(needed, room) {
            self.limit_refusals.set(self.limit_refusals.get() + 1);
            return false;
        }
        let doubled = last.min(DOUBLING_MAX) * 2;
        // Under a limit the doubling stops at what the limit leaves.
        let mut bytes = doubled.max(needed);
        if !fits_limit(bytes, room) {
            bytes = needed;
        }
        let (base, len) = loop {
            let Ok(layout) = Layout::from_size_align(bytes, CHUNK_ALIGN) else {
                return false;
            };
            let (base, len) = engine_alloc_usable(layout);
            if !base.is_null() && len > room {
                // A huge block whose usable size was not known before (a larger cached
                // mapping): it would pass the limit.
                // SAFETY: the fresh, unused engine block just taken.
                unsafe { engine_free(base, layout) };
                if bytes == needed {
                    self.limit_refusals.set(self.limit_refusals.get() + 1);
                    return false;
                }
                bytes = needed;
                continue;
            }
            if !base.is_null() {
                break (base, len);
            }
            if bytes == needed {
                return false;
            }
            bytes = needed; // out of memory for a doubled chunk: try just what is needed
        };
        self.allocated.set(self.allocated.get() + len);
        self.push_chunk(base, len);
        true
    }

    /// Makes the engine block `base` (`len` usable bytes, counted in `allocated` already) the
    /// current chunk.
    fn push_chunk(&self, base: *mut u8, len: usize) {
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
        self.chunk_count.set(self.chunk_count.get() + 1);
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
        // A checkpoint may name the current chunk by address: it stays where it is.
        if !alone || new.align() > CHUNK_ALIGN || chunk == self.pinned.get() {
            return ptr::null_mut();
        }
        // SAFETY: our current chunk's header.
        let last = unsafe { (*chunk).bytes };
        // No overflow: a Layout's size is at most `isize::MAX`.
        let needed = grain_up(new.size()) + HEADER;
        let mut bytes = (last.min(DOUBLING_MAX) * 2).max(needed);
        if Layout::from_size_align(bytes, CHUNK_ALIGN).is_err() {
            return ptr::null_mut();
        }
        if self.limit.get() != usize::MAX {
            // Under a limit, only a move whose result is known to fit (the moving path's new
            // chunk checks the rest exactly).
            let room = self.limit.get().saturating_sub(self.allocated.get() - last);
            if !fits_limit(bytes, room) {
                bytes = needed;
            }
            if !fits_limit(bytes, room) {
                return ptr::null_mut();
            }
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
        // SAFETY: `moved` is a live engine block of ours, and its header was copied along.
        unsafe { (*moved.cast::<Chunk>()).bytes = len };
        self.chunk.set(moved.cast());
        self.allocated.set(self.allocated.get() - last + len);
        let block = moved.wrapping_add(HEADER);
        self.ptr.set(block.wrapping_add(grain_up(new.size())));
        self.end.set(moved.wrapping_add(len & !(GRAIN - 1)));
        block
    }
}

/// Whether a new chunk of `bytes` requested bytes stays within `room` bytes of limit.
fn fits_limit(bytes: usize, room: usize) -> bool {
    super::fits_limit(bytes, CHUNK_ALIGN, room)
}

#[cold]
fn reject_checkpoint(why: &str) -> ! {
    panic!("Arena::reset_to: invalid checkpoint: {why}")
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
        let spare = self.spare.replace(ptr::null_mut());
        if !spare.is_null() {
            // SAFETY: our spare chunk, off the chain.
            unsafe { free_chunk(spare) };
        }
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
        // The most recent allocation gives its bytes back (unless it lies below the last
        // checkpoint); others wait for reset. Returned lengths are exact, so `layout.size()`
        // is the block's length (fit rule).
        if ptr.wrapping_add(grain_up(layout.size())) == self.ptr.get()
            && ptr as usize >= self.pinned_ptr.get() as usize
        {
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
        if (ptr as usize) < self.pinned_ptr.get() as usize {
            // Allocated before the last checkpoint: it neither grows across the checkpoint
            // nor gives bytes back below it.
            return if new_size <= old.size() {
                ptr
            } else {
                ptr::null_mut()
            };
        }
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
        // SAFETY: `ptr` is a live block of this arena fitting `old`, and `new` is no smaller
        // (the Allocator contract for `grow`).
        unsafe { Arena::grow_alone(self, ptr, old, new) }
    }
}

api::impl_allocator!(&Arena);
