//! Is a custom allocator for a protocol's messages faster than the global one?
//!
//! A server keeps a window of live messages of a `Protocol` enum whose variants box their
//! payloads (`Ping`, `Ack`, `Data`, `Blob`: 8 to 200 bytes), and replaces random ones, as a
//! connection handler does. The same workload runs five ways, interleaved and repeated, and
//! the medians are compared:
//!
//! - `global`: `Box<T>` from the process's global allocator. This example does **not**
//!   install a `#[global_allocator]`, so that is the system allocator (glibc malloc on Linux);
//! - `pools`: one `allocgator::Pool` per message type, `Box<T, &Pool>`;
//! - `sync`: one `allocgator::SyncPool` per message type, `Box<T, &SyncPool>`;
//! - `static`: one `allocgator::static_pool!` per message type, `Box<T, PingPool>` and so on:
//!   a zero-sized allocator, so the box is one word (the enum two, as with `Box<T>`);
//! - `engine`: `Box<T, allocgator::Allocgator>`, the allocgator engine used as an
//!   `Allocator` (what the global path would give if it were installed);
//! - `bare`: a yardstick, not an allocator: a free list per type with no checks, counters or
//!   fallback over a fixed buffer. It is what any free list costs in this loop, so no pool
//!   can be much faster than it.
//!
//! Then the same messages cross threads: one thread makes them, in batches of 1024, and
//! another drops them (a server's reader and worker), for the allocators a second thread can
//! free into: the system's, `&SyncPool`, the zero-sized static pools and the engine (whose
//! frees then take its remote-free path).
//!
//! `cargo run --release --example protocol [ops] [rounds] [VARIANT]` runs one variant only
//! (`global`, `pools`, `sync`, `static`, `engine`, `bare`, or a two-thread one: `global2`,
//! `sync2`, `static2`, `engine2`); defaults: 5,000,000 and 7, all. The last line answers the
//! question from the measured ratios.
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
//!
//! # How far a pool can go here
//!
//! The bare free list runs at about 1.1x the engine, and a `Pool` at 1.13-1.21x: the pool is
//! at the floor of this loop. What is left of each replacement is the loop's own work (the
//! random number, the message written, the window slot, the enum moved in and out), which
//! every allocator pays. A `Pool`'s free is one branch for its two rare cases (fallback
//! blocks live, or the block freed twice in a row) and two stores.
//!
//! The static pools pay for finding the thread's cache: a thread-local load, the pool's id, a
//! table entry, then the cache's head. Their free is one out-of-line call with the pool as
//! its argument (so that the `match` of the drop is one call, not a branch on the variant).
//! Giving the thread's table no destructor (no state check on each access), one balance per
//! cache instead of two counters, and tail calls for every slow path cut their instructions
//! per replacement by 17% under callgrind: from 0.78-0.80x (four runs) to 0.83-0.94x (eight)
//! the engine here, on a shared 2-core machine. Their boxes stay one word.
use allocgator::allocator_api2::alloc::{Allocator, Global};
use allocgator::allocator_api2::boxed::Box;
use allocgator::{Allocgator, Pool, SyncPool};
use std::hint::black_box;
use std::time::Instant;

#[path = "support/bare_list.rs"]
mod bare_list;
use bare_list::BareList;

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

// One static pool per message type, each named by a zero-sized allocator.
allocgator::static_pool!(PingPool, Ping);
allocgator::static_pool!(AckPool, Ack);
allocgator::static_pool!(DataPool, Data);
allocgator::static_pool!(BlobPool, Blob);

/// Where each message type is allocated: an allocator (type) per message type.
trait Allocs {
    type Ping: Allocator;
    type Ack: Allocator;
    type Data: Allocator;
    type Blob: Allocator;
    fn ping(&self) -> Self::Ping;
    fn ack(&self) -> Self::Ack;
    fn data(&self) -> Self::Data;
    fn blob(&self) -> Self::Blob;
}

/// A protocol message: each variant boxes its payload in its type's allocator.
#[allow(dead_code)]
enum Protocol<F: Allocs> {
    Ping(Box<Ping, F::Ping>),
    Ack(Box<Ack, F::Ack>),
    Data(Box<Data, F::Data>),
    Blob(Box<Blob, F::Blob>),
}

/// An allocator value per message type, of one type `A` (`Global`, `&Pool`, ...).
struct Each<A> {
    ping: A,
    ack: A,
    data: A,
    blob: A,
}

impl<A: Allocator + Clone> Allocs for Each<A> {
    type Ping = A;
    type Ack = A;
    type Data = A;
    type Blob = A;
    fn ping(&self) -> A {
        self.ping.clone()
    }
    fn ack(&self) -> A {
        self.ack.clone()
    }
    fn data(&self) -> A {
        self.data.clone()
    }
    fn blob(&self) -> A {
        self.blob.clone()
    }
}

/// The zero-sized handles of the static pools.
struct Statics;

