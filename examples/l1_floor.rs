//! How fast can any bump arena make the L1 loop? The benchmark's loop (`playground`,
//! workload `l1-reset`) places 10,007 `u64`s and 10,007 `[u8; 32]`s, keeps each address
//! alive with `black_box`, and resets the arena: 400 KB of stores per round. This program runs
//! that loop, side by side and interleaved, with:
//!
//! - `Arena`: `allocgator::Arena::alloc`;
//! - `bumpalo`: `bumpalo::Bump::alloc`;
//! - `bare bump`: a pointer bumped through one fixed buffer with no check at all (a yardstick,
//!   not an allocator: it cannot run out, grow or fail);
//! - `no allocation`: the same stores into two fixed arrays, indexed by the loop counter — the
//!   floor for every arena.
//!
//! ```sh
//! cargo run --release --example l1_floor
//! ```
//!
//! It prints the median ns per allocation over 11 rounds, each one's time relative to
//! bumpalo's, and the median of the per-round ratios.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

/// Values of each kind per round (the playground's `L1_N`).
const N: usize = 10_007;
/// Rounds per measurement.
const ROUNDS: usize = 300;

/// The operations the loop needs from an arena.
trait Bump {
    fn alloc_u64(&self, v: u64) -> *mut u64;
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32];
    fn reset(&mut self);
}

impl Bump for allocgator::Arena {
    #[inline(always)]
    fn alloc_u64(&self, v: u64) -> *mut u64 {
        self.alloc(v)
    }
    #[inline(always)]
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32] {
        self.alloc(v)
    }
    fn reset(&mut self) {
        allocgator::Arena::reset(self)
    }
}

impl Bump for bumpalo::Bump {
    #[inline(always)]
    fn alloc_u64(&self, v: u64) -> *mut u64 {
        self.alloc(v)
    }
    #[inline(always)]
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32] {
        self.alloc(v)
    }
    fn reset(&mut self) {
        bumpalo::Bump::reset(self)
    }
}

/// A pointer bumped through a buffer one round fills exactly: no check, no growth.
struct BareBump {
    buffer: Vec<u64>,
    next: Cell<*mut u64>,
}

impl BareBump {
    fn new() -> BareBump {
        let mut buffer = vec![0u64; N * 5];
        let next = Cell::new(buffer.as_mut_ptr());
        BareBump { buffer, next }
    }
}

impl Bump for BareBump {
    #[inline(always)]
    fn alloc_u64(&self, v: u64) -> *mut u64 {
        let p = self.next.get();
        // SAFETY: a round places N u64s and N [u8; 32]s, 5 N words: the buffer's size.
        unsafe {
            p.write(v);
            self.next.set(p.add(1));
        }
        p
    }
    #[inline(always)]
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32] {
        let p = self.next.get();
        // SAFETY: as above; u64 alignment is enough for a byte array.
        unsafe {
            p.cast::<[u8; 32]>().write(v);
            self.next.set(p.add(4));
        }
        p.cast()
    }
    fn reset(&mut self) {
        self.next.set(self.buffer.as_mut_ptr());
    }
}

/// The benchmark's loop: ns per allocation.
#[inline(never)]
fn l1_loop<B: Bump>(arena: &mut B) -> f64 {
    let start = Instant::now();
    for _ in 0..ROUNDS {
        for i in 0..N as u64 {
            black_box(arena.alloc_u64(i));
        }
        for i in 0..N {
            black_box(arena.alloc_32([i as u8; 32]));
        }
        arena.reset();
    }
    start.elapsed().as_nanos() as f64 / (ROUNDS * 2 * N) as f64
}

/// The same stores into fixed arrays, addresses from the loop counter.
#[inline(never)]
fn no_allocation_loop() -> f64 {
    let mut words = vec![0u64; N];
    let mut arrays = vec![[0u8; 32]; N];
    let start = Instant::now();
    for _ in 0..ROUNDS {
        for (i, w) in words.iter_mut().enumerate() {
            *w = i as u64;
            black_box(w as *mut u64);
        }
        for (i, a) in arrays.iter_mut().enumerate() {
            *a = [i as u8; 32];
            black_box(a as *mut [u8; 32]);
        }
    }
    start.elapsed().as_nanos() as f64 / (ROUNDS * 2 * N) as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let names = ["Arena", "bumpalo", "bare bump", "no allocation"];
    let mut times: [Vec<f64>; 4] = Default::default();
    let mut arena = allocgator::Arena::new();
    let mut bump = bumpalo::Bump::new();
    let mut bare = BareBump::new();
    for round in 0..12 {
        let t = [
            l1_loop(&mut arena),
            l1_loop(&mut bump),
            l1_loop(&mut bare),
            no_allocation_loop(),
        ];
        if round > 0 {
            // The first round warms the arenas' chunks.
            for (v, t) in times.iter_mut().zip(t) {
                v.push(t);
            }
        }
    }
    let ratios: Vec<Vec<f64>> = (0..4)
        .map(|k| {
            (0..times[k].len())
                .map(|r| times[k][r] / times[1][r])
                .collect()
        })
        .collect();
    println!(
        "L1 loop, {ROUNDS} rounds of {N} × u64 + {N} × [u8; 32], then reset; median of {}:",
        times[0].len()
    );
    for ((name, t), mut r) in names.iter().zip(times.iter_mut()).zip(ratios) {
        let ns = median(t);
        println!(
            "  {name:<14} {ns:5.2} ns   {:.2} of bumpalo's time",
            median(&mut r)
        );
    }
}
