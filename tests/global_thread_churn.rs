//! Thousands of short-lived threads: memory stays bounded because exited heaps are reused.
//! (Its own test binary: it measures process RSS, which tests running beside it would move.)

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod common;
use std::thread;

#[test]
fn thousands_of_short_lived_threads_leave_blocks_for_others() {
    // Each thread allocates, keeps some blocks alive by handing them to this thread, and
    // exits; we free them later. Memory must stay bounded: exited heaps are reused.
    let mut handed: Vec<Vec<Box<[u8]>>> = Vec::new();
    let mut rss_after_warmup = 0;
    let threads = 2_000;
    for i in 0..threads {
        let blocks = thread::spawn(move || {
            let mut keep = Vec::new();
            let mut scratch = Vec::new();
            for k in 0..200usize {
                let size = 16 + (k * 37 + i) % 2000;
                let b = vec![(k % 251) as u8; size].into_boxed_slice();
                if k % 4 == 0 {
                    keep.push(b)
                } else {
                    scratch.push(b)
                }
            }
            drop(scratch);
            keep
        })
        .join()
        .unwrap();
        handed.push(blocks);
        // Free blocks of threads that exited a while ago (their heaps may already be reused).
        if handed.len() > 50 {
            let old = handed.remove(0);
            for (k, b) in old.iter().enumerate() {
                assert!(b.iter().all(|&x| x == ((k * 4) % 251) as u8));
            }
        }
        if i == 200 {
            rss_after_warmup = common::rss_bytes();
        }
    }
    let rss_end = common::rss_bytes();
    drop(handed);
    assert!(
        rss_end < rss_after_warmup + (32 << 20),
        "RSS grew from {rss_after_warmup} to {rss_end} over {threads} threads"
    );
    let stats = allocgator::stats();
    assert!(stats.heaps() < 64, "heaps are not reused: {stats}");
}
