//! Is a custom allocator for a protocol's messages faster than the global one?
//!
//! A server keeps a window of live messages of a `Protocol` enum whose variants box their
//! payloads (`Ping`, `Ack`, `Data`, `Blob`: 8 to 200 bytes), and replaces random ones, as a
//! connection handler does. The same workload runs three ways, interleaved and repeated, and
//! the medians are compared:
//!
//! - `global`: `Box<T>` from the process's global allocator. This example does **not**
//!   install a `#[global_allocator]`, so that is the system allocator (glibc malloc on Linux);
//! - `pools`: one `allocgator::Pool` per message type, `Box<T, &Pool>`;
//! - `sync`: one `allocgator::SyncPool` per message type, `Box<T, &SyncPool>`;
//! - `engine`: `Box<T, allocgator::Allocgator>`, the allocgator engine used as an
//!   `Allocator` (what the global path would give if it were installed).
//!
//! `cargo run --release --example protocol [ops] [rounds] [global|pools|sync|engine]`
//! (defaults: 5,000,000 and 7, all four). The last line answers the question from the
//! measured ratios.
//!
//! # What made the pools slower than the engine, and what fixed it
//!
//! The pools used to run at 0.6x the engine's speed here although they execute fewer
//! instructions per message (callgrind: 68 against 77 per replacement now). The cause was
//! not the free list: a `Pool` with two lists (allocate from one, free onto the other, as the
//! engine's pages do) ran no faster. It was the drop. Dropping a `Protocol` is a `match` on
//! its variant; with one pool per type, each arm called the pool's `deallocate` with that
//! type's `Layout`, and `deallocate` compared the layout with the block size (to tell pool
//! blocks from fallback blocks), so each arm was different code and the `match` compiled
//! to a jump table. The variant is random, so that indirect jump was mispredicted on most
//! messages. The engine's `deallocate` ignores the layout, so its four arms were identical
//! and merged. Making the pools' free path independent of the layout (a `Pool` tells its
//! blocks from fallback blocks by address, and only while fallback blocks are live) took the
//! pools from 0.61x to about 1.2x the engine.
use allocgator::allocator_api2::alloc::{Allocator, Global};
use allocgator::allocator_api2::boxed::Box;
use allocgator::{Allocgator, Pool, SyncPool};
use std::hint::black_box;
use std::time::Instant;

/// Keep-alive.
#[allow(dead_code)]
struct Ping {
    seq: u64,
}
/// Acknowledgement.
#[allow(dead_code)]
struct Ack {
    id: u64,
    ts: u64,
}
/// A small payload.
#[allow(dead_code)]
struct Data {
    id: u64,
    body: [u64; 6],
}
/// A larger payload.
#[allow(dead_code)]
struct Blob {
    id: u64,
    bytes: [u8; 192],
}

/// A protocol message: each variant boxes its payload in the allocator `A`.
#[allow(dead_code)]
enum Protocol<A: Allocator> {
    Ping(Box<Ping, A>),
    Ack(Box<Ack, A>),
    Data(Box<Data, A>),
    Blob(Box<Blob, A>),
}

/// Where each message type is allocated.
struct Allocs<A> {
    ping: A,
    ack: A,
    data: A,
    blob: A,
}

impl<A: Allocator + Clone> Allocs<A> {
    #[inline(always)]
    fn make(&self, r: u64) -> Protocol<A> {
        match r % 8 {
            0..=2 => Protocol::Ping(Box::new_in(Ping { seq: r }, self.ping.clone())),
            3..=4 => Protocol::Ack(Box::new_in(Ack { id: r, ts: r >> 3 }, self.ack.clone())),
            5..=6 => Protocol::Data(Box::new_in(
                Data {
                    id: r,
                    body: [r; 6],
                },
                self.data.clone(),
            )),
            _ => Protocol::Blob(Box::new_in(
                Blob {
                    id: r,
                    bytes: [r as u8; 192],
                },
                self.blob.clone(),
            )),
        }
    }
}

const WINDOW: usize = 4096;

