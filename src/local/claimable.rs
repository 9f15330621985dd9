//! [`Claimable`]: a value one thread at a time owns, claimed with a CAS and released with a
//! store — how a thread takes a static pool's cache slot and gives it back at exit.
//!
//! Split from `thread_cache` so that the loom models drive this code
//! (`loom_api::ModelClaimable`).

use crate::sync::{AtomicBool, Ordering, UnsafeCell};

/// A value that at most one thread owns at a time.
pub(crate) struct Claimable<T> {
    /// Owned by a thread.
    owner: AtomicBool,
    /// Touched only by the owner.
    value: UnsafeCell<T>,
}

// SAFETY: `value` is touched only by the owner; ownership passes from one thread to the next
// through `owner` (a Release store, then an Acquire CAS), which orders the previous owner's
// accesses before the next owner's.
unsafe impl<T: Send> Sync for Claimable<T> {}

impl<T> Claimable<T> {
    /// An unowned value.
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Claimable {
            owner: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// An unowned value.
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Claimable {
            owner: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// A value owned for ever by nobody in particular: never claimed, so never written by
    /// anyone who follows these rules (a sentinel others may read).
    #[cfg(not(loom))]
    pub(crate) const fn owned(value: T) -> Self {
        Claimable {
            owner: AtomicBool::new(true),
            value: UnsafeCell::new(value),
        }
    }

    /// Claims the value if nobody owns it; true if the caller now owns it.
    pub(crate) fn try_claim(&self) -> bool {
        const CLAIM: Ordering = crate::sync::weakened!(Acquire, "cache_claim_relaxed");
        // Relaxed probe (skips a CAS on an owned value); Acquire on the claim: the previous
        // owner's accesses happened before its Release in `release`.
        !self.owner.load(Ordering::Relaxed)
            && self
                .owner
                .compare_exchange(false, true, CLAIM, Ordering::Relaxed)
                .is_ok()
    }

    /// Runs `f` on a shared pointer to the value.
    ///
    /// # Safety
    /// The caller owns the value, or it is [`owned`](Self::owned) and nobody writes it.
    #[inline(always)]
    pub(crate) unsafe fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.value.with(f)
    }

    /// Runs `f` on a mutable pointer to the value.
    ///
    /// # Safety
    /// The caller owns the value (and it is not [`owned`](Self::owned)).
    #[inline(always)]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.value.with_mut(f)
    }

    /// Gives the value up.
    ///
    /// # Safety
    /// The caller owns the value and does not touch it afterwards.
    pub(crate) unsafe fn release(&self) {
        const RELEASE: Ordering = crate::sync::weakened!(Release, "cache_release_relaxed");
        // Release: our accesses to the value happen before the next owner's (its Acquire
        // claim reads this store).
        self.owner.store(false, RELEASE);
    }
}
