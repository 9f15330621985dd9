//! # allocgator
//!
//! A per-thread slab allocator engine in the class of mimalloc and snmalloc — size classes,
//! 4 MiB segments of 64 KiB pages, thread-local heaps, lock-free cross-thread frees, memory
//! returned to the OS — usable as the global allocator:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: allocgator::Allocgator = allocgator::Allocgator;
//!
//! fn main() {
//!     let words: Vec<String> = "the quick brown fox".split(' ').map(String::from).collect();
//!     assert_eq!(words.len(), 4);
//!     println!("{}", allocgator::stats());
//! }
//! ```
//!
//! and as an `Allocator` (the [`allocator_api2`] trait, re-exported here so versions match;
//! with the `nightly` feature, `core::alloc::Allocator` too), directly ([`Allocgator`]) or
//! through local allocators on the same engine: [`Arena`], [`Pool`], [`SyncPool`],
//! [`StaticPool`] (with [`static_pool!`], a zero-sized allocator per message type) and
//! [`Slab`].
//!
//! ## How it works
//!
//! Each thread owns a heap. A heap owns segments (4 MiB, aligned, so any block finds its
//! segment by masking its address); a segment is cut into 64 KiB slices; a page is a run of
//! slices holding blocks of one size class. Allocation pops a page's free list (one table
//! lookup, one branch); a free by the owning thread pushes on the page's local list; a free by
//! any other thread pushes on the page's atomic `thread_free` list with one CAS, which the
//! owner collects with one CAS when it needs blocks. Free pages are decommitted after a few
//! milliseconds; [`trim()`] does it now. Threads that exit leave their heap to the next thread.
//!
//! ## Features
//!
//! - `nightly`: implement `core::alloc::Allocator` too (needs a nightly compiler).
//! - `checked`: detect bad frees — a double free (same thread, other thread, large or huge
//!   block), a pointer allocgator never returned, an interior pointer, a `Pool`/`SyncPool`
//!   deallocation with the wrong layout — and abort with a message naming the problem and the
//!   address, written without allocating. It keeps one bit per 8 bytes of every segment (out
//!   of line, 1/64 of the segment) and a bitmap of the segments allocgator owns, and costs an
//!   atomic RMW per allocation and per free. Without the feature, the frees that reach the
//!   remote path (other threads' blocks, huge blocks) still check, at no cost to the fast
//!   paths, that the segment header is allocgator's and that a huge block is freed at its
//!   start.
//! - `tls-initial-exec`: reach the thread's heap through an initial-exec thread-local (x86-64
//!   Linux; elsewhere the feature changes nothing). For shared libraries loaded at start-up,
//!   such as `liballocgator.so`, where a normal thread-local costs a `__tls_get_addr` call on
//!   every allocation; a `dlopen` of such a library works only while the loader's spare static
//!   TLS lasts. Executables do not need it.
#![cfg_attr(feature = "nightly", feature(allocator_api))]
// Nightlies from 1.100 on have `core::alloc::Allocator`, `Vec::new_in` and `Box::new_in`
// stable and warn that the feature above is; it stays for older nightlies, which need it.
#![cfg_attr(feature = "nightly", allow(stable_features))]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
// Loom builds compile the engine without the global path (statics and thread-locals are not
// modelled), so parts only the global path uses are unused there.
#![cfg_attr(loom, allow(dead_code, unused_imports, unused_macros))]

pub use allocator_api2;

mod api;
mod engine;
mod fmt;
#[cfg(not(loom))]
mod global;
mod local;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api;
mod options;
mod os;
mod sync;

pub use engine::map::{HeapInfo, HeapKind, HeapMap, Region, RegionState, SegmentInfo};
pub use engine::stats::{ClassStats, PageStates, Stats};
#[cfg(not(loom))]
pub use global::{
    heap_map, print_stats, raw, set_background_purge, stats, thread_stats, trim, Allocgator,
};
#[cfg(not(loom))]
pub use local::{Arena, Checkpoint, ChunkInfo, LocalMap, LocalStats, Pool, Slab};
#[cfg(all(not(loom), target_pointer_width = "64"))]
pub use local::{HasStaticPool, StaticPool, StaticPoolHandle, SyncPool, SyncPoolHandle};
#[cfg(not(loom))]
pub use options::{options, Options};

/// The README's code blocks, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
