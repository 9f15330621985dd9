//! Memory goes back to the OS: after freeing ~1 GiB of small blocks, `trim()` brings RSS
//! below 20% of its peak. (Its own test binary: RSS is per process.)

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod common;

#[test]
fn trim_returns_freed_small_blocks_to_the_os() {
    let baseline = common::rss_bytes();
    // ~1 GiB in 64-byte and 200-byte blocks.
    let mut small: Vec<Box<[u8; 64]>> = Vec::with_capacity(10 << 20);
    for i in 0..(10 << 20) {
        small.push(Box::new([i as u8; 64]));
    }
    let mut medium: Vec<Box<[u8; 200]>> = Vec::with_capacity(2 << 20);
    for i in 0..(2 << 20) {
        medium.push(Box::new([i as u8; 200]));
    }
    let peak = common::rss_bytes();
    assert!(
        peak - baseline > 900 << 20,
        "peak {peak} baseline {baseline}"
    );
    let live = allocgator::stats();
    assert!(live.live_blocks() >= 12 << 20, "{live}");
    assert_eq!(small[12345][0], (12345 % 256) as u8);
    drop(small);
    drop(medium);
    allocgator::trim();
    let after = common::rss_bytes();
    let stats = allocgator::stats();
    assert!(
        after * 5 < peak,
        "RSS after trim {after} vs peak {peak}\n{stats}"
    );
    assert!(stats.committed_bytes() < 64 << 20, "{stats}");
    assert!(stats.live_blocks() < 10_000, "{stats}");
}
