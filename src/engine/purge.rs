//! The background purge tick: decommitting a heap's free memory from another thread, while the
//! heap's owner runs on its fast paths, sleeps, or has exited.
//!
//! A heap's owner purges its own free slices on its slow paths (`Heap::purge`), but a program
//! that only allocates and frees on the fast paths, or that sleeps, never gets there, and a
//! pooled heap has no owner at all. The background purger (see `global::purger`) walks every
//! thread heap and calls [`Heap::purge_in_background`] on each, about every
//! `PURGER_TICK_MS` (a tick of the global layer).
//!
//! # The protocol
//!
//! Everything that says which slices are free — a heap's segment lists and each segment's
//! `SegmentLocal` — is touched only under the heap's segment lock, by the owner and by the
//! purger alike. The purger never makes a system call under the lock, so the owner never waits
//! for one:
//!
//! 1. under the lock, each segment's free committed slices that were already free at the
//!    previous tick are *claimed* (`SegmentLocal::purging`): they count as in use, so the owner
//!    neither takes them for a page nor releases their segment;
//! 2. without the lock, the claimed slices are decommitted (`madvise`);
//! 3. under the lock again, the claims are dropped and the slices marked decommitted.
//!
//! A last pass under the lock makes every free committed slice a candidate for the next tick.
//!
//! The purger gives back memory, not address space: it never unmaps a segment (the owner's own
//! tick does, for segments empty for a whole tick). Unmapping would change nothing for RSS (an
//! empty, decommitted segment keeps only its header's few pages), and under an address-space
//! limit a segment unmapped behind the owner's back can be impossible to map again (mapping an
//! aligned segment takes twice its size for a moment).
//!
//! The purger only ever *tries* the lock: a heap whose owner holds it is skipped until the next
//! tick. The owner waits for the purger in one case only: it needs a page, no slice is free,
//! and some are claimed — it waits for the claims to finish (`Heap::take_span`) rather than
//! map a new segment, which would grow the address space for nothing or, under an
//! address-space limit, fail. The loom model `purger_and_owner_share_a_segment` runs this against an owner taking
//! and freeing pages; it catches a purger that decommits slices without claiming them
//! (mutation `purge_without_claim`) and a lock without its Acquire / Release pair
//! (`segment_lock_relaxed`).

use super::heap::Heap;

/// How long free memory stays committed before it is purged, by default (ms).
pub(crate) const DEFAULT_DELAY_MS: u64 = 10;

/// The purge delay (ms): set once by the options layer when it reads the environment
/// (`ALLOCGATOR_PURGE_DELAY_MS`), before the first heap is created.
#[cfg(not(loom))]
static DELAY_MS: crate::sync::AtomicUsize =
    crate::sync::AtomicUsize::new(DEFAULT_DELAY_MS as usize);

/// How long free memory stays committed before it is purged (ms). Slow paths only.
#[cfg(not(loom))]
#[inline]
pub(crate) fn delay_ms() -> u64 {
    // Relaxed: set before the first heap exists (the options layer publishes it with the
    // Release store that marks the options read, which every heap's creator acquired).
    DELAY_MS.load(crate::sync::Ordering::Relaxed) as u64
}

/// The purge delay under loom: the default (models do not read the environment).
#[cfg(loom)]
#[inline]
pub(crate) fn delay_ms() -> u64 {
    DEFAULT_DELAY_MS
}

/// Sets the purge delay (the options layer, once, before the first heap).
#[cfg(not(loom))]
pub(crate) fn set_delay_ms(ms: u64) {
    // Relaxed: see `delay_ms`.
    DELAY_MS.store(ms as usize, crate::sync::Ordering::Relaxed);
}
use super::segment::Segment;
use core::ptr;

/// What a heap's owner calls when free memory starts waiting for a purge (at most once per
/// purge tick, at a point where it may allocate): set by the global layer, which starts its
/// background purger from there. Stored as a pointer; null until set.
#[cfg(not(loom))]
static ON_MEMORY_WAITING: crate::sync::AtomicPtr<()> = crate::sync::AtomicPtr::new(ptr::null_mut());

/// Sets what [`memory_waiting`] calls.
#[cfg(not(loom))]
pub(crate) fn set_on_memory_waiting(f: fn()) {
    // Relaxed: a function pointer, which publishes no data.
    ON_MEMORY_WAITING.store(f as *mut (), crate::sync::Ordering::Relaxed);
}

/// Tells the global layer that free memory is waiting for a purge (see `ON_MEMORY_WAITING`).
#[cfg(not(loom))]
pub(crate) fn memory_waiting() {
    // Relaxed: as above.
    let f = ON_MEMORY_WAITING.load(crate::sync::Ordering::Relaxed);
    if !f.is_null() {
        // SAFETY: the only non-null value stored is a `fn()` (`set_on_memory_waiting`).
        let f: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(f) };
        f();
    }
}

/// Models start no purger thread.
#[cfg(loom)]
pub(crate) fn memory_waiting() {}

/// Segments claimed from per lock hold (their claims are decommitted before the next hold).
const BATCH: usize = 16;

impl Heap {
    /// One background purge tick over this heap (any thread; see the module docs). Returns
    /// whether free committed memory is left for a later tick (or the heap was busy).
    ///
    /// Never waits for the owner, never allocates, and decommits only slices that have been
    /// free for a whole tick.
    pub(crate) fn purge_in_background(&self) -> bool {
        // (No `is_sentinel` test: that reads the owner's state. A sentinel has no segments.)
        loop {
            let mut claimed = [(ptr::null_mut::<Segment>(), 0u64); BATCH];
            let mut n = 0;
            {
                let Some(guard) = self.try_lock_segments() else {
                    return true;
                };
                // SAFETY: we hold the segment lock, which guards the lists and every
                // `SegmentLocal` of the heap's segments; no other borrow of the lists, and
                // claiming changes none.
                for seg in unsafe { guard.segments() } {
                    // SAFETY: a listed segment, under the lock.
                    let bits = unsafe { Segment::claim_for_purge(seg) };
                    if bits != 0 {
                        claimed[n] = (seg, bits);
                        n += 1;
                        if n == BATCH {
                            break;
                        }
                    }
                }
            }
            if n == 0 {
                break;
            }
            for &(seg, bits) in &claimed[..n] {
                // SAFETY: claimed from this live segment just now; claimed slices keep the
                // segment alive (it is not released while it has claims).
                unsafe { Segment::decommit_slices(seg, bits) };
            }
            let guard = self.lock_segments();
            for &(seg, bits) in &claimed[..n] {
                // SAFETY: we hold the lock; the bits were claimed and are now decommitted.
                unsafe { Segment::finish_purge(seg, bits) };
            }
            drop(guard);
            if n < BATCH {
                break;
            }
        }
        self.mark_candidates()
    }

    /// The tick's last pass (module docs): free committed slices become the next tick's
    /// candidates. Returns whether any is left for a later tick.
    fn mark_candidates(&self) -> bool {
        let Some(guard) = self.try_lock_segments() else {
            return true;
        };
        let mut more = false;
        // SAFETY: we hold the segment lock (lists and segment state); no other borrow of the
        // lists, and marking changes none.
        for seg in unsafe { guard.segments_with_room() } {
            // SAFETY: a listed segment, under the lock.
            more |= unsafe { Segment::mark_purge_candidates(seg) };
        }
        more
    }
}
