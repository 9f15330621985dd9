//! The one place atomics and cells come from.
//!
//! Normally these are `core` types (with a `with`/`with_mut` API on `UnsafeCell` so both sides
//! read the same); under `--cfg loom` they are loom's, so the loom models in `loom-tests/` check
//! the engine's own code rather than a copy of it. Nothing else in the crate names
//! `core::sync::atomic` or `core::cell::UnsafeCell` directly (clippy's `disallowed-types`
//! enforces it).

pub(crate) use core::sync::atomic::Ordering;

/// An ordering that a mutation build weakens to `Relaxed`: `weakened!(Release, "name")` is
/// `Ordering::Release`, or `Ordering::Relaxed` when the crate is built with
/// `--cfg allocgator_mutation="name"` (see `scripts/loom.sh`), so that a loom model can show
/// what the ordering provides by failing without it. A `const`, so the normal build pays
/// nothing. Mutations that change a step rather than an ordering keep their own `cfg`.
macro_rules! weakened {
    ($order:ident, $mutation:literal) => {{
        #[cfg(not(allocgator_mutation = $mutation))]
        const ORDER: $crate::sync::Ordering = $crate::sync::Ordering::$order;
        #[cfg(allocgator_mutation = $mutation)]
        const ORDER: $crate::sync::Ordering = $crate::sync::Ordering::Relaxed;
        ORDER
    }};
}
pub(crate) use weakened;

/// Thin `#[repr(transparent)]` twins of the core atomics, with the methods the crate uses.
/// Wrapping (rather than re-exporting) lets clippy's `disallowed-types` reject the core types
/// everywhere but here.
#[cfg(not(loom))]
macro_rules! atomic_twin {
    ($(#[$doc:meta])* $name:ident, $core:ty, $value:ty $(, $generic:ident)?) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        #[repr(transparent)]
        #[allow(clippy::disallowed_types)]
        pub(crate) struct $name$(<$generic>)?($core);

        #[allow(dead_code)]
        impl$(<$generic>)? $name$(<$generic>)? {
            #[inline(always)]
            pub(crate) const fn new(v: $value) -> Self {
                #[allow(clippy::disallowed_types)]
                Self(<$core>::new(v))
            }
            #[inline(always)]
            pub(crate) fn load(&self, order: Ordering) -> $value {
                self.0.load(order)
            }
            #[inline(always)]
            pub(crate) fn store(&self, v: $value, order: Ordering) {
                self.0.store(v, order)
            }
            #[inline(always)]
            pub(crate) fn swap(&self, v: $value, order: Ordering) -> $value {
                self.0.swap(v, order)
            }
            #[inline(always)]
            pub(crate) fn compare_exchange(
                &self,
                current: $value,
                new: $value,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$value, $value> {
                self.0.compare_exchange(current, new, success, failure)
            }
            #[inline(always)]
            pub(crate) fn compare_exchange_weak(
                &self,
                current: $value,
                new: $value,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$value, $value> {
                self.0.compare_exchange_weak(current, new, success, failure)
            }
        }
    };
}

#[cfg(not(loom))]
atomic_twin!(
    /// `core::sync::atomic::AtomicBool`, through the facade.
    AtomicBool, core::sync::atomic::AtomicBool, bool
);
#[cfg(not(loom))]
atomic_twin!(
    /// `core::sync::atomic::AtomicU8`, through the facade.
    AtomicU8, core::sync::atomic::AtomicU8, u8
);
#[cfg(not(loom))]
atomic_twin!(
    /// `core::sync::atomic::AtomicU32`, through the facade.
    AtomicU32, core::sync::atomic::AtomicU32, u32
);
#[cfg(not(loom))]
atomic_twin!(
    /// `core::sync::atomic::AtomicUsize`, through the facade.
    AtomicUsize, core::sync::atomic::AtomicUsize, usize
);
#[cfg(not(loom))]
atomic_twin!(
    /// `core::sync::atomic::AtomicPtr`, through the facade.
    AtomicPtr, core::sync::atomic::AtomicPtr<T>, *mut T, T
);

#[cfg(not(loom))]
impl AtomicUsize {
    /// `fetch_add`, wrapping.
    #[inline(always)]
    pub(crate) fn fetch_add(&self, v: usize, order: Ordering) -> usize {
        self.0.fetch_add(v, order)
    }
    /// `fetch_sub`, wrapping.
    #[inline(always)]
    pub(crate) fn fetch_sub(&self, v: usize, order: Ordering) -> usize {
        self.0.fetch_sub(v, order)
    }
    /// `fetch_or`.
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn fetch_or(&self, v: usize, order: Ordering) -> usize {
        self.0.fetch_or(v, order)
    }
    /// `fetch_and`.
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn fetch_and(&self, v: usize, order: Ordering) -> usize {
        self.0.fetch_and(v, order)
    }
    /// `fetch_min`.
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn fetch_min(&self, v: usize, order: Ordering) -> usize {
        self.0.fetch_min(v, order)
    }
    /// `fetch_max`.
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn fetch_max(&self, v: usize, order: Ordering) -> usize {
        self.0.fetch_max(v, order)
    }
}

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize};

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

/// Gives up the time slice (a spin loop that waits long); loom's yield under loom.
#[inline]
#[allow(dead_code)]
pub(crate) fn yield_thread() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
