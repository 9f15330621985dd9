//! The background purger: one thread of the engine's own that gives free memory back to the
//! OS while the program runs on its fast paths, sleeps, or after the threads that freed it
//! have exited.
//!
//! Each tick it walks every thread heap (running threads' and pooled ones alike) and runs
//! `Heap::purge_in_background` on it, which decommits slices that have been free for a whole
//! tick (it never unmaps), taking each heap's segment lock only to read and mark bitmaps and
//! never waiting for it (see `engine::purge`). Ticks come every
//! `max(ALLOCGATOR_PURGE_DELAY_MS, 100)` ms while a tick finds free committed memory, and
//! every 500 ms otherwise, so memory freed and left alone is back with the OS within about
//! 0.6 s; an idle program costs two wake-ups a second.
//!
//! # When it runs
//!
//! On by default (`ALLOCGATOR_BACKGROUND_PURGE=0` or [`set_background_purge(false)`] turn it
//! off), and started lazily: the first time a heap's free memory starts waiting for a purge
//! while the engine has committed `START_COMMITTED` (32 MiB) or more, so small programs — most
//! processes a drop-in `malloc` runs in — never get a thread. The engine tells it from its
//! slow paths at a point where glibc's `pthread_create` may itself call `malloc` (see
//! `Heap::maybe_purge`); the thread never allocates.
//!
//! # fork
//!
//! A tick holds `FORK_LOCK` while it works on one heap, and the fork handlers take it before
//! `fork()`, so a child never inherits a segment lock held by the purger (the purger's thread
//! does not exist in the child) or half-purged slices. The child starts its own purger the
//! same lazy way.
//!
//! [`set_background_purge(false)`]: crate::set_background_purge

use super::REGISTRY;
use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// Not started; starts when `START_COMMITTED` is reached (if the option allows).
const WANTED: u8 = 0;
/// Being started by one thread.
const STARTING: u8 = 1;
/// The thread runs.
const RUNNING: u8 = 2;
/// Off: by the option, by `set_background_purge(false)`, or the OS refused a thread.
const OFF: u8 = 3;

/// The purger's state (one of the constants above).
static STATE: AtomicU8 = AtomicU8::new(WANTED);
/// Bumped whenever a running purger must stop; a thread runs only while it is the generation
/// it started with.
static GENERATION: AtomicUsize = AtomicUsize::new(0);
/// Held by a tick while it works on one heap, and by a forking thread across `fork()`.
static FORK_LOCK: AtomicBool = AtomicBool::new(false);

/// Committed bytes from which the purger starts by itself.
const START_COMMITTED: usize = 32 << 20;
/// Ticks while there is work: the purge delay, but not more often than this.
const BUSY_TICK_MS: u64 = 100;
/// Ticks while a tick found nothing to do.
const IDLE_TICK_MS: u64 = 500;

/// Lets the engine tell us when free memory starts waiting for a purge (called whenever a
/// thread heap is set up; storing the same pointer again changes nothing).
pub(super) fn register_once() {
    #[cfg(not(loom))]
    crate::engine::purge::set_on_memory_waiting(maybe_start);
}

/// Starts the purger if it is wanted and the engine has committed enough memory to be worth
/// it. The engine calls it when a heap's free memory starts waiting for a purge, at most once
/// per purge tick per heap, where an allocation may start.
fn maybe_start() {
    #[cfg(all(unix, not(miri), not(loom)))]
    // Relaxed: a hint; `start` decides with an RMW.
    if STATE.load(Ordering::Relaxed) == WANTED {
        if !crate::options::background_purge() {
            // Relaxed: only this flag changes.
            let _ = STATE.compare_exchange(WANTED, OFF, Ordering::Relaxed, Ordering::Relaxed);
            return;
        }
        // Relaxed: statistics; a stale value only delays the start to a later slow path.
        let committed = crate::engine::stats::counters()
            .committed
            .load(Ordering::Relaxed);
        if committed >= START_COMMITTED {
            start(WANTED);
        }
    }
}

/// Starts the thread if the state is still `from`. Returns whether a purger runs.
fn start(from: u8) -> bool {
    // Relaxed: the state orders nothing; the thread reads only atomics and published heaps.
    if STATE
        .compare_exchange(from, STARTING, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return STATE.load(Ordering::Relaxed) == RUNNING;
    }
    #[cfg(all(unix, not(miri), not(loom)))]
    {
        // Relaxed: read back by the thread through its argument.
        let generation = GENERATION.load(Ordering::Relaxed);
        // Set before the thread exists, so it never sees itself not running.
        STATE.store(RUNNING, Ordering::Relaxed);
        let arg = generation as *mut core::ffi::c_void;
        if crate::os::thread::spawn_detached(run, c"allocgator-purge", arg) {
            return true;
        }
    }
    STATE.store(OFF, Ordering::Relaxed);
    false
}

