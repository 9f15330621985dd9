//! allocgator's own C functions, declared in `include/allocgator.h`.

/// Prints the engine's statistics (live blocks per size class, committed and reserved bytes,
/// pages by state) to stderr, without allocating.
///
/// # Safety
/// None: callable from any thread at any time.
#[no_mangle]
pub unsafe extern "C" fn allocgator_stats_print() {
    engine::print_stats("allocgator: statistics");
}

/// Gives free memory back to the OS now: the calling thread's empty pages, the huge-block
/// cache, and the heaps of threads that have exited.
///
/// # Safety
/// None: callable from any thread at any time.
#[no_mangle]
pub unsafe extern "C" fn allocgator_trim() {
    engine::trim();
}
