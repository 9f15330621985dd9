//! The one place atomics and cells come from.
//!
//! Normally these are `core` types (with a `with`/`with_mut` API on `UnsafeCell` so both sides
//! read the same); under `--cfg loom` they are loom's, so the loom models in `loom-tests/` check
//! the engine's own code rather than a copy of it. Nothing else in the crate names
//! `core::sync::atomic` or `core::cell::UnsafeCell` directly (clippy's `disallowed-types`
//! enforces it).

#[cfg(not(loom))]
#[allow(clippy::disallowed_types)]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// `UnsafeCell` with loom's closure API, zero-cost outside loom.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(#[allow(clippy::disallowed_types)] core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        #[allow(clippy::disallowed_types)]
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Hint for spin loops; a real yield under loom so models make progress.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
