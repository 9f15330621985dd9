//! The global path: each thread's heap, the pool of ownerless heaps, and [`Allocgator`].
//!
//! A thread starts on a static sentinel heap whose every size points at an empty page, so the
//! fast path has no "initialised?" test: the first allocation falls to the slow path, which
//! returns null for the sentinel, and only then does the thread take a heap (from the pool, or
//! a new one) and retry.
//!
//! At thread exit (a pthread key destructor, registered without allocating, which runs after
//! Rust's thread-local destructors so they may still allocate) the heap is *abandoned whole*:
//! its empty pages are retired and it goes into the pool with its segments, live blocks and
//! pending list. Blocks other threads free into it later land on its pages' `thread_free`
//! lists as usual. The next thread that starts adopts a pooled heap before mapping a new one,
//! and `trim()` sweeps pooled heaps, so thread churn reuses memory instead of growing.
//! (mimalloc abandons individual segments for others to reclaim; snmalloc pools whole
//! allocators. Pooling whole heaps keeps each segment's owner fixed for its life, which is what
//! makes the remote-free notification protocol in `engine::page` simple.)

use crate::api::{self, RawAllocator};
use crate::engine::heap::Heap;
use crate::engine::heap_pool::HeapPool;
use crate::engine::segment::Segment;
use crate::engine::stats::Stats;
use crate::os::thread_exit::ExitKey;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

mod fork;
mod purger;
pub mod raw;
mod slot;

pub use purger::set_background_purge;

/// The sentinel heap every thread starts with.
static SENTINEL: Heap = Heap::sentinel(&raw const SENTINEL);
/// The sentinel a thread's slot holds once its heap was abandoned at thread exit: like
/// [`SENTINEL`], but a free from it does not take a heap (destructors that run after ours
/// would otherwise take one each, which nothing would pool again).
static EXITED: Heap = Heap::sentinel(&raw const EXITED);

/// The calling thread's heap (the sentinel until its first allocation).
#[inline(always)]
pub(crate) fn thread_heap() -> &'static Heap {
    // SAFETY: the slot only ever holds the sentinel or a thread heap, and thread heaps are
    // never unmapped (they are pooled).
    unsafe { &*slot::get() }
}

/// Every thread heap ever created (push-only: thread heaps are pooled, never freed), for
/// `stats()`.
static REGISTRY: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());
/// Heaps whose thread has exited, waiting for a new thread.
static POOL: HeapPool = HeapPool::new();

/// Gives the calling thread a heap (pooled or new) and returns it; `None` if the OS refuses
/// memory for a new one.
#[cold]
#[inline(never)]
fn adopt_thread_heap() -> Option<&'static Heap> {
    let pooled = POOL.adopt();
    let heap = if pooled.is_null() {
        // The first heap reads the environment's options (no allocation; see `options`).
        crate::options::ensure_read();
        let heap = Heap::create();
        if heap.is_null() {
            return None;
        }
        // SAFETY: a new heap, ours.
        unsafe { (*heap).set_purged_in_background() };
        register(heap);
        heap
    } else {
        // SAFETY: the heap is ours now; its peak is this thread's from here on.
        unsafe { (*pooled).counters.rebase_peak() };
        pooled
    };
    slot::set(heap);
    register_thread_exit(heap);
    fork::register_once();
    purger::register_once();
    register_exit_printer_once();
    // SAFETY: thread heaps are never unmapped.
    Some(unsafe { &*heap })
}

/// Registers the statistics printer of `ALLOCGATOR_VERBOSE=1` at process exit, once.
fn register_exit_printer_once() {
    static REGISTERED: crate::sync::AtomicBool = crate::sync::AtomicBool::new(false);
    // Relaxed: the flag guards only the registration, which publishes nothing.
    if crate::options::verbose() && !REGISTERED.swap(true, Ordering::Relaxed) {
        crate::os::process::at_exit(print_stats_at_exit);
    }
}

/// `atexit` handler for `ALLOCGATOR_VERBOSE=1`.
extern "C" fn print_stats_at_exit() {
    print_stats("allocgator: statistics at exit");
}

