//! std's own `Vec::new_in` and `Box::new_in` with allocgator's local allocators, through the
//! nightly `core::alloc::Allocator` impls (feature `nightly`).
//!
//! `cargo +nightly run --features nightly --example nightly_vec`
#![feature(allocator_api)]
// Stable on nightlies from 1.100 on (which warn about the line above); older ones need it.
#![allow(stable_features)]

use allocgator::{Arena, Pool, Slab};

fn main() {
    let pool = Pool::for_type::<u64>();
    let boxes: Vec<Box<u64, &Pool>> = (0..100).map(|i| Box::new_in(i, &pool)).collect();
    let mut v: Vec<u64, &Pool> = Vec::new_in(&pool); // grows through the engine fallback
    v.extend(boxes.iter().map(|b| **b));
    assert_eq!(v.iter().sum::<u64>(), 4950);
    println!("std Vec and Box in a Pool:\n{}", pool.stats());

    let arena = Arena::new();
    let mut s: Vec<u8, &Arena> = Vec::new_in(&arena);
    s.extend_from_slice(b"hello from an arena");
    assert_eq!(&s[..5], b"hello");

    let slab = Slab::new();
    let mut words: Vec<String, &Slab> = Vec::with_capacity_in(4, &slab);
    words.push("slab".to_string());
    assert_eq!(words.len(), 1);
}
