//! The cache of freed huge mappings: a block freed on one thread waits in a slot for the next
//! request of its layout, which another thread may make, while a purge (what `trim()` runs)
//! empties the slots. The engine's own `huge` module runs here; under loom each cached block
//! carries a cell written by the thread that gives it to the cache and by the one that takes
//! it out, so a slot that does not publish its mapping, or a mapping held by two threads, is a
//! race loom reports.
#![cfg(loom)]

mod common;
use allocgator::loom_api::huge::{self, HUGE_SIZE};
use common::{model, SendPtr};
use loom::thread;

/// Where the models write into a block: past the cache's cell at the block's start.
const PROBE: usize = 4096;

/// Every block is freed: each mapping is cached or unmapped, and a full purge leaves nothing
/// mapped.
fn assert_all_given_back() {
    assert_eq!(huge::live_blocks(), 0, "a huge block still counted live");
    assert_eq!(
        huge::cached_bytes(),
        huge::mapped_bytes(),
        "mapped bytes that are neither live nor cached (a lost mapping)"
    );
    huge::purge(true);
    assert_eq!(
        huge::cached_bytes(),
        0,
        "the cache's byte count after a full purge"
    );
    assert_eq!(huge::mapped_bytes(), 0, "a mapping left after a full purge");
}

/// Allocates a huge block, checks it holds what is written into it, and frees it.
fn use_one_block() {
    let block = huge::alloc(HUGE_SIZE);
    assert!(!block.is_null());
    // SAFETY: a live block of HUGE_SIZE bytes, ours alone; freed once.
    unsafe {
        block.add(PROBE).write(0xA5);
        assert_eq!(block.add(PROBE).read(), 0xA5);
        huge::free(block);
    }
}

/// One thread frees a block into the cache while another asks for the same size: the taker
/// gets the cached mapping (ordered after the freer's writes) or maps its own.
#[test]
fn huge_mapping_freed_on_one_thread_reused_on_another() {
    model("huge_mapping_freed_on_one_thread_reused_on_another", || {
        let block = SendPtr(huge::alloc(HUGE_SIZE));
        assert!(!block.0.is_null());
        let freer = thread::spawn(move || {
            let b = block;
            // SAFETY: the block is handed to this thread alone and freed once.
            unsafe {
                b.0.add(PROBE).write(1);
                huge::free(b.0);
            }
        });
        let taker = thread::spawn(use_one_block);
        freer.join().unwrap();
        taker.join().unwrap();
        assert_all_given_back();
    });
}

/// A cached mapping is wanted by an allocation and by a full purge at once: exactly one of
/// them gets it (the other maps anew or finds nothing), and nothing is unmapped twice or lost.
#[test]
fn huge_cache_purge_races_a_taker() {
    model("huge_cache_purge_races_a_taker", || {
        // SAFETY: a fresh huge block, freed once: its mapping goes to the cache.
        unsafe { huge::free(huge::alloc(HUGE_SIZE)) };
        assert_eq!(huge::cached_bytes(), huge::mapped_bytes());
        assert_ne!(huge::cached_bytes(), 0, "the freed mapping is cached");
        let purger = thread::spawn(|| huge::purge(true));
        use_one_block();
        purger.join().unwrap();
        assert_all_given_back();
    });
}
