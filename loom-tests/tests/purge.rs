//! The background purger against a heap's owner: both touch the heap's segment state, under
//! its segment lock, and the purger decommits outside the lock the slices it claimed (the
//! engine's own `Heap::purge_in_background`; see `engine::purge`).
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelHeap;
use common::{model, SendPtr};
use loom::sync::Arc;
use loom::thread;

/// Just over a slice: a large block, a page of its own (two slices).
const SLICE: usize = 64 * 1024 + 1;
/// What the owner writes into its new block.
const MARK: u8 = 0xA5;

/// The owner frees a one-slice block, so the slice is free and committed, and a first purge
/// tick makes it a candidate. Then the purger's second tick (claim, decommit, finish) races
/// the owner taking a one-slice block — the freed slice, warm, is the one it prefers — and
/// writing it. Whatever the interleaving, the owner's block keeps what it wrote (decommit
/// poisons memory in models), and afterwards every page is accounted for.
#[test]
fn purger_and_owner_share_a_segment() {
    model("purger_and_owner_share_a_segment", || {
        let owner = Arc::new(ModelHeap::new());
        // SAFETY: this thread owns `owner` throughout; each block is freed once.
        unsafe {
            // A block that stays (the segment is not empty) and one freed at once.
            let keep = owner.alloc(SLICE);
            let freed = owner.alloc(SLICE);
            assert!(!keep.is_null() && !freed.is_null());
            owner.free(freed);
        }
        // The first tick: the free slices become candidates.
        owner.purge_in_background();
        let purger = {
            let heap = Arc::clone(&owner);
            thread::spawn(move || {
                heap.purge_in_background();
            })
        };
        // SAFETY: as above.
        let block = unsafe { owner.alloc(SLICE) };
        assert!(!block.is_null());
        let block = SendPtr(block);
        // SAFETY: a live block of `SLICE` bytes, ours.
        unsafe { block.0.write_bytes(MARK, 64) };
        thread::yield_now();
        purger.join().unwrap();
        // SAFETY: as above.
        unsafe {
            let kept = core::slice::from_raw_parts(block.0, 64);
            assert!(
                kept.iter().all(|&b| b == MARK),
                "the purger decommitted a slice under a live block"
            );
            owner.free(block.0);
            assert_eq!(
                owner.pages_in_use(),
                1,
                "only the kept block's page is left"
            );
        }
    });
}
