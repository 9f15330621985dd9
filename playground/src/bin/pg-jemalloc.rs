//! Worker with jemalloc (`tikv-jemallocator`) as the global allocator.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

extern "C" {
    /// jemalloc's control call, as `tikv-jemalloc-sys` builds it (prefixed `_rjem_`).
    fn _rjem_mallctl(
        name: *const libc::c_char,
        oldp: *mut libc::c_void,
        oldlenp: *mut usize,
        newp: *mut libc::c_void,
        newlen: usize,
    ) -> libc::c_int;
}

/// Gives jemalloc's free memory back to the OS now: purges every arena (4096 is
/// `MALLCTL_ARENAS_ALL`).
fn trim() {
    // SAFETY: a NUL-terminated control name that takes no value in or out.
    unsafe {
        _rjem_mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
}

fn main() {
    playground::worker::main("jemalloc", Some(trim));
}
