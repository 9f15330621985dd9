//! Allocgator installed as the global allocator, under threads.

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

mod common;
use std::collections::{BTreeMap, HashMap, VecDeque};
#[allow(clippy::disallowed_types)] // the facade rule is for the library, not its tests
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

#[test]
fn std_collections_on_several_threads_with_cross_thread_frees() {
    let (tx, rx) = mpsc::channel::<(Vec<String>, HashMap<u32, Vec<u8>>, BTreeMap<u64, Box<u64>>)>();
    let producers: Vec<_> = (0..4u32)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for round in 0..50u32 {
                    let strings: Vec<String> =
                        (0..200).map(|i| format!("{t}-{round}-{i}")).collect();
                    let map: HashMap<u32, Vec<u8>> = (0..100)
                        .map(|i| (i, vec![(i % 256) as u8; (i as usize * 13) % 3000]))
                        .collect();
                    let tree: BTreeMap<u64, Box<u64>> =
                        (0..100).map(|i| (i, Box::new(i * 3))).collect();
                    tx.send((strings, map, tree)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    // The consumer checks and frees everything the producers allocated.
    let consumer = thread::spawn(move || {
        let mut batches = 0;
        for (strings, map, tree) in rx {
            assert_eq!(strings.len(), 200);
            assert!(strings[7].ends_with("-7"));
            for (k, v) in &map {
                assert!(v.iter().all(|&b| b == (*k % 256) as u8));
                assert_eq!(v.len(), (*k as usize * 13) % 3000);
            }
            for (k, v) in &tree {
                assert_eq!(**v, k * 3);
            }
            batches += 1;
        }
        batches
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 200);
}

#[test]
fn shared_queue_blocks_freed_by_other_threads() {
    let queue = Arc::new(Mutex::new(VecDeque::<Vec<u64>>::new()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                for i in 0..20_000u64 {
                    let v = vec![t * 1_000_000 + i; 1 + (i as usize % 40)];
                    let popped = {
                        let mut q = queue.lock().unwrap();
                        q.push_back(v);
                        if q.len() > 64 {
                            q.pop_front()
                        } else {
                            None
                        }
                    };
                    if let Some(old) = popped {
                        // Blocks from any thread, checked and freed here.
                        assert!(old.iter().all(|&x| x == old[0]));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

extern "C" fn free_first(arg: *mut libc::c_void) -> *mut libc::c_void {
    // The very first thing this raw thread does is free a block another thread allocated.
    // SAFETY: `arg` is a Box<[u64; 8]> leaked by the spawning thread.
    drop(unsafe { Box::from_raw(arg.cast::<[u64; 8]>()) });
    std::ptr::null_mut()
}

#[test]
fn a_thread_whose_first_operation_is_a_free() {
    for _ in 0..100 {
        let block = Box::into_raw(Box::new([7u64; 8]));
        let mut tid: libc::pthread_t = 0;
        // SAFETY: a valid start routine and argument; the thread is joined below.
        unsafe {
            assert_eq!(
                libc::pthread_create(&mut tid, std::ptr::null(), free_first, block.cast()),
                0
            );
            assert_eq!(libc::pthread_join(tid, std::ptr::null_mut()), 0);
        }
    }
    // The freed blocks are reusable by their owner.
    let again: Vec<Box<[u64; 8]>> = (0..1000).map(|i| Box::new([i; 8])).collect();
    assert_eq!(again[999][7], 999);
}

#[allow(clippy::disallowed_types)]
static TLS_DTORS_RAN: AtomicUsize = AtomicUsize::new(0);

struct AllocatesOnDrop(Vec<u8>);

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        // Allocate and free during thread-local destruction.
        let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(v[42], "42");
        assert!(self.0.iter().all(|&b| b == 3));
        self.0 = vec![9; 5000];
        TLS_DTORS_RAN.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static HOLDER: std::cell::RefCell<Option<AllocatesOnDrop>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn allocation_and_free_inside_thread_local_destructors() {
    let before = TLS_DTORS_RAN.load(Ordering::SeqCst);
    let threads: Vec<_> = (0..20)
        .map(|_| {
            thread::spawn(|| {
                HOLDER.with(|h| *h.borrow_mut() = Some(AllocatesOnDrop(vec![3; 10_000])));
                let _other: Vec<u64> = (0..1000).collect();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(TLS_DTORS_RAN.load(Ordering::SeqCst) - before, 20);
}

#[test]
fn a_thread_that_panics_with_live_blocks() {
    let r = thread::spawn(|| {
        let _held: Vec<Box<u64>> = (0..1000).map(Box::new).collect();
        let leaked: &'static mut Vec<u8> = Box::leak(Box::new(vec![1u8; 4096]));
        leaked.push(2);
        panic!("on purpose");
    })
    .join();
    assert!(r.is_err());
    let v: Vec<Box<u64>> = (0..1000).map(Box::new).collect();
    assert_eq!(*v[10], 10);
}
