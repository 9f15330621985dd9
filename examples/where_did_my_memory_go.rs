//! Where did my memory go? A workload on the global engine, a pool, an arena and a slab, then
//! the heap map and statistics before and after `allocgator::trim()`.
//!
//! `cargo run --release --example where_did_my_memory_go`

#[global_allocator]
static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;

use allocgator::allocator_api2::{boxed::Box as ABox, vec::Vec as AVec};
use allocgator::{Arena, Pool, Slab};

fn main() {
    // Global allocations: 20,000 strings, of which we keep every tenth, and a 1 MiB buffer.
    let strings: Vec<String> = (0..20_000).map(|i| format!("string number {i}")).collect();
    let kept: Vec<String> = strings.into_iter().step_by(10).collect();
    let buffer = vec![7u8; 1 << 20];

    // A pool of 64-byte messages: 5,000 taken, 4,000 given back.
    let pool = Pool::for_type::<[u64; 8]>();
    let mut msgs: Vec<_> = (0..5_000)
        .map(|i| ABox::new_in([i as u64; 8], &pool))
        .collect();
    msgs.truncate(1_000);

    // An arena with a few thousand small values.
    let arena = Arena::new();
    for i in 0..3_000u64 {
        arena.alloc(i);
    }
    let mut v = AVec::new_in(&arena);
    v.extend(0..10_000u32);

    // A slab holding a hash map.
    let slab = Slab::new();
    let mut map = hashbrown::HashMap::new_in(&slab);
    for i in 0..2_000u32 {
        map.insert(i, [i; 4]);
    }

    println!("=== this thread's heap map ===\n{}", allocgator::heap_map());
    println!("=== global statistics ===\n{}", allocgator::stats());
    println!("=== this thread ===\n{}", allocgator::thread_stats());
    println!("=== pool ===\n{}\n{}", pool.stats(), pool.map());
    println!("=== arena ===\n{}\n{}", arena.stats(), arena.map());
    println!("=== slab ===\n{}\n{}", slab.stats(), slab.map());

    // Let most of it go and give the free memory back.
    drop(kept);
    drop(buffer);
    drop(msgs);
    allocgator::trim();
    println!("=== after dropping the strings, the buffer and the messages, and trim() ===");
    println!("=== this thread's heap map ===\n{}", allocgator::heap_map());
    println!("=== global statistics ===\n{}", allocgator::stats());
    assert_eq!(map.len(), 2_000);
    assert_eq!(v.len(), 10_000);
}
