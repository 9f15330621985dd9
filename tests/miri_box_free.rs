//! Boxes freed through the engine: the free reaches the segment header with the mapping's own
//! provenance (under Miri, `os::system::roots`), not through the box's pointer, whose
//! permission covers only its value. Run under Miri with both borrow models by
//! `scripts/test.sh`; natively it is an ordinary smoke test.

use allocgator::allocator_api2::boxed::Box;
use allocgator::allocator_api2::vec::Vec;
use allocgator::{Allocgator, Pool, Slab};

#[test]
fn boxes_in_the_engine_are_freed() {
    let a = Box::new_in(1u64, Allocgator);
    let b = Box::new_in([2u8; 100], Allocgator);
    assert_eq!(*a + u64::from(b[99]), 3);
    drop(a);
    drop(b);
}

#[test]
fn boxes_in_local_allocators_are_freed() {
    let slab = Slab::new();
    let pool = Pool::for_type::<[u64; 4]>();
    let x = Box::new_in(5u32, &slab);
    let y = Box::new_in([7u64; 4], &pool);
    let mut v = Vec::new_in(&pool); // grows past the pool block: engine fallback
    v.extend(0..100u64);
    assert_eq!(*x as u64 + y[3] + v[99], 111);
}
