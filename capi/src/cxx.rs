//! C++'s `operator new` and `operator delete`, every form (plain and array; `nothrow`; sized;
//! `align_val_t`; aligned and `nothrow`), under their Itanium ABI names, so a C++ program's
//! `new` and `delete` reach the engine in one call instead of going through `malloc`.
//!
//! A throwing `operator new` that finds no memory does what the standard says: it calls the
//! program's `new_handler` (`std::get_new_handler()`) and retries while there is one, then
//! throws `std::bad_alloc`. Both come from the C++ runtime, which this library does not link:
//! they are weak references, resolved when the program has libstdc++ (every C++ program built
//! with g++ or clang++ on Linux does). Without it — a C++ runtime of another name, or a call
//! from a program with no C++ at all — the failure aborts with a message instead. The
//! `nothrow` forms return null without calling the handler.
//!
//! Deletes ignore the size and alignment they are given: the engine finds both from the block.

use crate::c_align;
use core::ffi::c_void;
use engine::raw;

/// The C++ runtime's hooks, when the program has libstdc++.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod runtime {
    /// What `std::get_new_handler()` returns.
    pub(super) type NewHandler = Option<unsafe extern "C-unwind" fn()>;

    /// The address of a symbol referenced weakly: 0 when nothing in the process defines it.
    macro_rules! weak_address {
        ($sym:literal) => {{
            let f: usize;
            // SAFETY: loads the symbol's GOT entry. `.weak` in the same block applies to the
            // object file the block lands in, so the linker and loader leave the entry 0
            // when nothing defines the symbol, instead of failing.
            unsafe {
                core::arch::asm!(
                    concat!(".weak ", $sym),
                    concat!("mov {f}, qword ptr [rip + ", $sym, "@GOTPCREL]"),
                    f = out(reg) f,
                    options(nostack, readonly, preserves_flags, pure),
                );
            }
            f
        }};
    }

    /// `std::get_new_handler`, if the program has it.
    pub(super) fn get_new_handler() -> Option<unsafe extern "C" fn() -> NewHandler> {
        let f = weak_address!("_ZSt15get_new_handlerv");
        // SAFETY: a non-zero entry is libstdc++'s `std::get_new_handler()`, which takes no
        // arguments and returns a function pointer (the C ABI's convention for it).
        (f != 0).then(|| unsafe {
            core::mem::transmute::<usize, unsafe extern "C" fn() -> NewHandler>(f)
        })
    }

    /// `std::__throw_bad_alloc` (libstdc++'s thrower of `std::bad_alloc`), if the program
    /// has it.
    pub(super) fn throw_bad_alloc() -> Option<unsafe extern "C-unwind" fn() -> !> {
        let f = weak_address!("_ZSt17__throw_bad_allocv");
        // SAFETY: a non-zero entry is libstdc++'s `std::__throw_bad_alloc()`, which takes no
        // arguments and never returns (it throws).
        (f != 0).then(|| unsafe {
            core::mem::transmute::<usize, unsafe extern "C-unwind" fn() -> !>(f)
        })
    }
}

/// No weak references on other targets: failures abort.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod runtime {
    pub(super) type NewHandler = Option<unsafe extern "C-unwind" fn()>;
    pub(super) fn get_new_handler() -> Option<unsafe extern "C" fn() -> NewHandler> {
        None
    }
    pub(super) fn throw_bad_alloc() -> Option<unsafe extern "C-unwind" fn() -> !> {
        None
    }
}

/// A throwing `new` found no memory: call the `new_handler` and retry while there is one, then
/// throw `std::bad_alloc` (or abort, without a C++ runtime).
#[cold]
#[inline(never)]
extern "C-unwind" fn new_failed(size: usize, align: usize) -> *mut c_void {
    loop {
        // SAFETY: libstdc++'s `get_new_handler` has no preconditions.
        let handler = runtime::get_new_handler().and_then(|get| unsafe { get() });
        let Some(handler) = handler else { break };
        // SAFETY: the program's own handler, called as the standard says `new` must; it may
        // throw, which unwinds through this `C-unwind` frame to the caller of `new`.
        unsafe { handler() };
        let p = raw::alloc(size, align);
        if !p.is_null() {
            return p.cast();
        }
    }
    if let Some(throw) = runtime::throw_bad_alloc() {
        // SAFETY: libstdc++'s thrower; the exception unwinds through this `C-unwind` frame.
        unsafe { throw() }
    }
    let msg = b"allocgator: operator new found no memory, and the program has no C++ runtime \
                to throw std::bad_alloc with\n";
    // SAFETY: writes a static buffer to stderr, then aborts (no unwinding, no allocation).
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::abort()
    }
}

