//! `errno`, as C callers see it.
//!
//! Two rules, for the engine's life inside C programs (`liballocgator.so`):
//! - **`free` never changes `errno`** (glibc's does not, and programs read `errno` after a
//!   `free` that followed the call that failed). So every OS call of the engine's keeps it
//!   ([`KeepErrno`]): freeing may unmap or decommit, and a failed in-place `mremap` is an
//!   ordinary step of a successful `realloc`.
//! - **A failed allocation sets `errno = ENOMEM`**, as C's `malloc` does ([`set_enomem`], on the
//!   global path's slow path only). Rust callers never read it; C callers rely on it.
//!
//! Under Miri there is no `errno` to keep: both are no-ops.

/// Restores `errno` when dropped. (Unused under Miri, whose OS layer is `std`'s allocator.)
#[cfg_attr(miri, allow(dead_code))]
pub(crate) struct KeepErrno(#[cfg(not(miri))] libc::c_int);

#[cfg_attr(miri, allow(dead_code))]
impl KeepErrno {
    /// Saves the calling thread's `errno`.
    #[inline]
    pub(crate) fn new() -> Self {
        #[cfg(not(miri))]
        // SAFETY: `errno_location` returns the calling thread's `errno`, always valid.
        return Self(unsafe { *errno_location() });
        #[cfg(miri)]
        Self()
    }
}

impl Drop for KeepErrno {
    #[inline]
    fn drop(&mut self) {
        #[cfg(not(miri))]
        // SAFETY: `errno_location` returns the calling thread's `errno`, always valid.
        unsafe {
            *errno_location() = self.0
        };
    }
}

/// Sets the calling thread's `errno` to `ENOMEM`.
#[cold]
pub(crate) fn set_enomem() {
    #[cfg(not(miri))]
    // SAFETY: `errno_location` returns the calling thread's `errno`, always valid.
    unsafe {
        *errno_location() = libc::ENOMEM
    };
}

/// The calling thread's `errno`.
#[cfg(all(not(miri), any(target_os = "linux", target_os = "android")))]
#[inline]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions.
    unsafe { libc::__errno_location() }
}

/// The calling thread's `errno`.
#[cfg(all(not(miri), not(any(target_os = "linux", target_os = "android"))))]
#[inline]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions.
    unsafe { libc::__error() }
}
