//! Remote frees racing the owner: the page's `thread_free` push, the full-page notification
//! onto the heap's pending stack, and the owner's collection — the engine's own code, with its
//! atomics and cells (and, under loom, each free block's link word) tracked by loom.
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelHeap;
use common::{fill_one_page, model, SendPtr, PAGE_BLOCK};
use loom::sync::Arc;
use loom::thread;

/// A large block's page is full from the start (one block), so its remote free takes the
/// page's notification and pushes the page onto the owner's pending stack while the owner keeps
/// collecting. Whatever the interleaving, the owner gets the page back and retires it once.
#[test]
fn remote_free_of_a_full_page_notifies_its_owner() {
    model("remote_free_of_a_full_page_notifies_its_owner", || {
        let owner = ModelHeap::new();
        let freer_heap = Arc::new(ModelHeap::new());
        // SAFETY: this thread owns `owner`; the block goes to one other thread.
        let block = SendPtr(unsafe { owner.alloc(100_000) });
        assert!(!block.0.is_null());
        let freer = {
            let heap = Arc::clone(&freer_heap);
            thread::spawn(move || {
                let b = block;
                // SAFETY: this thread owns `heap`; the block is freed once (remotely).
                unsafe { heap.free(b.0) };
            })
        };
        // The owner polls, as a thread that keeps allocating would.
        // SAFETY: this thread owns `owner`.
        unsafe {
            while {
                owner.collect();
                owner.pages_in_use() != 0
            } {
                thread::yield_now();
            }
        }
        freer.join().unwrap();
    });
}

/// Two threads free blocks of a full page while the owner allocates from the same class:
/// every block comes back exactly once (no loss, no duplicate).
#[test]
fn two_remote_freers_race_the_owner() {
    const SIZE: usize = PAGE_BLOCK;
    model("two_remote_freers_race_the_owner", || {
        let owner = ModelHeap::new();
        let freer_heaps = [Arc::new(ModelHeap::new()), Arc::new(ModelHeap::new())];
        let (blocks, page) = fill_one_page(&owner);
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let heap = Arc::clone(&freer_heaps[t]);
                let mine = [blocks[t * 2], blocks[t * 2 + 1]];
                thread::spawn(move || {
                    for b in mine {
                        // SAFETY: the thread owns `heap`; each block is freed once.
                        unsafe { heap.free(b.0) };
                    }
                })
            })
            .collect();
        // The owner allocates while the frees happen: it gets a block back from this page if
        // a free got there first, else a block of a fresh page.
        // SAFETY: this thread owns `owner`.
        let raced = unsafe { owner.alloc(SIZE) };
        assert!(!raced.is_null());
        for t in threads {
            t.join().unwrap();
        }
        // Every remotely freed block must now be found, each once. The raced allocation may
        // have opened a fresh page (7 free blocks) that serves first, so allocate enough to
        // exhaust both pages (7 + 4 = 11, one more for good measure) and look at this page.
        // SAFETY: as above.
        unsafe {
            owner.collect();
            let mut got = vec![raced as usize];
            for _ in 0..12 {
                got.push(owner.alloc(SIZE) as usize);
            }
            got.retain(|a| a & !0xFFFF == page);
            got.sort_unstable();
            let mut want: Vec<usize> = blocks[..4].iter().map(|b| b.0 as usize).collect();
            want.sort_unstable();
            assert_eq!(got, want, "remotely freed blocks lost or duplicated");
        }
    });
}