/// The throwing forms' body.
#[inline(always)]
fn new_impl(size: usize, align: usize) -> *mut c_void {
    let p = raw::alloc(size, align);
    if p.is_null() {
        return new_failed(size, align);
    }
    p.cast()
}

/// Defines the throwing `operator new` forms. An aligned form's `std::align_val_t` is a power
/// of two (anything else is undefined in C++; here it fails like an allocation that found no
/// memory); it is raised to what the size gets from `malloc`.
macro_rules! operator_new {
    ($($name:ident, $what:literal, ($($align:ident)?);)*) => {$(
        #[doc = concat!("`", $what, "`: throws `std::bad_alloc` when no memory.")]
        ///
        /// # Safety
        /// None beyond C++'s: the block is the caller's until deleted.
        #[no_mangle]
        pub unsafe extern "C-unwind" fn $name(size: usize $(, $align: usize)?) -> *mut c_void {
            new_impl(size, c_align(size)$(.max($align))?)
        }
    )*};
}

operator_new! {
    _Znwm, "operator new(size_t)", ();
    _Znam, "operator new[](size_t)", ();
    _ZnwmSt11align_val_t, "operator new(size_t, std::align_val_t)", (align);
    _ZnamSt11align_val_t, "operator new[](size_t, std::align_val_t)", (align);
}

/// Defines the `nothrow` `operator new` forms (their last argument is `const std::nothrow_t&`).
macro_rules! operator_new_nothrow {
    ($($name:ident, $what:literal, ($($align:ident)?);)*) => {$(
        #[doc = concat!("`", $what, "`: null when no memory.")]
        ///
        /// # Safety
        /// None beyond C++'s: the block is the caller's until deleted.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            size: usize,
            $($align: usize,)?
            _nothrow: *const c_void,
        ) -> *mut c_void {
            raw::alloc(size, c_align(size)$(.max($align))?).cast()
        }
    )*};
}

operator_new_nothrow! {
    _ZnwmRKSt9nothrow_t, "operator new(size_t, const std::nothrow_t&)", ();
    _ZnamRKSt9nothrow_t, "operator new[](size_t, const std::nothrow_t&)", ();
    _ZnwmSt11align_val_tRKSt9nothrow_t, "operator new(size_t, std::align_val_t, const std::nothrow_t&)", (align);
    _ZnamSt11align_val_tRKSt9nothrow_t, "operator new[](size_t, std::align_val_t, const std::nothrow_t&)", (align);
}

/// Defines the `operator delete` forms: every one frees its first argument and ignores the
/// rest (size, alignment, `nothrow`).
macro_rules! operator_delete {
    ($($name:ident, $what:literal, ($($rest:ident : $ty:ty),*);)*) => {$(
        #[doc = concat!("`", $what, "`.")]
        ///
        /// # Safety
        /// `p` is null or a live block from this library, not used afterwards.
        #[no_mangle]
        pub unsafe extern "C" fn $name(p: *mut c_void $(, $rest: $ty)*) {
            $(let _ = $rest;)*
            // SAFETY: null or a live block of ours (caller).
            unsafe { raw::free(p.cast()) }
        }
    )*};
}

operator_delete! {
    _ZdlPv, "operator delete(void*)", ();
    _ZdaPv, "operator delete[](void*)", ();
    _ZdlPvm, "operator delete(void*, size_t)", (size: usize);
    _ZdaPvm, "operator delete[](void*, size_t)", (size: usize);
    _ZdlPvSt11align_val_t, "operator delete(void*, std::align_val_t)", (align: usize);
    _ZdaPvSt11align_val_t, "operator delete[](void*, std::align_val_t)", (align: usize);
    _ZdlPvmSt11align_val_t, "operator delete(void*, size_t, std::align_val_t)", (size: usize, align: usize);
    _ZdaPvmSt11align_val_t, "operator delete[](void*, size_t, std::align_val_t)", (size: usize, align: usize);
    _ZdlPvRKSt9nothrow_t, "operator delete(void*, const std::nothrow_t&)", (nothrow: *const c_void);
    _ZdaPvRKSt9nothrow_t, "operator delete[](void*, const std::nothrow_t&)", (nothrow: *const c_void);
    _ZdlPvSt11align_val_tRKSt9nothrow_t, "operator delete(void*, std::align_val_t, const std::nothrow_t&)", (align: usize, nothrow: *const c_void);
    _ZdaPvSt11align_val_tRKSt9nothrow_t, "operator delete[](void*, std::align_val_t, const std::nothrow_t&)", (align: usize, nothrow: *const c_void);
}
