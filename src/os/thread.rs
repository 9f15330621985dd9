//! The engine's own thread (the background purger): started and put to sleep with plain
//! pthread calls, so starting it allocates nothing through the global path and the thread
//! itself never allocates.

use super::errno::KeepErrno;
use core::ffi::{c_void, CStr};

/// Stack size of the engine's thread: it runs a short walk over the heaps, nothing else (the
/// process's static thread-local block comes on top, which glibc adds itself).
const STACK: usize = 256 << 10;

/// Starts a detached thread named `name` running `f(arg)`. Returns false if the OS refuses.
/// Keeps `errno`.
///
/// glibc's `pthread_create` may call `malloc` (its thread-local vector), so the caller must be
/// where an allocation may start: not inside the engine's own state.
pub(crate) fn spawn_detached(
    f: extern "C" fn(*mut c_void) -> *mut c_void,
    name: &CStr,
    arg: *mut c_void,
) -> bool {
    let _keep = KeepErrno::new();
    // SAFETY: `attr` is initialised by `pthread_attr_init` before any other use and destroyed
    // once; `thread` is a valid out-pointer; `f` is an `extern "C"` function that takes the
    // argument we pass; a detached thread needs no join.
    unsafe {
        let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_attr_init(attr.as_mut_ptr()) != 0 {
            return false;
        }
        let attr = attr.as_mut_ptr();
        libc::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(attr, STACK);
        let mut thread: libc::pthread_t = core::mem::zeroed();
        let rc = libc::pthread_create(&mut thread, attr, f, arg);
        libc::pthread_attr_destroy(attr);
        if rc != 0 {
            return false;
        }
        #[cfg(target_os = "linux")]
        libc::pthread_setname_np(thread, name.as_ptr());
        #[cfg(not(target_os = "linux"))]
        let _ = name;
        true
    }
}

/// Sleeps for about `ms` milliseconds (a signal may end it early). Keeps `errno`.
pub(crate) fn sleep_ms(ms: u64) {
    let _keep = KeepErrno::new();
    let ts = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: a valid timespec; a null remainder pointer is allowed.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}
