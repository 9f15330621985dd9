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

/// What `only_frees` reports back: the thread's own remote-free count after its frees.
struct FreeOnly {
    blocks: Vec<*mut [u64; 4]>,
    remote_frees_counted: usize,
}

extern "C" fn only_frees(arg: *mut libc::c_void) -> *mut libc::c_void {
    // A consumer that never allocates: it only frees what the spawning thread allocated.
    // SAFETY: `arg` is the spawner's `FreeOnly`, which it does not touch until the join.
    let job = unsafe { &mut *arg.cast::<FreeOnly>() };
    for &b in &job.blocks {
        // SAFETY: each is a leaked Box, freed once here.
        drop(unsafe { Box::from_raw(b) });
    }
    job.remote_frees_counted = allocgator::thread_stats().remote_frees();
    std::ptr::null_mut()
}

#[test]
fn a_thread_that_only_frees_gets_a_heap_to_count_its_frees() {
    // Its first free finds no heap (counted process-wide, in counters every heapless thread
    // shares); the thread then takes a heap, and its later frees count there, uncontended.
    let mut job = FreeOnly {
        blocks: (0..1000).map(|i| Box::into_raw(Box::new([i; 4]))).collect(),
        remote_frees_counted: 0,
    };
    let mut tid: libc::pthread_t = 0;
    // SAFETY: a valid start routine and argument, which outlives the thread (joined below).
    unsafe {
        assert_eq!(
            libc::pthread_create(
                &mut tid,
                std::ptr::null(),
                only_frees,
                (&raw mut job).cast()
            ),
            0
        );
        assert_eq!(libc::pthread_join(tid, std::ptr::null_mut()), 0);
    }
    assert_eq!(job.remote_frees_counted, 999);
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

// ---------------------------------------------------------------- after the heap is torn down
//
// allocgator abandons a thread's heap in a pthread key destructor, after Rust's thread-local
// destructors (which the test above covers). Code can still run later: destructors of other
// pthread keys, run in the same or a later round. There the thread has no heap any more; an
// allocation must adopt one again (and give it back at the end), a free of the thread's own
// earlier blocks goes to a heap that may already belong to another thread.

#[allow(clippy::disallowed_types)]
static LATE_DTOR_ROUNDS: AtomicUsize = AtomicUsize::new(0);

/// A pthread key created by this test (after allocgator's: the process allocated long ago).
fn late_key() -> libc::pthread_key_t {
    static KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer and an `extern "C"` destructor.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) };
        assert_eq!(rc, 0);
        key
    })
}

/// What a thread hands to its late destructor: blocks it allocated while it was running.
struct LateState {
    #[allow(clippy::vec_box)] // separate small blocks, on purpose
    small: Vec<Box<[u64; 8]>>,
    large: Vec<u8>,
    huge: Vec<u8>,
    round: usize,
}

/// Allocates, checks and frees blocks of every kind (small, medium, large, huge).
fn churn_every_kind(tag: u8) {
    let small: Vec<Box<[u64; 8]>> = (0..200).map(|i| Box::new([i; 8])).collect();
    let medium = vec![tag; 20_000];
    let large = vec![tag; 300_000];
    let huge = vec![tag; 3 << 20];
    let mut grown: Vec<u32> = Vec::new();
    grown.extend(0..100_000);
    assert!(small.iter().enumerate().all(|(i, b)| b[7] == i as u64));
    assert!(medium.iter().all(|&b| b == tag));
    assert_eq!((large[299_999], huge[(3 << 20) - 1]), (tag, tag));
    assert_eq!(grown[99_999], 99_999);
}

unsafe extern "C" fn late_destructor(state: *mut libc::c_void) {
    // SAFETY: the value is a `Box<LateState>` leaked by `late_thread_body` (or by the previous
    // round of this destructor); glibc cleared the slot before calling us.
    let mut state = unsafe { Box::from_raw(state.cast::<LateState>()) };
    // Whatever happens here must not unwind through C: count failures instead.
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        churn_every_kind(state.round as u8 + 1);
        // Blocks of this thread's earlier heap: intact, and freed from here.
        assert!(state
            .small
            .iter()
            .enumerate()
            .all(|(i, b)| b[0] == i as u64));
        assert!(state.large.iter().all(|&b| b == 5));
        assert!(state.huge.iter().step_by(4096).all(|&b| b == 6));
        state.small.truncate(state.small.len() / 2);
        state.large.shrink_to(1000);
        state.huge = Vec::new();
    }))
    .is_ok();
    if !ok {
        return; // the round count stays short; the test fails
    }
    LATE_DTOR_ROUNDS.fetch_add(1, Ordering::SeqCst);
    state.round += 1;
    if state.round < 2 {
        // Once more in the next round: by then allocgator's exit hook has certainly run
        // (glibc runs every key's destructor once per round), so this round allocates on a
        // thread whose heap was already abandoned.
        // SAFETY: our key; the value is leaked until the next round takes it back.
        unsafe { libc::pthread_setspecific(late_key(), Box::into_raw(state).cast()) };
    }
}

