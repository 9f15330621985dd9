//! A heap abandoned by its thread (the engine's own `HeapPool`), freed into by other threads
//! while it waits, and reclaimed by another thread: nothing is lost, and the new owner sees
//! the old owner's state.
#![cfg(loom)]

mod common;
use allocgator::loom_api::{ModelHeap, ModelPool};
use common::{model, SendPtr};
use loom::sync::Arc;
use loom::thread;

/// The owner allocates a large block (its page is full, so its remote free takes the page's
/// notification) and a small one, hands both to a freer, and abandons its heap while the
/// freer frees them. The main thread adopts the heap as soon as it is pooled and collects,
/// racing the frees; once the freer is done, one more collect must bring every page back:
/// the remote frees reach the heap whichever side of the hand-over they land on.
#[test]
fn abandoned_heap_is_reclaimed() {
    model("abandoned_heap_is_reclaimed", || {
        let pool = Arc::new(ModelPool::new());
        let (tx, rx) = loom::sync::mpsc::channel::<[SendPtr; 2]>();
        let owner = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let heap = ModelHeap::new();
                // SAFETY: this thread owns `heap`; the blocks go to one other thread.
                let blocks = unsafe { [SendPtr(heap.alloc(100_000)), SendPtr(heap.alloc(64))] };
                assert!(blocks.iter().all(|b| !b.0.is_null()));
                tx.send(blocks).unwrap();
                pool.abandon(heap);
            })
        };
        let freer = thread::spawn(move || {
            let heap = ModelHeap::new();
            for b in rx.recv().unwrap() {
                // SAFETY: this thread owns `heap`; each block is freed once.
                unsafe { heap.free(b.0) };
            }
            heap
        });
        // The next thread adopts the heap once it is pooled (only the pool lock orders the
        // old owner's writes before ours), and collects while the frees may still arrive.
        let adopted = loop {
            if let Some(heap) = pool.adopt() {
                break heap;
            }
            thread::yield_now();
        };
        // SAFETY: this thread owns the adopted heap.
        unsafe { adopted.collect() };
        let freer_heap = freer.join().unwrap();
        // SAFETY: as above.
        unsafe {
            adopted.collect();
            assert_eq!(adopted.pages_in_use(), 0, "a remotely freed page was lost");
        }
        // A remote free is counted by the freeing heap: the sum over heaps is what is live.
        assert_eq!(
            adopted.counted_live() + freer_heap.counted_live(),
            0,
            "live blocks miscounted"
        );
        owner.join().unwrap();
    });
}
