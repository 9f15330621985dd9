//! The OS layer: every call into the C library. Reserve, decommit and release address space
//! ([`OsMemory`]); and, below, stderr, `errno`, the environment, exit and fork handlers, a
//! thread-exit key and the purger's thread.
//!
//! One trait, [`OsMemory`], one implementation per platform ([`unix::Unix`] over `mmap`), and a
//! fallback over `std::alloc::System` ([`system::SystemFallback`]) that Miri and loom use: Miri
//! supports only plain private anonymous `mmap` (no `madvise`, no partial `munmap`), and loom
//! models must not depend on the process's address space.
//!
//! On Linux a reservation is usable at once: pages are committed by the kernel on first touch,
//! so "commit" needs no call, and "decommit" (`madvise(MADV_DONTNEED)`) gives the physical pages
//! back while keeping the range reserved (it reads back as zeros).
//!
//! Nothing here allocates, panics or unwinds: failures come back as null pointers.

#[cfg(all(unix, not(miri), not(loom)))]
pub(crate) mod unix;

#[cfg(feature = "hardened")]
pub(crate) mod entropy;
#[cfg(all(unix, not(miri), not(loom)))]
pub(crate) mod env;
#[cfg(all(unix, not(loom)))]
pub(crate) mod errno;
#[cfg(all(unix, not(loom)))]
pub(crate) mod process;
#[cfg(all(unix, not(loom)))]
pub(crate) mod stderr;
pub(crate) mod system;
#[cfg(all(unix, not(miri), not(loom)))]
pub(crate) mod thread;
#[cfg(all(unix, not(loom)))]
pub(crate) mod thread_exit;

/// The smallest unit the OS maps; every size and alignment given to [`OsMemory`] is a
/// multiple of it.
pub(crate) const OS_PAGE: usize = 4096;

/// Address-space operations the engine needs from the OS.
pub(crate) trait OsMemory {
    /// Whether decommitted memory reads back as zeros once touched again.
    const DECOMMIT_ZEROES: bool;

    /// Maps `size` fresh, zeroed bytes aligned to `align`.
    ///
    /// Returns null on failure (including sizes the platform cannot represent).
    ///
    /// # Safety
    /// `size` is a non-zero multiple of [`OS_PAGE`]; `align` is a power of two `>= OS_PAGE`.
    unsafe fn map(size: usize, align: usize) -> *mut u8;

    /// Releases a mapping made by [`map`](Self::map) (or returned by [`remap`](Self::remap)).
    ///
    /// # Safety
    /// `ptr`, `size` and `align` are exactly those of one live mapping; nothing in it is used
    /// afterwards.
    unsafe fn unmap(ptr: *mut u8, size: usize, align: usize);

    /// Returns the physical memory behind `[ptr, ptr + size)` to the OS, keeping the range
    /// usable: touching it again faults in fresh pages (zeroed if [`Self::DECOMMIT_ZEROES`]).
    ///
    /// # Safety
    /// The range lies inside one live mapping, is `OS_PAGE`-aligned, and holds nothing anyone
    /// still needs.
    unsafe fn decommit(ptr: *mut u8, size: usize);

    /// Resizes a mapping to `new_size`, in place or by moving its pages (no copy), keeping
    /// `align`. Returns null when it cannot (the old mapping is then untouched).
    ///
    /// # Safety
    /// As for [`unmap`](Self::unmap) for the old mapping; `new_size` as for [`map`](Self::map).
    unsafe fn remap(ptr: *mut u8, old_size: usize, new_size: usize, align: usize) -> *mut u8;

    /// Makes `[ptr, ptr + size)` a guard (no access: any touch faults) or, with `guard`
    /// false, ordinary read-write memory again. Returns false if the OS refused. (The hardened
    /// build's guard pages; the fallback has none and always succeeds.)
    ///
    /// # Safety
    /// The range lies inside one live mapping and is `OS_PAGE`-aligned; while it is a guard,
    /// nothing in it is used.
    unsafe fn protect(ptr: *mut u8, size: usize, guard: bool) -> bool;
}

/// The implementation the engine uses on this target.
#[cfg(all(unix, not(miri), not(loom)))]
pub(crate) type Os = unix::Unix;
/// The implementation the engine uses on this target.
#[cfg(not(all(unix, not(miri), not(loom))))]
pub(crate) type Os = system::SystemFallback;

/// A monotonic clock in milliseconds, read without allocating (on the slow path only).
#[inline]
pub(crate) fn now_ms() -> u64 {
    #[cfg(all(unix, not(loom)))]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Unix.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64).wrapping_mul(1000) + (ts.tv_nsec as u64) / 1_000_000
    }
    #[cfg(any(not(unix), loom))]
    {
        // Models and non-Unix fallbacks: a logical clock that advances on every read, so
        // delayed work still happens, deterministically.
        use crate::sync::{AtomicUsize, Ordering};
        #[cfg(not(loom))]
        static TICKS: AtomicUsize = AtomicUsize::new(0);
        #[cfg(loom)]
        loom::lazy_static! { static ref TICKS: AtomicUsize = AtomicUsize::new(0); }
        // Relaxed: a counter with no data attached to it.
        TICKS.fetch_add(1, Ordering::Relaxed) as u64
    }
}
