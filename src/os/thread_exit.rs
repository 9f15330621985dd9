//! A per-thread exit hook without allocating: one pthread key whose destructor runs at the
//! exit of every thread that set a value for it (after Rust's thread-local destructors, which
//! may still allocate).

use core::ffi::c_void;

/// A pthread key with an exit destructor.
#[derive(Clone, Copy)]
pub(crate) struct ExitKey(libc::pthread_key_t);

impl ExitKey {
    /// Creates a key whose destructor `on_exit` runs, at a thread's exit, with the value that
    /// thread set (if not null). `None` if the process is out of keys. glibc does not allocate
    /// here.
    pub(crate) fn create(on_exit: unsafe extern "C" fn(*mut c_void)) -> Option<ExitKey> {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer and an `extern "C"` destructor.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(on_exit)) };
        (rc == 0).then_some(ExitKey(key))
    }

    /// The key as a number (to store in an atomic).
    pub(crate) fn to_bits(self) -> usize {
        self.0 as usize
    }

    /// The key stored by [`to_bits`](Self::to_bits).
    pub(crate) fn from_bits(bits: usize) -> ExitKey {
        ExitKey(bits as libc::pthread_key_t)
    }

    /// Sets the calling thread's value, which the destructor receives at its exit.
    ///
    /// glibc keeps the values of the first 32 keys in the thread's descriptor; for a later key
    /// it allocates a block with `calloc`, which inside a program running on
    /// `liballocgator.so` is this crate's: call this where an allocation may start.
    pub(crate) fn set(self, value: *mut c_void) {
        // SAFETY: a key made by `create`; any pointer value is allowed.
        unsafe { libc::pthread_setspecific(self.0, value) };
    }
}
