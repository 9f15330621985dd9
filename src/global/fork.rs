//! `fork()` safety: no engine lock is held across a fork.
//!
//! The global path has two locks of its own: the heap pool's (taken when a thread starts or
//! exits, by `trim()` and by the statistics walks), and the background purger's fork lock
//! (held while it works on one heap, see `purger`). A thread that forks while another holds it would
//! leave the child with a lock nobody can release, and the child's first thread start or
//! `trim()` would spin forever. `pthread_atfork` handlers, registered when the first thread
//! heap is created, take the lock before the fork and release it on both sides after, so the
//! child starts with the pool unlocked and consistent.
//!
//! Everything else the engine shares between threads is lock-free, and a child can free what
//! any parent thread allocated: a block of a heap whose thread did not survive the fork goes on
//! its page's remote list, as any cross-thread free does (that heap's memory stays with it: the
//! child has no thread to own it, as with every per-thread allocator).

#[cfg(all(unix, not(miri)))]
use super::POOL;
use crate::sync::{AtomicBool, Ordering};

/// Whether the handlers are registered (or being registered).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the fork handlers, once per process. Called when the first thread heap is
/// created, after the thread's heap is installed: glibc's `pthread_atfork` may allocate, and
/// that allocation is then served by the new heap.
pub(super) fn register_once() {
    // Relaxed: the flag guards only the registration, which orders nothing else; a losing
    // thread does not wait for the winner (a fork before the winner's call returns finds no
    // lock of ours held either way, since the handlers protect only later forks).
    if REGISTERED.swap(true, Ordering::Relaxed) {
        return;
    }
    #[cfg(all(unix, not(miri)))]
    crate::os::process::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
}

/// Runs in the forking thread just before `fork`: takes the pool lock (waiting for a holder
/// to finish), so no other thread is inside the pool when the address space is copied, and
/// the background purger's fork lock (waiting for its work on one heap to finish), so the
/// child inherits no segment lock or slice claim of the purger's.
#[cfg(all(unix, not(miri)))]
extern "C" fn before_fork() {
    POOL.hold();
    super::purger::hold_fork_lock();
}

/// Runs in the parent right after `fork`: releases what `before_fork` took.
#[cfg(all(unix, not(miri)))]
extern "C" fn after_fork_in_parent() {
    super::purger::release_fork_lock();
    // SAFETY: `before_fork` took the lock in this thread, and nothing released it since.
    unsafe { POOL.release_held() };
}

/// Runs in the child right after `fork`: releases what `before_fork` took, and lets the
/// child start a purger of its own (the parent's thread is not in the child).
#[cfg(all(unix, not(miri)))]
extern "C" fn after_fork_in_child() {
    super::purger::after_fork_in_child();
    // SAFETY: `before_fork` took the lock in the thread that became the child's only thread,
    // and nothing released it since.
    unsafe { POOL.release_held() };
}
