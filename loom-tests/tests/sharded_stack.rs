//! `SyncPool`'s sharded free stacks (`allocgator`'s own `ShardedStack`, driven through
//! `loom_api::ModelShardedList`): a thread that steals a whole shard races the shard's owner,
//! a chain moved home races a push there, and taking a stack whole keeps the ABA tag.
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelShardedList;
use common::model;
use loom::sync::Arc;
use loom::thread;

/// Drains every shard and checks that, with the blocks still held, every block of `0..n` is
/// accounted for exactly once.
fn assert_each_block_once(list: &ModelShardedList, held: &[u32], n: u32) {
    let mut all: Vec<u32> = held.to_vec();
    all.extend(list.drain());
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "a block lost or handed out twice"
    );
}

/// Three blocks on shard 0. Its owner pops one, writes it and gives it back while a thread of
/// shard 1 (empty) does the same: it steals shard 0 whole, keeps the top and moves the rest
/// home. No block may be held twice (loom sees two writers) and none may be lost.
#[test]
fn sharded_steal_races_the_owner() {
    model("sharded_steal_races_the_owner", || {
        let list = Arc::new(ModelShardedList::new(3));
        for i in [2, 1, 0] {
            list.push(0, i);
        }
        let threads: Vec<_> = (0..2)
            .map(|home| {
                let list = Arc::clone(&list);
                thread::spawn(move || {
                    // `None` is allowed: the other thread may hold every block for a moment
                    // (between its take and its move home), where `SyncPool` carves a new one.
                    if let Some(i) = list.pop(home) {
                        list.write(i, home + 1);
                        assert_eq!(list.read(i), home + 1);
                        list.push(home, i);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_each_block_once(&list, &[], 3);
    });
}

/// A thief moves the rest of a stolen chain to its home shard while another thread pushes a
/// block there: whichever lands first, the chain's tail must be linked to what is below it.
#[test]
fn sharded_chain_moved_home_races_a_push() {
    model("sharded_chain_moved_home_races_a_push", || {
        let list = Arc::new(ModelShardedList::new(4));
        for i in [2, 1, 0] {
            list.push(0, i);
        }
        // Block 3 is held by the pusher.
        let pusher = {
            let list = Arc::clone(&list);
            thread::spawn(move || list.push(1, 3))
        };
        let thief = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                let i = list.pop(1).expect("shard 0 or the pushed block");
                list.write(i, 7);
                i
            })
        };
        pusher.join().unwrap();
        let held = thief.join().unwrap();
        assert_each_block_once(&list, &[held], 4);
    });
}

/// The ABA pattern through `take_all`: one thread starts a pop on shard 0 (reads the head and
/// its link) while another takes shard 0 whole and pushes the blocks back in another order,
/// so the same index is on top again with a different link. Were the tag reset by the take,
/// the head word would match after three pushes and the stale pop would drop a block.
#[test]
fn sharded_take_all_aba() {
    model("sharded_take_all_aba", || {
        let list = Arc::new(ModelShardedList::new(3));
        for i in [2, 1, 0] {
            list.push(0, i);
        }
        let popper = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                // The reorderer may hold every block for a moment: wait for one.
                let i = loop {
                    if let Some(i) = list.pop(0) {
                        break i;
                    }
                    thread::yield_now();
                };
                list.write(i, 100);
                i
            })
        };
        let reorderer = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                let taken = list.take_all(0);
                // Back in the order 1, 2, 0 (so 0's link becomes 2), whatever was taken.
                let mut order: Vec<u32> = taken.clone();
                order.sort_unstable_by_key(|&i| [1, 2, 0].iter().position(|&j| j == i));
                for i in order {
                    list.push(0, i);
                }
            })
        };
        let held = popper.join().unwrap();
        reorderer.join().unwrap();
        assert_eq!(list.read(held), 100);
        assert_each_block_once(&list, &[held], 3);
    });
}