/// Adds a new thread heap to the registry.
fn register(heap: *mut Heap) {
    // Relaxed: seeds the loop.
    let mut head = REGISTRY.load(Ordering::Relaxed);
    loop {
        // SAFETY: `heap` is new and ours. Relaxed: published by the CAS below.
        unsafe { (*heap).registry_next.store(head, Ordering::Relaxed) };
        // Release: publishes the heap (and its link) to `stats()`'s Acquire load.
        match REGISTRY.compare_exchange_weak(head, heap, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(current) => head = current,
        }
    }
}

/// Runs at thread exit (pthread key destructor): abandons the thread's heap into the pool.
unsafe extern "C" fn on_thread_exit(heap: *mut core::ffi::c_void) {
    let heap = heap.cast::<Heap>();
    // From now on this thread frees remotely (and would adopt a new heap if it allocated
    // again, in a later destructor).
    slot::set(&raw const EXITED);
    // Its free memory goes back to the OS now if no background purger will take it later
    // (one runs, or starts once enough memory waits). Otherwise it stays committed for now: a
    // thread that starts soon after reuses it without page faults, which is what thread churn
    // does (mimalloc-bench's mstress ran 1.8x slower when every exit gave everything back).
    let release = !purger::may_run();
    // SAFETY: we own the heap and give it up; thread heaps are never destroyed.
    unsafe { POOL.abandon(heap, release) };
}

/// Key state: 0 = not created, 1 = being created, 2 = failed, `key + 3` = ready.
static EXIT_KEY: AtomicUsize = AtomicUsize::new(0);

/// Registers `heap` for `on_thread_exit` on the calling thread.
fn register_thread_exit(heap: *mut Heap) {
    loop {
        // Acquire: pairs with the creator's Release store of the key.
        match EXIT_KEY.load(Ordering::Acquire) {
            0 => {
                // Acquire/Relaxed: we only take the right to create the key.
                if EXIT_KEY
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    let state = match ExitKey::create(on_thread_exit) {
                        Some(key) => key.to_bits() + 3,
                        None => 2,
                    };
                    // Release: publishes the key to other threads' Acquire loads.
                    EXIT_KEY.store(state, Ordering::Release);
                }
            }
            1 => crate::sync::spin_hint(),
            // No key: the heap is never pooled when this thread exits (it stays registered,
            // its blocks stay valid). Only if the process ran out of pthread keys.
            2 => return,
            state => {
                // The value is the heap to abandon at exit; the heap is installed, so the
                // allocation glibc may make here is served by it.
                ExitKey::from_bits(state - 3).set(heap.cast());
                return;
            }
        }
    }
}

/// A snapshot of the global engine: live blocks per size class (summed over every thread heap,
/// exited threads' included), committed and reserved bytes.
///
/// Live blocks are exact for the calling thread and for threads that have exited; other
/// running threads' figures are as of their last refill of each size class (threads count at
/// page granularity, so counting costs the allocation fast paths nothing).
///
/// `Slab`s are private heaps and keep their own figures; their memory is still included in the
/// process-wide committed and reserved bytes.
///
/// ```
/// let before = allocgator::stats();
/// assert!(before.reserved_bytes() >= before.committed_bytes());
/// println!("{before}");
/// ```
pub fn stats() -> Stats {
    let me = thread_heap();
    // SAFETY: the calling thread owns its heap (the sentinel has no pages).
    unsafe { me.fold_all() };
    let mut stats = Stats::from_counters();
    // SAFETY: the calling thread owns its heap; the walk does not allocate.
    unsafe { stats.pages.add_heap(me) };
    with_pooled_heaps(|heap| {
        // SAFETY: holding the pool lock makes us the owner of pooled heaps.
        unsafe { stats.pages.add_heap(heap) };
    });
    // Acquire: pairs with `register`'s Release, so every published heap is fully set up.
    let mut heap = REGISTRY.load(Ordering::Acquire);
    while !heap.is_null() {
        // SAFETY: registered heaps are never freed; counters are atomics.
        unsafe {
            stats.add_heap(&(*heap).counters);
            // Relaxed: written before the heap was published.
            heap = (*heap).registry_next.load(Ordering::Relaxed);
        }
    }
    stats.finish()
}

/// Writes `title` and [`stats()`] to stderr, without allocating: a stack buffer and
/// `write(2)`, so it may be called where allocating is not allowed (an `atexit` handler, a C
/// program through `allocgator_stats_print`). Nothing is written if stderr is closed.
///
/// ```
/// allocgator::print_stats("allocgator: statistics now");
/// ```
pub fn print_stats(title: &str) {
    use core::fmt::Write;
    let mut out = crate::os::stderr::Writer::new();
    let _ = writeln!(out, "{title}");
    let _ = write!(out, "{}", stats());
    out.flush();
}

