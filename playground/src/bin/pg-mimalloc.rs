//! Worker with mimalloc as the global allocator.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's own call (in the static library the `mimalloc` crate links).
    fn mi_collect(force: bool);
}

/// Gives mimalloc's free memory back to the OS now.
fn trim() {
    // SAFETY: mi_collect takes a flag and may be called at any time.
    unsafe { mi_collect(true) }
}

fn main() {
    playground::worker::main("mimalloc", Some(trim));
}