/// Whether a purger runs or may still start: false when it is off (by the option, by
/// `set_background_purge(false)`, or because the OS refused a thread). The state decides
/// once a purger was started or turned off; before that, the option does (a purger started
/// by `set_background_purge(true)` runs whatever the option says).
pub(super) fn may_run() -> bool {
    // Relaxed: a hint for thread exit; a stale answer costs page faults or a tick's delay.
    match STATE.load(Ordering::Relaxed) {
        OFF => false,
        WANTED => background_purge_allowed(),
        _ => true,
    }
}

/// The option (`ALLOCGATOR_BACKGROUND_PURGE`), where the environment is read.
fn background_purge_allowed() -> bool {
    #[cfg(all(unix, not(miri), not(loom)))]
    return crate::options::background_purge();
    #[cfg(not(all(unix, not(miri), not(loom))))]
    false
}

/// Turns the background purger on (starting it now, whatever memory is committed) or off (it
/// stops at its next tick). Returns whether a purger runs after the call.
///
/// Without a purger, free memory still goes back to the OS a purge delay after it became free
/// — but only when the thread that owns it reaches a slow path (allocates a new page, or
/// empties one), exits, or calls [`trim()`](crate::trim).
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
///
/// fn main() {
///     // A server that stays idle between bursts: the purger hands their memory back.
///     let on = allocgator::set_background_purge(true);
///     # let _ = on;
///     let burst: Vec<Vec<u8>> = (0..10_000).map(|_| vec![1u8; 1000]).collect();
///     drop(burst);
///     // Or a program that must not have a thread of the allocator's:
///     assert!(!allocgator::set_background_purge(false));
/// }
/// ```
pub fn set_background_purge(on: bool) -> bool {
    if on {
        // From either resting state; a thread already running or starting is kept.
        start(WANTED) || start(OFF)
    } else {
        // Relaxed: the thread reads both at its next tick and stops.
        STATE.store(OFF, Ordering::Relaxed);
        GENERATION.fetch_add(1, Ordering::Relaxed);
        false
    }
}

/// The thread: ticks until its generation ends.
#[cfg(all(unix, not(miri), not(loom)))]
extern "C" fn run(arg: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    let generation = arg as usize;
    let mut more = true;
    loop {
        let tick = if more {
            crate::options::purge_delay_ms().max(BUSY_TICK_MS)
        } else {
            IDLE_TICK_MS
        };
        crate::os::thread::sleep_ms(tick);
        // Relaxed: a stop request needs no ordering; it is seen at most one tick late.
        if STATE.load(Ordering::Relaxed) != RUNNING
            || GENERATION.load(Ordering::Relaxed) != generation
        {
            return core::ptr::null_mut();
        }
        more = tick_all();
    }
}

/// One tick over every thread heap and the huge-block cache. Returns whether work is left.
#[cfg(all(unix, not(miri), not(loom)))]
fn tick_all() -> bool {
    let mut more = false;
    // Acquire: pairs with `register`'s Release, so every published heap is fully set up.
    let mut heap = REGISTRY.load(Ordering::Acquire);
    // SAFETY: registered heaps are never freed.
    while let Some(h) = unsafe { heap.as_ref() } {
        hold_fork_lock();
        more |= h.purge_in_background();
        release_fork_lock();
        // Relaxed: written before the heap was published.
        heap = h.registry_next.load(Ordering::Relaxed);
    }
    hold_fork_lock();
    crate::engine::huge::purge_cache(false);
    release_fork_lock();
    more
}

/// Takes `FORK_LOCK` (a tick, or a thread about to fork).
pub(super) fn hold_fork_lock() {
    // Acquire: a forking thread that takes the lock sees the tick's work done.
    while FORK_LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        crate::sync::spin_hint();
    }
}

/// Releases `FORK_LOCK`.
pub(super) fn release_fork_lock() {
    // Release: pairs with `hold_fork_lock`'s Acquire.
    FORK_LOCK.store(false, Ordering::Release);
}

/// In a forked child: the purger's thread did not survive the fork; the next slow path may
/// start a new one (if one ran in the parent).
pub(super) fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    // Relaxed: the child has one thread.
    if STATE.load(Ordering::Relaxed) != OFF {
        STATE.store(WANTED, Ordering::Relaxed);
    }
    release_fork_lock();
}