/// Runs `f` on every pooled heap (exited threads'), under the pool lock: `f` owns each heap
/// while it runs, and must not allocate (a thread starting or exiting would wait for the lock).
fn with_pooled_heaps(f: impl FnMut(&Heap)) {
    POOL.lock().for_each(f);
}

/// A snapshot of the calling thread's heap: live blocks per size class as this thread counts
/// them (blocks it allocated, minus blocks it freed, wherever they live), its peak, the frees
/// it made into other threads' heaps, its pages by state, and the memory of its segments.
///
/// Exact for the calling thread (it folds its own pages first). A thread that has not
/// allocated yet has no heap: every figure is zero.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
///
/// fn main() {
///     std::thread::spawn(|| {
///         let before = allocgator::thread_stats().live_blocks_of_size(48);
///         let blocks: Vec<Box<[u8; 48]>> = (0..1000).map(|_| Box::new([0; 48])).collect();
///         let s = allocgator::thread_stats();
///         assert_eq!(s.live_blocks_of_size(48), before + 1000);
///         println!("{s}");
///         drop(blocks);
///         assert_eq!(allocgator::thread_stats().live_blocks_of_size(48), before);
///     })
///     .join()
///     .unwrap();
/// }
/// ```
pub fn thread_stats() -> Stats {
    let heap = thread_heap();
    let mut stats = Stats::empty();
    if heap.is_sentinel() {
        return stats.finish();
    }
    // SAFETY: the calling thread owns its heap; neither call allocates.
    unsafe {
        heap.fold_all();
        stats.pages.add_heap(heap);
        let (segments, committed) = heap.footprint();
        stats.segments = segments;
        stats.committed = committed;
        stats.reserved = segments * crate::engine::SEGMENT_SIZE;
    }
    stats.add_heap(&heap.counters);
    stats.peak = heap.counters.peak_growth();
    stats.finish()
}

/// A map of memory: the calling thread's heap and exited threads' heaps walked segment by
/// segment (each page's address, size, state, block size and used / capacity; free runs,
/// committed or decommitted), and other running threads' heaps by their counters only.
///
/// Built without disturbing the walk: room is reserved first (that may allocate), then the
/// heaps are walked with no allocation; if they grew past the room meanwhile, it retries.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
///
/// fn main() {
///     let blocks: Vec<Box<[u8; 48]>> = (0..1000).map(|_| Box::new([0; 48])).collect();
///     let map = allocgator::heap_map();
///     let used_48: usize = map.regions().filter(|r| r.block_size == 48).map(|r| r.used).sum();
///     assert!(used_48 >= 1000);
///     println!("{map}");
///     drop(blocks);
/// }
/// ```
pub fn heap_map() -> crate::HeapMap {
    use crate::engine::map::{HeapInfo, HeapKind, HeapMap};
    let (mut heaps, mut segments, mut regions) = (16, 16, 256);
    loop {
        let mut map = HeapMap::with_room(heaps, segments, regions);
        let me = thread_heap();
        if !me.is_sentinel() {
            // SAFETY: the calling thread owns its heap; the map does not grow during the walk.
            unsafe { map.add_walked(HeapKind::ThisThread, me) };
        }
        // Relaxed loads under the lock / of the push-only registry: see `stats`.
        with_pooled_heaps(|heap| {
            // SAFETY: we own pooled heaps while holding the lock; no allocation.
            unsafe { map.add_walked(HeapKind::Pooled, heap) };
        });
        // Other registered heaps: running threads'. Their counters only. The pool may change
        // between here and the walk above; a heap adopted or pooled meanwhile may show twice
        // or as running.
        // Acquire: pairs with `register`'s Release.
        let mut heap = REGISTRY.load(Ordering::Acquire);
        while !heap.is_null() {
            let addr = heap as usize;
            if !map.heaps().iter().any(|h| h.addr == addr) {
                // SAFETY: registered heaps are never freed; counters are atomics.
                let live = unsafe { &(*heap).counters }
                    .live
                    .iter()
                    // Relaxed: statistics.
                    .fold(0usize, |a, c| a.wrapping_add(c.load(Ordering::Relaxed)));
                map.push_heap(HeapInfo {
                    kind: HeapKind::Running,
                    addr,
                    live_blocks: (live as isize).max(0) as usize,
                });
            }
            // SAFETY: `heap` is a registered heap, and registered heaps are never unmapped.
            // Relaxed: written before the heap was published.
            heap = unsafe { (*heap).registry_next.load(Ordering::Relaxed) };
        }
        if !map.overflow {
            return map;
        }
        (heaps, segments, regions) = map.bigger_room();
    }
}

