//! How fast can any allocator make the L2 protocol-pool loop? The benchmark's loop
//! (`playground`, workload `l2-pool`) does more than allocate: a random number, a three-way
//! branch on the message kind, a 64-byte write and a random slot. This program runs that loop,
//! side by side and interleaved, with:
//!
//! - `glibc`: `Box<Msg>` on the system allocator;
//! - `Pool`: `Box<Msg, &allocgator::Pool>`;
//! - `bare list`: a ten-line free list with no checks, no counters and no fallback (a
//!   yardstick, not an allocator: it serves only 64-byte blocks from one fixed buffer);
//! - `no allocation`: the loop writing each message into the box already in its slot — the
//!   floor for every allocator.
//!
//! ```sh
//! cargo run --release --example l2_floor
//! ```
//!
//! It prints the median ns per replacement over 11 rounds, and each one's time relative to
//! glibc's.

use allocgator::allocator_api2::alloc::{Allocator, Global};
use allocgator::allocator_api2::boxed::Box as ABox;
use std::hint::black_box;
use std::time::Instant;

#[path = "support/bare_list.rs"]
mod bare_list;
use bare_list::BareList;

/// The playground's 64-byte message.
#[derive(Clone, Copy)]
#[allow(dead_code)] // the fields are written, never read: the message is payload
enum Msg {
    Ping { seq: u64 },
    Ack { id: u64, ts: u64 },
    Data { id: u64, body: [u64; 6] },
}

impl Msg {
    #[inline]
    fn from_random(r: u64) -> Msg {
        match r % 4 {
            0 => Msg::Ping { seq: r },
            1 => Msg::Ack { id: r, ts: r >> 3 },
            _ => Msg::Data {
                id: r,
                body: [r; 6],
            },
        }
    }
}

/// The playground's xorshift.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    #[inline]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

const LIVE: usize = 4096;
const REPLACEMENTS: u64 = 2_000_000;
const BLOCK: usize = 64;
const BLOCKS: usize = 8192;

/// The benchmark's loop: ns per replacement.
#[inline(never)]
fn replace_loop<A: Allocator + Clone>(a: A) -> f64 {
    let mut rng = XorShift::new(2);
    let mut slots: Vec<ABox<Msg, A>> = (0..LIVE)
        .map(|i| ABox::new_in(Msg::Ping { seq: i as u64 }, a.clone()))
        .collect();
    let start = Instant::now();
    for _ in 0..REPLACEMENTS {
        let r = rng.next();
        let idx = (r >> 32) as usize % LIVE;
        // As in the playground, no `black_box` here: the box escapes into `slots`, and a
        // `black_box` costs a 16-byte `Box<Msg, &Pool>` a store-forwarding stall.
        slots[idx] = ABox::new_in(Msg::from_random(r), a.clone());
    }
    let ns = start.elapsed().as_nanos() as f64 / REPLACEMENTS as f64;
    drop(black_box(slots));
    ns
}

/// The same loop writing into the boxes already there: no allocation at all.
#[inline(never)]
fn no_allocation_loop() -> f64 {
    let mut rng = XorShift::new(2);
    let mut slots: Vec<ABox<Msg, Global>> = (0..LIVE)
        .map(|i| ABox::new_in(Msg::Ping { seq: i as u64 }, Global))
        .collect();
    let start = Instant::now();
    for _ in 0..REPLACEMENTS {
        let r = rng.next();
        let idx = (r >> 32) as usize % LIVE;
        *slots[idx] = Msg::from_random(r);
    }
    let ns = start.elapsed().as_nanos() as f64 / REPLACEMENTS as f64;
    drop(black_box(slots));
    ns
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let names = ["glibc", "Pool", "bare list", "no allocation"];
    let mut times: [Vec<f64>; 4] = Default::default();
    for _ in 0..11 {
        times[0].push(replace_loop(Global));
        let pool = allocgator::Pool::for_type::<Msg>();
        times[1].push(replace_loop(&pool));
        let bare = BareList::new(BLOCK, BLOCK, BLOCKS);
        times[2].push(replace_loop(&bare));
        times[3].push(no_allocation_loop());
    }
    let glibc = median(&mut times[0]);
    println!("L2 loop, {REPLACEMENTS} replacements of {LIVE} live 64-byte messages, median of 11:");
    for (name, t) in names.iter().zip(times.iter_mut()) {
        let ns = median(t);
        println!(
            "  {name:<14} {ns:6.2} ns   {:.2} of glibc's time",
            ns / glibc
        );
    }
}
