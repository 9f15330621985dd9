//! W1 "hot pair": allocate and free one block of a given size, many times, on the global path.
//!
//! `cargo run --release --example hot_pair -- 64 20000000` prints ns per pair. Under
//! `valgrind --tool=callgrind`, two runs with different counts give instructions per pair.
use std::alloc::{GlobalAlloc, Layout};
use std::time::Instant;

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let pairs: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    let layout = Layout::from_size_align(size, 8).expect("size");
    // The size comes from the command line (not a constant), as in a real program that
    // allocates a run-time size; alignment 8 is a constant, as for any Rust type.
    let start = Instant::now();
    for _ in 0..pairs {
        // SAFETY: non-zero size; the block is freed with its layout right away.
        unsafe {
            let p = GLOBAL.alloc(layout);
            std::hint::black_box(p);
            GLOBAL.dealloc(p, layout);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / pairs as f64;
    println!("{size} B: {ns:.2} ns per malloc+free pair ({pairs} pairs)");
}