/// Gives free memory back to the OS now: the calling thread's free pages and empty segments,
/// and those of exited threads' heaps.
///
/// Other running threads' heaps return their free memory on their own: a few milliseconds
/// after it became free when their thread next reaches a slow path, and within about 0.6 s
/// through the background purger (see [`set_background_purge`]).
///
/// ```
/// let v: Vec<Vec<u8>> = (0..1000).map(|_| vec![0u8; 1000]).collect();
/// drop(v);
/// allocgator::trim();
/// ```
pub fn trim() {
    let heap = thread_heap();
    // SAFETY: the calling thread owns its heap (`collect` ignores the sentinel).
    unsafe { heap.collect(true) };
    crate::engine::huge::purge_cache(true);
    with_pooled_heaps(|pooled| {
        // SAFETY: holding the lock makes us the owner of every pooled heap.
        unsafe { pooled.collect(true) };
    });
}

/// The allocgator engine as the global allocator (and as an [`Allocator`]).
///
/// Each thread allocates from its own heap without locks; a block freed by another thread goes
/// back to its owner with one atomic push.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
///
/// fn main() {
///     let v: Vec<u64> = (0..1000).collect();
///     assert_eq!(v.iter().sum::<u64>(), 499_500);
/// }
/// ```
///
/// It is also an [`Allocator`] in its own right, for code that is generic over allocators:
///
/// ```
/// use allocgator::allocator_api2::vec::Vec;
///
/// let mut v = Vec::new_in(allocgator::Allocgator);
/// v.extend_from_slice(b"hello");
/// assert_eq!(&v[..], b"hello");
/// ```
///
/// [`Allocator`]: allocator_api2::alloc::Allocator
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocgator;

/// Everything the global fast path does not do, in one cold function so the fast path can
/// tail-call it (and needs no stack frame): refilling, large and huge blocks, failures, and a
/// thread's first allocation (the sentinel heap returns null; the thread then takes a heap and
/// retries). `extern "C"`: it cannot unwind, so the C ABI's `malloc` can tail-call it too (see
/// `Heap::free_local_slow`).
#[cold]
#[inline(never)]
extern "C" fn alloc_miss(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let heap = thread_heap();
    // SAFETY: the calling thread's own heap (or the sentinel); `size` and `align` form a valid
    // layout (callers of `alloc_block`).
    let mut p = unsafe { heap.alloc_slow(size, align, zeroed) };
    if p.is_null() && heap.is_sentinel() {
        // The thread's first allocation: take a heap and retry.
        if let Some(heap) = adopt_thread_heap() {
            // SAFETY: the heap is now this thread's; a valid layout (callers of `alloc_block`).
            p = unsafe { heap.alloc_slow(size, align, zeroed) };
        }
    }
    if p.is_null() {
        // Out of memory, or a layout the engine cannot serve: C's `malloc` says so in `errno`.
        #[cfg(unix)]
        crate::os::errno::set_enomem();
    }
    p
}

/// Allocates from the calling thread's heap: the fast path inline, the rest in `alloc_miss`.
/// Null on failure.
///
/// # Safety
/// `align` is a power of two and `size` rounded up to `align` does not overflow `isize` (what
/// `Layout::from_size_align` checks).
#[inline(always)]
pub(crate) unsafe fn alloc_block(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let heap = thread_heap();
    // SAFETY: the calling thread's own heap (or the sentinel, which has no blocks); a valid
    // layout (caller).
    let p = unsafe {
        if zeroed {
            heap.alloc_zeroed_fast(size, align)
        } else {
            heap.alloc_fast(size, align)
        }
    };
    if p.is_null() {
        return alloc_miss(size, align, zeroed);
    }
    p
}

