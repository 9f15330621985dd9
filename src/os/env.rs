//! The environment, read without allocating (the options are read inside the first `malloc`).

use core::ffi::CStr;

/// The value of the environment variable `name`, as bytes, or `None`.
///
/// Like every `getenv`, it races with a `setenv` of the same name on another thread at the
/// same moment (the returned bytes live as long as nobody sets that name again); the crate
/// reads its options once, at its first heap, normally before `main` has threads.
pub(crate) fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: a NUL-terminated name; getenv returns null or a pointer into the environment
    // block (see above for how long it stays valid).
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}
