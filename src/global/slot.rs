//! The calling thread's heap pointer: one word of thread-local storage.
//!
//! Two implementations, the same two functions:
//!
//! - **`std::thread_local!`** (the default). `const`-initialised and without a destructor, so an
//!   access is one thread-pointer-relative load in an executable. In a shared library, though,
//!   rustc gives thread-locals the *general-dynamic* TLS model: every access calls
//!   `__tls_get_addr`, which made a C `malloc` through the library about 1.3× slower on a
//!   malloc-bound program.
//! - **An initial-exec slot** (feature `tls-initial-exec`, x86-64 Linux). The word is defined in
//!   assembly in `.tdata` and reached through its `@GOTTPOFF` entry: two instructions, no call,
//!   in a shared library as in an executable (the linker turns it into a constant offset when
//!   it links an executable). This is what `liballocgator.so` uses. The cost of the model: the
//!   library needs a place in the *static* TLS block, which the dynamic loader lays out for the
//!   libraries loaded at start-up (`LD_PRELOAD`, or linked with `-l`). A `dlopen` of the library
//!   later still works while glibc's reserve for such late libraries lasts (the slot is one
//!   8-byte word, and glibc keeps over a kilobyte spare); past it `dlopen` fails with "cannot
//!   allocate memory in static TLS block". mimalloc and jemalloc's `.so` make the same choice.
//!
//! Both start every thread at the sentinel heap, so the fast path needs no "initialised?" test.

use crate::engine::heap::Heap;

#[cfg(not(all(
    feature = "tls-initial-exec",
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(loom)
)))]
mod imp {
    use super::Heap;
    use std::cell::Cell;

    std::thread_local! {
        /// The calling thread's heap. `const`-initialised and without a destructor, so reading
        /// it never fails, even during thread teardown.
        static THREAD_HEAP: Cell<*const Heap> = const { Cell::new(&raw const super::super::SENTINEL) };
    }

    /// The calling thread's heap pointer (the sentinel's until it has a heap).
    #[inline(always)]
    pub(crate) fn get() -> *const Heap {
        THREAD_HEAP
            .try_with(Cell::get)
            .unwrap_or(&raw const super::super::SENTINEL)
    }

    /// Sets the calling thread's heap pointer.
    #[inline]
    pub(crate) fn set(heap: *const Heap) {
        let _ = THREAD_HEAP.try_with(|h| h.set(heap));
    }
}

#[cfg(all(
    feature = "tls-initial-exec",
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(loom)
))]
mod imp {
    use super::Heap;

    // One 8-byte word of initialised TLS, holding the sentinel's address in every new thread
    // (the loader relocates the TLS image before any thread copies it). `.hidden`: the symbol
    // is the library's own and is never interposed or exported.
    core::arch::global_asm!(
        ".pushsection .tdata.allocgator_thread_heap,\"awT\",@progbits",
        ".p2align 3",
        ".globl __allocgator_thread_heap",
        ".hidden __allocgator_thread_heap",
        ".type __allocgator_thread_heap, @object",
        ".size __allocgator_thread_heap, 8",
        "__allocgator_thread_heap:",
        ".quad {sentinel}",
        ".popsection",
        sentinel = sym super::super::SENTINEL,
    );

    /// The calling thread's heap pointer (the sentinel's until it has a heap).
    #[inline(always)]
    pub(crate) fn get() -> *const Heap {
        let heap: *const Heap;
        // SAFETY: reads the calling thread's own slot: its offset from the thread pointer comes
        // from the GOT entry the loader filled in (initial-exec), and `fs:` is the thread
        // pointer on x86-64 Linux. `readonly` (not `nomem`): the slot changes under `set`,
        // which the compiler must not move a read across.
        unsafe {
            core::arch::asm!(
                "mov {p}, qword ptr [rip + __allocgator_thread_heap@GOTTPOFF]",
                "mov {p}, qword ptr fs:[{p}]",
                p = out(reg) heap,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        heap
    }

    /// Sets the calling thread's heap pointer.
    #[inline]
    pub(crate) fn set(heap: *const Heap) {
        // SAFETY: writes the calling thread's own slot, found as in `get`.
        unsafe {
            core::arch::asm!(
                "mov {t}, qword ptr [rip + __allocgator_thread_heap@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {h}",
                t = out(reg) _,
                h = in(reg) heap,
                options(nostack, preserves_flags),
            );
        }
    }
}

pub(crate) use imp::{get, set};
