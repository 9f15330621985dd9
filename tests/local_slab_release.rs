//! Dropping a `Slab` with live blocks gives its memory back: the engine's reserved and
//! committed figures come back down. Its own binary, so no other test maps memory meanwhile.

use allocgator::allocator_api2::{boxed::Box, vec::Vec};
use allocgator::Slab;

#[test]
fn dropping_a_slab_with_live_blocks_releases_its_memory() {
    for round in 0..3 {
        allocgator::trim();
        let before = allocgator::stats();
        let mut slab = Slab::new();
        for _ in 0..2 {
            for i in 0..20_000u64 {
                std::mem::forget(Box::new_in([i; 4], &slab)); // 32 B
            }
            for i in 0..200usize {
                let mut v: Vec<u8, &Slab> = Vec::with_capacity_in(1000 + i * 300, &slab);
                v.resize(1000 + i * 300, i as u8);
                std::mem::forget(v);
            }
            let mut big: Vec<u8, &Slab> = Vec::with_capacity_in(6 << 20, &slab); // huge block
            big.resize(6 << 20, 1);
            std::mem::forget(big);
            let s = slab.stats();
            assert_eq!(s.live_blocks(), 20_000 + 200 + 1);
            assert!(s.live_bytes() >= 20_000 * 32 + (6 << 20));
            assert!(s.committed_bytes() >= s.live_bytes());
            assert!(s.reserved_bytes() >= s.committed_bytes());
            if round == 0 {
                println!("{s}");
            }
            let during = allocgator::stats();
            assert!(
                during.reserved_bytes() >= before.reserved_bytes() + (8 << 20),
                "{during:?} vs {before:?}"
            );
            slab.reset(); // the same release, keeping the slab
            assert_eq!(slab.stats().live_blocks(), 0);
        }
        drop(slab);
        allocgator::trim();
        let after = allocgator::stats();
        assert!(
            after.reserved_bytes() <= before.reserved_bytes(),
            "round {round}: reserved {} -> {}",
            before.reserved_bytes(),
            after.reserved_bytes()
        );
        assert!(
            after.committed_bytes() <= before.committed_bytes(),
            "round {round}: committed {} -> {}",
            before.committed_bytes(),
            after.committed_bytes()
        );
    }
}
