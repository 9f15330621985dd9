//! [`HeapPool`]: heaps without an owner, waiting for the next thread.
//!
//! A thread that exits abandons its heap whole: it collects (retiring what is empty) and
//! pushes the heap here, live blocks, pages and pending list included. Other threads keep
//! freeing into its pages through the usual remote path (the segments' owner does not change,
//! so neither does the remote-free protocol). The next thread that needs a heap adopts one from
//! here before mapping a new one. The loom model `abandoned_heap_is_reclaimed` drives this
//! type with remote frees racing the hand-over.
//!
//! A small spin lock guards the list: it is taken only when a thread starts or exits and by
//! `trim()`, and whoever holds it owns every pooled heap. Its Acquire / Release pair is what
//! hands a heap's owner-only state from the abandoning thread to the adopting one.

use super::heap::Heap;
use crate::sync::{AtomicBool, AtomicPtr, Ordering};
use core::ptr;

/// Heaps whose owner has gone (see the module docs).
pub(crate) struct HeapPool {
    /// Held while the list is read or changed; the holder owns every pooled heap.
    lock: AtomicBool,
    /// The pooled heaps, linked through `Heap::pool_next` (lock-protected).
    head: AtomicPtr<Heap>,
}

/// The pool lock, released on drop.
pub(crate) struct PoolGuard<'a>(&'a HeapPool);

/// Acquire and release orders of the lock (a test-only switch weakens them so the loom model
/// can show the hand-over they provide).
const LOCK_ORDERS: (Ordering, Ordering) = (
    crate::sync::weakened!(Acquire, "heap_pool_lock_relaxed"),
    crate::sync::weakened!(Release, "heap_pool_lock_relaxed"),
);

impl HeapPool {
    /// An empty pool.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> HeapPool {
        HeapPool {
            lock: AtomicBool::new(false),
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// An empty pool.
    #[cfg(loom)]
    pub(crate) fn new() -> HeapPool {
        HeapPool {
            lock: AtomicBool::new(false),
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Takes the lock: the holder owns every pooled heap until the guard drops.
    pub(crate) fn lock(&self) -> PoolGuard<'_> {
        let mut spins = 0u32;
        // Acquire: everything the previous holder did to pooled heaps is visible to us.
        // (Retrying the CAS itself rather than spinning on a plain load: the lock is taken
        // only at thread start and exit, and an RMW always sees the latest value, which also
        // keeps the loom models free of unbounded stale-read loops.)
        while self
            .lock
            .compare_exchange_weak(false, true, LOCK_ORDERS.0, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                crate::sync::spin_hint();
            } else {
                crate::sync::yield_thread();
            }
        }
        PoolGuard(self)
    }

    /// Takes the lock with no guard, for a `fork()` handler: the lock stays held until
    /// [`release_held`](Self::release_held). (Not built for Miri, which has no `fork`.)
    #[cfg_attr(miri, allow(dead_code))]
    pub(crate) fn hold(&self) {
        core::mem::forget(self.lock());
    }

    /// Releases a lock taken by [`hold`](Self::hold).
    ///
    /// # Safety
    /// The caller's thread took the lock with `hold` (in a forked child: the thread that
    /// forked did), and nobody released it since.
    #[cfg_attr(miri, allow(dead_code))]
    pub(crate) unsafe fn release_held(&self) {
        drop(PoolGuard(self));
    }

    /// Abandons `heap` into the pool: collects it (retiring empty pages, keeping the rest for
    /// the next owner) and lists it. With `release`, its free memory goes back to the OS first
    /// (when no background purger will do it later).
    ///
    /// # Safety
    /// The caller owns `heap` (a thread heap, never destroyed) and gives up ownership: it does
    /// not use the heap afterwards except to free blocks remotely like any other thread.
    pub(crate) unsafe fn abandon(&self, heap: *mut Heap, release: bool) {
        // SAFETY: we still own the heap (caller).
        unsafe { (*heap).collect(release) };
        let guard = self.lock();
        // SAFETY: the heap is valid (caller); we hold the lock.
        unsafe { guard.push(heap) };
    }

    /// Adopts a pooled heap (the caller becomes its owner); null if the pool is empty.
    pub(crate) fn adopt(&self) -> *mut Heap {
        let guard = self.lock();
        guard.pop()
    }
}

impl PoolGuard<'_> {
    /// Lists `heap`.
    ///
    /// # Safety
    /// `heap` is a valid heap nobody owns any more (the pool takes it over).
    unsafe fn push(&self, heap: *mut Heap) {
        // SAFETY: valid (caller). Relaxed: the list is lock-protected.
        unsafe {
            (*heap)
                .pool_next
                .store(self.0.head.load(Ordering::Relaxed), Ordering::Relaxed)
        };
        // Relaxed: lock-protected.
        self.0.head.store(heap, Ordering::Relaxed);
    }

    /// Unlists the most recently pooled heap; null if none.
    fn pop(&self) -> *mut Heap {
        // Relaxed: lock-protected.
        let head = self.0.head.load(Ordering::Relaxed);
        if !head.is_null() {
            // SAFETY: pooled heaps are valid; we hold the lock. Relaxed: lock-protected.
            let next = unsafe { (*head).pool_next.load(Ordering::Relaxed) };
            // Relaxed: lock-protected.
            self.0.head.store(next, Ordering::Relaxed);
        }
        head
    }

    /// Calls `f` on every pooled heap; the lock holder owns them meanwhile.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Heap)) {
        // Relaxed: lock-protected.
        let mut heap = self.0.head.load(Ordering::Relaxed);
        // SAFETY: pooled heaps are valid while listed; we hold the lock.
        while let Some(h) = unsafe { heap.as_ref() } {
            f(h);
            // Relaxed: lock-protected.
            heap = h.pool_next.load(Ordering::Relaxed);
        }
    }
}

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        // Release: publishes our changes to pooled heaps to the next holder.
        self.0.lock.store(false, LOCK_ORDERS.1);
    }
}
