//! `SyncPool`'s lock-free free stack (`allocgator`'s own `FreeStack`, driven through
//! `loom_api::ModelFreeList`): blocks handed between threads come back exactly once, and the
//! tag defeats the ABA pattern.
#![cfg(loom)]

mod common;
use allocgator::loom_api::ModelFreeList;
use common::model;
use loom::sync::Arc;
use loom::thread;

/// Pops everything left and checks that, with the blocks still held, every block is accounted
/// for exactly once.
fn assert_each_block_once(list: &ModelFreeList, held: &[u32], n: u32) {
    let mut all: Vec<u32> = held.to_vec();
    while let Some(i) = list.pop() {
        all.push(i);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "a block lost or handed out twice"
    );
}

/// `threads` threads each try to take a block of `blocks`, write it, check it and give it back,
/// racing on the head: no block is held twice (loom would see the two writers), and every block
/// comes back. With fewer blocks than threads, a thread may find the stack empty (where
/// `SyncPool` would carve a fresh block).
fn take_write_give_back(threads: usize, blocks: u32) {
    let list = Arc::new(ModelFreeList::new(blocks));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                let taken = list.pop();
                assert!(
                    taken.is_some() || threads > blocks as usize,
                    "a block went missing"
                );
                if let Some(i) = taken {
                    list.write(i, t + 1);
                    assert_eq!(list.read(i), t + 1);
                    list.push(i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_each_block_once(&list, &[], blocks);
}

#[test]
fn free_stack_two_threads_take_and_give_back() {
    model("free_stack_two_threads_take_and_give_back", || {
        take_write_give_back(2, 2)
    });
}

#[test]
fn free_stack_three_threads_two_blocks() {
    model("free_stack_three_threads_two_blocks", || {
        take_write_give_back(3, 2)
    });
}

/// The ABA pattern: one thread starts a pop (reads the head and its link) while another pops
/// two blocks and pushes the first back, so the head index is the same again but its link is
/// not. The stale pop must fail and retry; without the tag it would install a block that is
/// held.
#[test]
fn free_stack_aba() {
    model("free_stack_aba", || {
        let list = Arc::new(ModelFreeList::new(3));
        let popper = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                let i = list.pop().expect("three blocks");
                list.write(i, 100);
                i
            })
        };
        let reorderer = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                let a = list.pop();
                let b = list.pop();
                let mut held = Vec::new();
                if let Some(b) = b {
                    list.write(b, 200);
                    held.push(b);
                }
                if let Some(a) = a {
                    list.push(a);
                }
                held
            })
        };
        let mut held = vec![popper.join().unwrap()];
        held.extend(reorderer.join().unwrap());
        for &i in &held {
            assert!(list.read(i) == 100 || list.read(i) == 200);
        }
        assert_each_block_once(&list, &held, 3);
    });
}