/// A thread body that allocates, then leaves blocks to its late destructor.
fn late_thread_body() {
    let state = Box::new(LateState {
        small: (0..100).map(|i| Box::new([i; 8])).collect(),
        large: vec![5; 200_000],
        huge: vec![6; 5 << 20],
        round: 0,
    });
    // SAFETY: our key; the destructor takes the box back.
    unsafe { libc::pthread_setspecific(late_key(), Box::into_raw(state).cast()) };
}

#[test]
fn allocation_in_destructors_after_the_heap_is_torn_down() {
    let before = LATE_DTOR_ROUNDS.load(Ordering::SeqCst);
    let threads = 200;
    for _ in 0..threads {
        thread::spawn(late_thread_body).join().unwrap();
    }
    assert_eq!(
        LATE_DTOR_ROUNDS.load(Ordering::SeqCst) - before,
        2 * threads
    );
    // Each thread took a heap back in its late destructor; it must have given it back again
    // (heaps are reused, not one new heap per thread).
    let stats = allocgator::stats();
    println!("heaps after {threads} threads: {}", stats.heaps());
    assert!(
        stats.heaps() < 150,
        "heaps adopted in late destructors are not pooled: {stats}"
    );
    churn_every_kind(9);
}

extern "C" fn only_late(_: *mut libc::c_void) -> *mut libc::c_void {
    // This raw thread never allocates while it runs: its first allocation happens in a late
    // destructor. The key's value must be non-null for the destructor to run; a pointer to a
    // static says "nothing to free" (round 0 is done by this function; no blocks).
    static EMPTY: u8 = 0;
    // SAFETY: our key; the destructor below is for `late_key`, so use a second key.
    unsafe { libc::pthread_setspecific(only_late_key(), (&raw const EMPTY).cast_mut().cast()) };
    std::ptr::null_mut()
}

#[allow(clippy::disallowed_types)]
static ONLY_LATE_RAN: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn only_late_destructor(_: *mut libc::c_void) {
    if std::panic::catch_unwind(|| churn_every_kind(3)).is_ok() {
        ONLY_LATE_RAN.fetch_add(1, Ordering::SeqCst);
    }
}

fn only_late_key() -> libc::pthread_key_t {
    static KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer and an `extern "C"` destructor.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(only_late_destructor)) };
        assert_eq!(rc, 0);
        key
    })
}

#[test]
fn a_thread_whose_first_allocation_is_in_a_late_destructor() {
    only_late_key();
    let before = ONLY_LATE_RAN.load(Ordering::SeqCst);
    for _ in 0..50 {
        let mut tid: libc::pthread_t = 0;
        // SAFETY: a valid start routine; the thread is joined below.
        unsafe {
            assert_eq!(
                libc::pthread_create(&mut tid, std::ptr::null(), only_late, std::ptr::null_mut()),
                0
            );
            assert_eq!(libc::pthread_join(tid, std::ptr::null_mut()), 0);
        }
    }
    assert_eq!(ONLY_LATE_RAN.load(Ordering::SeqCst) - before, 50);
}

// ---------------------------------------------------------------- after main

/// Set in the child process of `allocation_after_main_returns`.
const AFTER_MAIN_ENV: &str = "ALLOCGATOR_TEST_AFTER_MAIN";

extern "C" fn at_exit() {
    // Runs after the harness's `main` has returned, from `exit`.
    let ok = std::panic::catch_unwind(|| {
        churn_every_kind(7);
        let s: String = (0..1000).map(|i| i.to_string()).collect();
        assert!(s.ends_with("999"));
    })
    .is_ok();
    let msg: &[u8] = if ok {
        b"\nafter-main allocations ok\n"
    } else {
        b"\nafter-main allocations FAILED\n"
    };
    // SAFETY: writing a valid buffer to stdout.
    unsafe { libc::write(1, msg.as_ptr().cast(), msg.len()) };
}

/// The child's half: registers an `atexit` handler that allocates (ignored: run only by the
/// test below, in a child process).
#[test]
#[ignore = "helper: run in a child process by allocation_after_main_returns"]
fn after_main_child() {
    if std::env::var_os(AFTER_MAIN_ENV).is_some() {
        // SAFETY: registering a plain `extern "C" fn()`.
        assert_eq!(unsafe { libc::atexit(at_exit) }, 0);
        // Leave live blocks behind for after main, too.
        std::mem::forget(vec![1u8; 100_000]);
    }
}

#[test]
fn allocation_after_main_returns() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "after_main_child",
            "--test-threads=1",
        ])
        .env(AFTER_MAIN_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {out:?}");
    assert!(
        stdout.contains("after-main allocations ok"),
        "the atexit handler did not finish: {stdout}"
    );
}
