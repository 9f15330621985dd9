//! A static pool's cache slots (`allocgator`'s own `Claimable`, driven through
//! `loom_api::ModelClaimable`): a slot passes from one thread to the next with its contents,
//! and two threads never use it at once.
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelClaimable;
use common::model;
use loom::sync::Arc;
use loom::thread;

/// Three threads each claim the slot if they can, touch its contents, and release it (as a
/// thread takes a cache on first use and gives it back at exit): loom checks that no two
/// owners touch the contents unordered, and every owner's change is seen by the next.
#[test]
fn cache_slot_hand_over() {
    model("cache_slot_hand_over", || {
        let slot = Arc::new(ModelClaimable::new());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let slot = Arc::clone(&slot);
                thread::spawn(move || {
                    if slot.try_claim() {
                        let v = slot.bump();
                        slot.release();
                        v
                    } else {
                        0
                    }
                })
            })
            .collect();
        let mine = if slot.try_claim() {
            let v = slot.bump();
            slot.release();
            v
        } else {
            0
        };
        let claims = [mine]
            .into_iter()
            .chain(handles.into_iter().map(|h| h.join().unwrap()))
            .filter(|&v| v > 0)
            .count();
        assert!(slot.try_claim(), "released slots can be claimed");
        // Every owner saw the previous owners' bumps: the counter counts the claims.
        assert_eq!(slot.bump(), claims + 1);
        slot.release();
    });
}
