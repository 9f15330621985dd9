//! Process-wide calls: abort, exit handlers, fork handlers. None of them allocates through the
//! global path (glibc keeps the first 32 `atexit` handlers in static storage, and its own
//! `pthread_atfork` list is allocated with its internal allocator, never the Rust global one).

/// Ends the process with `SIGABRT` (no unwinding, no destructors, no allocation).
#[cold]
pub(crate) fn abort() -> ! {
    // SAFETY: `abort` takes no arguments and has no preconditions.
    unsafe { libc::abort() }
}

/// Registers `f` to run at normal process exit. False if the C library refuses.
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: an `extern "C"` function that takes no arguments; it never unwinds (the
    // callers' handlers catch nothing and call nothing that panics).
    unsafe { libc::atexit(f) == 0 }
}

/// Registers fork handlers: `prepare` in the forking thread before `fork`, `parent` and
/// `child` on each side after it. False if the C library refuses.
#[cfg(not(miri))]
pub(crate) fn at_fork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> bool {
    // SAFETY: three `extern "C"` functions that take no arguments and never unwind.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}