/// Replaces random messages of a window `ops` times; returns ns per replacement.
fn run<A: Allocator + Clone>(allocs: &Allocs<A>, ops: u64, seed: u64) -> f64 {
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut window: Vec<Protocol<A>> = (0..WINDOW).map(|_| allocs.make(next())).collect();
    let start = Instant::now();
    for _ in 0..ops {
        let r = next();
        let slot = (r >> 40) as usize % WINDOW;
        window[slot] = black_box(allocs.make(r));
    }
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    drop(black_box(window));
    ns
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let ops: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    // Optional: run one variant only (for profiling): `global`, `pools` or `engine`.
    let only = args.next().unwrap_or_default();
    let skip = |name: &str| !only.is_empty() && only != name;

    let (p_ping, p_ack, p_data, p_blob) = (
        Pool::for_type::<Ping>(),
        Pool::for_type::<Ack>(),
        Pool::for_type::<Data>(),
        Pool::for_type::<Blob>(),
    );
    let pools = Allocs {
        ping: &p_ping,
        ack: &p_ack,
        data: &p_data,
        blob: &p_blob,
    };
    let (s_ping, s_ack, s_data, s_blob) = (
        SyncPool::for_type::<Ping>(),
        SyncPool::for_type::<Ack>(),
        SyncPool::for_type::<Data>(),
        SyncPool::for_type::<Blob>(),
    );
    let sync = Allocs {
        ping: &s_ping,
        ack: &s_ack,
        data: &s_data,
        blob: &s_blob,
    };
    let global = Allocs {
        ping: Global,
        ack: Global,
        data: Global,
        blob: Global,
    };
    let engine = Allocs {
        ping: Allocgator,
        ack: Allocgator,
        data: Allocgator,
        blob: Allocgator,
    };

    let (mut g, mut p, mut s, mut e) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let seed = 0x9E37_79B9_7F4A_7C15 ^ round as u64;
        // Interleaved (A B C A B C ...), each on the same random sequence.
        g.push(if skip("global") {
            f64::NAN
        } else {
            run(&global, ops, seed)
        });
        p.push(if skip("pools") {
            f64::NAN
        } else {
            run(&pools, ops, seed)
        });
        s.push(if skip("sync") {
            f64::NAN
        } else {
            run(&sync, ops, seed)
        });
        e.push(if skip("engine") {
            f64::NAN
        } else {
            run(&engine, ops, seed)
        });
    }
    // Ratios are paired within a round (the machine's speed drifts between rounds), then
    // summarised by their median and range.
    let ratio = |num: &[f64], den: &[f64]| -> (f64, f64, f64) {
        let mut r: Vec<f64> = num.iter().zip(den).map(|(a, b)| a / b).collect();
        let (lo, hi) = r
            .iter()
            .fold((f64::INFINITY, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        (median(&mut r), lo, hi)
    };
    let (pg, pe, se) = (ratio(&g, &p), ratio(&e, &p), ratio(&e, &s));
    let (g, p, s, e) = (
        median(&mut g.clone()),
        median(&mut p.clone()),
        median(&mut s.clone()),
        median(&mut e.clone()),
    );
    println!(
        "{ops} replacements in a window of {WINDOW} messages, median of {rounds} interleaved rounds"
    );
    println!("  Box<T> (global allocator: the system's here)  {g:7.2} ns/op");
    println!("  Box<T, &Pool> (one pool per message type)     {p:7.2} ns/op");
    println!("  Box<T, &SyncPool> (one shared pool per type)  {s:7.2} ns/op");
    println!("  Box<T, Allocgator> (the engine's heap)        {e:7.2} ns/op");
    let show = |(m, lo, hi): (f64, f64, f64)| format!("{m:.2}x ({lo:.2}-{hi:.2})");
    println!(
        "ratio: pools are {} as fast as the global allocator, {} as fast as the engine; a \
         SyncPool is {} as fast as the engine",
        show(pg),
        show(pe),
        show(se)
    );
    if !(pg.0.is_nan() || pe.0.is_nan()) {
        println!("answer: {}", answer(pg.0, pe.0, se.0));
    }
    for (name, pool) in [
        ("Ping", &p_ping),
        ("Ack", &p_ack),
        ("Data", &p_data),
        ("Blob", &p_blob),
    ] {
        let s = pool.stats();
        println!(
            "  pool {name:<4}: block {:>3} B, {} blocks in {} chunks, {} live",
            pool.block_size(),
            s.capacity_blocks(),
            s.chunks(),
            s.live_blocks()
        );
    }
}

/// The question of this example, answered from the measured ratios (pools ÷ system, pools ÷
/// engine, SyncPool ÷ engine, each "times as fast").
fn answer(vs_system: f64, vs_engine: f64, sync_vs_engine: f64) -> String {
    let verdict = |r: f64| {
        if r >= 1.05 {
            "faster than"
        } else if r > 0.95 {
            "level with"
        } else {
            "slower than"
        }
    };
    let mut s = format!(
        "one Pool per message type is {} the system allocator ({vs_system:.2}x) and {} \
         allocgator's own engine ({vs_engine:.2}x)",
        verdict(vs_system),
        verdict(vs_engine)
    );
    if !sync_vs_engine.is_nan() {
        s += &format!(
            "; a SyncPool, shared between threads, is {} the engine ({sync_vs_engine:.2}x): each \
             of its allocations and frees is a locked compare-and-swap (a full barrier on x86), \
             where the engine and a Pool use plain loads and stores",
            verdict(sync_vs_engine)
        );
    }
    s
}
