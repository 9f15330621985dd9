//! A remote free racing the owner emptying its page, retiring it and giving its memory back
//! to the OS (the engine's own `Heap`/`Page`/`Segment` code).
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelHeap;
use common::{fill_one_page, model, PAGE_BLOCK};
use loom::thread;

/// The owner fills a page (8 blocks of 8 KiB, then one more from a second page: the first is
/// full, so the first remote free takes the page's
/// notification), hands one block to a freer, frees the other seven itself and trims — retire,
/// decommit, unmap — while the free is in flight, then reuses the memory for another size.
/// A page the freer has notified must not be retired before it comes back through the pending
/// stack; whatever the interleaving, every page comes back exactly once.
#[test]
fn remote_free_races_retire_and_decommit() {
    const SIZE: usize = PAGE_BLOCK;
    model("remote_free_races_retire_and_decommit", || {
        let owner = ModelHeap::new();
        let (blocks, page) = fill_one_page(&owner);
        // The next allocation finds the page exhausted: it goes full (armed for notification)
        // and a second page serves.
        // SAFETY: as above.
        let other_page = unsafe { owner.alloc(SIZE) };
        assert_ne!(other_page as usize & !0xFFFF, page);
        let remote = blocks[0];
        let freer = thread::spawn(move || {
            let heap = ModelHeap::new();
            let b = remote;
            // SAFETY: this thread owns `heap`; the block is freed once.
            unsafe { heap.free(b.0) };
            heap
        });
        // SAFETY: this thread owns `owner`; each block is freed once.
        unsafe {
            for b in &blocks[1..] {
                owner.free(b.0);
            }
            owner.collect_release();
            // The page's slices may be reused for another size class right away.
            let again = owner.alloc(2 * SIZE);
            assert!(!again.is_null());
            again.write_bytes(0xA5, 2 * SIZE);
            let freer_heap = freer.join().unwrap();
            owner.free(again);
            owner.free(other_page);
            owner.collect_release();
            assert_eq!(owner.pages_in_use(), 0, "a page was lost or retired twice");
            assert_eq!(
                owner.counted_live() + freer_heap.counted_live(),
                0,
                "live blocks miscounted"
            );
        }
    });
}