/// Frees a block of the global path, from any thread.
///
/// # Safety
/// `p` is a live block of this engine's global path, not used afterwards.
#[inline(always)]
pub(crate) unsafe fn free_block(p: *mut u8) {
    // SAFETY: a live block (caller); the calling thread's own heap (or the sentinel, which
    // frees every block remotely); `free_elsewhere` frees as `free_remote` does.
    unsafe {
        thread_heap().free_via(p, free_elsewhere);
    }
}

/// The remote half of the global path's free: `Heap::free_remote`, and then, if the thread
/// has no heap, one for it. A thread that only frees what others allocate (a consumer) would
/// otherwise count every free in the process-wide heapless counters, which all such threads
/// contend for (on mimalloc-bench's xmalloc-test, 1.5× mimalloc's time); with a heap of its
/// own it counts them there, as its first allocation would have. Not after the thread's exit
/// (see [`EXITED`]), nor when the OS refuses a heap.
///
/// # Safety
/// As for `Heap::free_remote`.
#[cold]
#[inline(never)]
unsafe extern "C" fn free_elsewhere(heap: &Heap, p: *mut u8, seg: *mut Segment) -> bool {
    // SAFETY: `free_via` passes a live block of another heap, not used afterwards, with its
    // segment, and `heap` is the calling thread's own (or the sentinel).
    let heapless = unsafe { heap.free_remote(p, seg) };
    if heapless && ptr::eq(heap, &raw const SENTINEL) {
        let _ = adopt_thread_heap();
    }
    false
}

/// Resizes a block of the global path to `new_size` bytes aligned to `align`: in place when
/// the engine can, else allocate, copy `min(old_size, new_size)` bytes, free. Null on
/// failure, and then the block is untouched.
///
/// # Safety
/// `p` is a live block of this engine's global path that the caller holds, aligned to
/// `align`, with at least `old_size` usable bytes; `new_size` and `align` form a valid layout
/// (see [`alloc_block`]).
#[inline]
pub(crate) unsafe fn realloc_block(
    p: *mut u8,
    old_size: usize,
    new_size: usize,
    align: usize,
) -> *mut u8 {
    // SAFETY: a live block the caller holds (caller); our own heap.
    let same = unsafe { thread_heap().resize(p, new_size) };
    if !same.is_null() {
        return same;
    }
    // SAFETY: a valid layout (caller).
    let new = unsafe { alloc_block(new_size, align, false) };
    if !new.is_null() {
        // SAFETY: `p` is live with `old_size` usable bytes (caller), `new` is at least
        // `new_size` long, and they are distinct blocks; `p` is freed once, after the copy.
        unsafe {
            ptr::copy_nonoverlapping(p, new, old_size.min(new_size));
            free_block(p);
        }
    }
    new
}

// SAFETY: blocks are unique and live until freed; `alloc` returns null on failure and never
// unwinds (nothing on these paths panics); `realloc` keeps the old block when it fails.
unsafe impl GlobalAlloc for Allocgator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a `Layout`'s size rounded up to its alignment fits `isize`.
        unsafe { alloc_block(layout.size(), layout.align(), false) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a `Layout`'s size rounded up to its alignment fits `isize`.
        unsafe { alloc_block(layout.size(), layout.align(), true) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the GlobalAlloc contract: `ptr` is a live block of this allocator.
        unsafe { free_block(ptr) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the GlobalAlloc contract: `ptr` is a live block of ours allocated with
        // `layout` (so aligned to it), and `new_size` rounded up to `layout.align()` fits
        // `isize`.
        unsafe { realloc_block(ptr, layout.size(), new_size, layout.align()) }
    }
}

impl RawAllocator for Allocgator {
    #[inline]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        // SAFETY: a valid, non-zero-size layout (the helpers handle size 0).
        unsafe {
            if zeroed {
                self.alloc_zeroed(layout)
            } else {
                self.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn raw_free(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the Allocator contract: `ptr` is a live block of this allocator.
        unsafe { free_block(ptr) }
    }

    #[inline]
    unsafe fn raw_usable(&self, ptr: *mut u8, _layout: Layout) -> usize {
        // SAFETY: a live block of ours.
        unsafe { Heap::usable_size(ptr) }
    }

    #[inline]
    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, _old: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: a live block we hold; our own heap.
        unsafe { thread_heap().resize(ptr, new_size) }
    }
}

api::impl_allocator!(Allocgator);
