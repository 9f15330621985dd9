//! Containers in local allocators: `Vec::new_in(&pool)` (the pool serves blocks that fit and
//! hands bigger layouts to the engine, so the vector can grow), boxes from the same pool, and
//! `hashbrown::HashMap::new_in(&slab)` in a private heap that is dropped whole.
//!
//! `cargo run --example vec_in_pool`
use allocgator::allocator_api2::{boxed::Box, vec::Vec};
use allocgator::{Pool, Slab};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

fn main() {
    // A pool for `Point`s: boxes take its free list...
    let pool = Pool::for_type::<Point>();
    let boxed: std::vec::Vec<Box<Point, &Pool>> = (0..1000)
        .map(|i| {
            Box::new_in(
                Point {
                    x: i as f64,
                    y: -(i as f64),
                },
                &pool,
            )
        })
        .collect();
    // ...and a vector in the same pool grows through the engine fallback.
    let mut v: Vec<Point, &Pool> = Vec::new_in(&pool);
    for b in &boxed {
        v.push(**b);
    }
    assert_eq!(v.len(), 1000);
    assert_eq!(v[999], *boxed[999]);
    println!(
        "pool after 1000 boxes and a 1000-element Vec:\n{}",
        pool.stats()
    );
    drop(v);
    drop(boxed);
    assert_eq!(pool.stats().live_blocks(), 0);

    // A hash map in a private heap: dropping the slab releases everything at once.
    let slab = Slab::new();
    let mut words = hashbrown::HashMap::new_in(&slab);
    let text = "the quick brown fox jumps over the lazy dog the end";
    for w in text.split(' ') {
        let mut key: Vec<u8, &Slab> = Vec::new_in(&slab);
        key.extend_from_slice(w.as_bytes());
        *words.entry(key).or_insert(0u32) += 1;
    }
    let the: &[u8] = b"the";
    let count = words
        .iter()
        .find(|(k, _)| k.as_slice() == the)
        .map(|(_, &c)| c);
    assert_eq!(count, Some(3));
    println!("slab with a {}-entry map:\n{}", words.len(), slab.stats());
    drop(words);
    drop(slab);
}