impl Allocs for Statics {
    type Ping = PingPool;
    type Ack = AckPool;
    type Data = DataPool;
    type Blob = BlobPool;
    fn ping(&self) -> PingPool {
        PingPool
    }
    fn ack(&self) -> AckPool {
        AckPool
    }
    fn data(&self) -> DataPool {
        DataPool
    }
    fn blob(&self) -> BlobPool {
        BlobPool
    }
}

/// The message for random number `r`: 3/8 pings, 2/8 acks, 2/8 data, 1/8 blobs.
#[inline(always)]
fn make<F: Allocs>(f: &F, r: u64) -> Protocol<F> {
    match r % 8 {
        0..=2 => Protocol::Ping(Box::new_in(Ping { seq: r }, f.ping())),
        3..=4 => Protocol::Ack(Box::new_in(Ack { id: r, ts: r >> 3 }, f.ack())),
        5..=6 => Protocol::Data(Box::new_in(
            Data {
                id: r,
                body: [r; 6],
            },
            f.data(),
        )),
        _ => Protocol::Blob(Box::new_in(
            Blob {
                id: r,
                bytes: [r as u8; 192],
            },
            f.blob(),
        )),
    }
}

const WINDOW: usize = 4096;

/// A xorshift generator.
fn rng(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Replaces random messages of a window `ops` times; returns ns per replacement.
fn run<F: Allocs>(allocs: &F, ops: u64, seed: u64) -> f64 {
    let mut next = rng(seed);
    let mut window: Vec<Protocol<F>> = (0..WINDOW).map(|_| make(allocs, next())).collect();
    let start = Instant::now();
    for _ in 0..ops {
        let r = next();
        let slot = (r >> 40) as usize % WINDOW;
        window[slot] = black_box(make(allocs, r));
    }
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    drop(black_box(window));
    ns
}

/// Messages per batch handed from the making thread to the dropping one.
const BATCH: usize = 1024;

/// One thread makes `ops` messages in batches, another drops them; returns ns per message
/// (wall time, both threads running).
fn run_two_threads<F: Allocs + Sync>(allocs: &F, ops: u64, seed: u64) -> f64
where
    Protocol<F>: Send,
{
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Protocol<F>>>(4);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            for batch in rx {
                drop(black_box(batch));
            }
        });
        let mut next = rng(seed);
        let mut made = 0;
        while made < ops {
            let n = BATCH.min((ops - made) as usize);
            let batch: Vec<Protocol<F>> = (0..n).map(|_| make(allocs, next())).collect();
            made += n as u64;
            tx.send(black_box(batch)).unwrap();
        }
        drop(tx);
    });
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Per-round ratios `num / den`, summarised: (median, min, max).
fn ratio(num: &[f64], den: &[f64]) -> (f64, f64, f64) {
    let mut r: Vec<f64> = num.iter().zip(den).map(|(a, b)| a / b).collect();
    let (lo, hi) = r
        .iter()
        .fold((f64::INFINITY, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    (median(&mut r), lo, hi)
}

fn show((m, lo, hi): (f64, f64, f64)) -> String {
    format!("{m:.2}x ({lo:.2}-{hi:.2})")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let ops: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    // Optional: run one variant only (for profiling).
    let only = args.next().unwrap_or_default();
    let on = |name: &str| only.is_empty() || only == name;
    // The two-thread variants are named with a `2`: `global2`, `sync2`, `static2`, `engine2`.
    let on2 = |name: &str| only.is_empty() || only.strip_suffix('2') == Some(name);

    let (p_ping, p_ack, p_data, p_blob) = (
        Pool::for_type::<Ping>(),
        Pool::for_type::<Ack>(),
        Pool::for_type::<Data>(),
        Pool::for_type::<Blob>(),
    );
    let pools = Each {
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
    let sync = Each {
        ping: &s_ping,
        ack: &s_ack,
        data: &s_data,
        blob: &s_blob,
    };
    let (b_ping, b_ack, b_data, b_blob) = (
        BareList::for_type::<Ping>(WINDOW + 1),
        BareList::for_type::<Ack>(WINDOW + 1),
        BareList::for_type::<Data>(WINDOW + 1),
        BareList::for_type::<Blob>(WINDOW + 1),
    );
    let bare = Each {
        ping: &b_ping,
        ack: &b_ack,
        data: &b_data,
        blob: &b_blob,
    };
    let global = Each {
        ping: Global,
        ack: Global,
        data: Global,
        blob: Global,
    };
    let engine = Each {
        ping: Allocgator,
        ack: Allocgator,
        data: Allocgator,
        blob: Allocgator,
    };

    // [global, pools, sync, static, engine, bare] x rounds, single thread; then the two-thread
    // variants [global, sync, static, engine].
    let mut one: [Vec<f64>; 6] = Default::default();
    let mut two: [Vec<f64>; 4] = Default::default();
    let nan = f64::NAN;
    for round in 0..rounds {
        let seed = 0x9E37_79B9_7F4A_7C15 ^ round as u64;
        // Interleaved (A B C D E A B C D E ...), each on the same random sequence.
        one[0].push(if on("global") {
            run(&global, ops, seed)
        } else {
            nan
        });
        one[1].push(if on("pools") {
            run(&pools, ops, seed)
        } else {
            nan
        });
        one[2].push(if on("sync") {
            run(&sync, ops, seed)
        } else {
            nan
        });
        one[3].push(if on("static") {
            run(&Statics, ops, seed)
        } else {
            nan
        });
        one[4].push(if on("engine") {
            run(&engine, ops, seed)
        } else {
            nan
        });
        one[5].push(if on("bare") {
            run(&bare, ops, seed)
        } else {
            nan
        });
    }
    for round in 0..rounds {
        let seed = 0x2545_F491_4F6C_DD1D ^ round as u64;
        two[0].push(if on2("global") {
            run_two_threads(&global, ops, seed)
        } else {
            nan
        });
        two[1].push(if on2("sync") {
            run_two_threads(&sync, ops, seed)
        } else {
            nan
        });
        two[2].push(if on2("static") {
            run_two_threads(&Statics, ops, seed)
        } else {
            nan
        });
        two[3].push(if on2("engine") {
            run_two_threads(&engine, ops, seed)
        } else {
            nan
        });
    }
    let med = |v: &[f64]| median(&mut v.to_vec());
    println!(
        "{ops} replacements in a window of {WINDOW} messages, median of {rounds} interleaved rounds"
    );
    let names = [
        "Box<T> (global allocator: the system's here)",
        "Box<T, &Pool> (one pool per message type)",
        "Box<T, &SyncPool> (one shared pool per type)",
        "Box<T, PingPool> (static_pool!, zero-sized)",
        "Box<T, Allocgator> (the engine's heap)",
        "bare free list per type (yardstick, no checks)",
    ];
    for (name, v) in names.iter().zip(&one) {
        println!("  {name:<46}{:7.2} ns/op", med(v));
    }
    let (pg, pe) = (ratio(&one[0], &one[1]), ratio(&one[4], &one[1]));
    let (ze, se) = (ratio(&one[4], &one[3]), ratio(&one[4], &one[2]));
    let zg = ratio(&one[0], &one[3]);
    let (be, bg) = (ratio(&one[4], &one[5]), ratio(&one[0], &one[5]));
    println!(
        "ratio: pools are {} as fast as the global allocator, {} as fast as the engine; the \
         zero-sized static pools {} as fast as the global allocator, {} as fast as the \
         engine; SyncPools {} as fast as the engine; the bare free list (the floor) {} as \
         fast as the global allocator, {} as fast as the engine",
        show(pg),
        show(pe),
        show(zg),
        show(ze),
        show(se),
        show(bg),
        show(be)
    );
    println!("{ops} messages made on one thread and dropped on another, batches of {BATCH}");
    let names2 = [
        "Box<T> (the system's)",
        "Box<T, &SyncPool>",
        "Box<T, PingPool> (static_pool!)",
        "Box<T, Allocgator> (remote frees)",
    ];
    for (name, v) in names2.iter().zip(&two) {
        println!("  {name:<46}{:7.2} ns/msg", med(v));
    }
    let (ze2, se2) = (ratio(&two[3], &two[2]), ratio(&two[3], &two[1]));
    println!(
        "ratio: the zero-sized static pools are {}, SyncPools {} as fast as the engine",
        show(ze2),
        show(se2)
    );
    if !(pg.0.is_nan() || pe.0.is_nan()) {
        println!("answer: {}", answer(pg.0, pe.0, ze.0, ze2.0, se.0, be.0));
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

/// "faster than", "level with" or "slower than", for a "times as fast" ratio.
fn verdict(r: f64) -> &'static str {
    if r >= 1.05 {
        "faster than"
    } else if r > 0.95 {
        "level with"
    } else {
        "slower than"
    }
}

/// The question of this example, answered from the measured ratios ("times as fast"): pools
/// against the system and the engine; the static pools against the engine on one thread and
/// across two; a `SyncPool` against the engine on one thread; the bare free list (the floor)
/// against the engine.
fn answer(
    vs_system: f64,
    vs_engine: f64,
    static_one: f64,
    static_two: f64,
    sync_one: f64,
    floor: f64,
) -> String {
    let mut s = format!(
        "one Pool per message type is {} the system allocator ({vs_system:.2}x) and {} \
         allocgator's own engine ({vs_engine:.2}x)",
        verdict(vs_system),
        verdict(vs_engine)
    );
    if !static_one.is_nan() {
        s += &format!(
            "; static_pool!'s zero-sized pools (one word per box, a cache per thread) are {} \
             the engine on one thread ({static_one:.2}x) and {} it when another thread frees \
             ({static_two:.2}x)",
            verdict(static_one),
            verdict(static_two)
        );
    }
    if !sync_one.is_nan() {
        s += &format!(
            "; a SyncPool, whose every allocation and free is a locked compare-and-swap, is {} \
             the engine ({sync_one:.2}x)",
            verdict(sync_one)
        );
    }
    if !floor.is_nan() {
        s += &format!(
            "; a bare free list with no checks, the most any free list gains here, runs at \
             {floor:.2}x the engine"
        );
    }
    s
}
