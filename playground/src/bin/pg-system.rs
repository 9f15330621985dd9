//! Worker with glibc malloc (`std::alloc::System`) as the global allocator.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

/// Gives glibc's free memory back to the OS now.
fn trim() {
    // SAFETY: malloc_trim takes a pad size and may be called at any time.
    unsafe { libc::malloc_trim(0) };
}

fn main() {
    playground::worker::main("glibc", Some(trim));
}
