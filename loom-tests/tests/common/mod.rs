//! What every loom model file shares.
#![allow(dead_code)]

use allocgator::loom_api::ModelHeap;

/// Block size of [`fill_one_page`]: 8 blocks per 64 KiB page.
pub const PAGE_BLOCK: usize = 8192;

/// Allocates 8 blocks of [`PAGE_BLOCK`] bytes from `owner` (which the caller owns): exactly one 64 KiB page,
/// handed out whole. Returns the blocks and the page's address.
pub fn fill_one_page(owner: &ModelHeap) -> (Vec<SendPtr>, usize) {
    // SAFETY: the caller owns `owner`.
    let blocks: Vec<SendPtr> = (0..8)
        .map(|_| SendPtr(unsafe { owner.alloc(PAGE_BLOCK) }))
        .collect();
    let page = blocks[0].0 as usize & !0xFFFF;
    assert!(
        blocks.iter().all(|b| b.0 as usize & !0xFFFF == page),
        "one page"
    );
    (blocks, page)
}

/// A block handed to another loom thread.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut u8);
// SAFETY: the models hand each block to exactly one other thread.
unsafe impl Send for SendPtr {}

/// Runs a loom model and reports how many interleavings it explored (counted with a std
/// atomic: the counter lives outside the model).
#[allow(clippy::disallowed_types)]
pub fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&iterations);
    let start = std::time::Instant::now();
    // The engine's owner-side walks (collect, fold) touch many atomics, each a loom branch
    // point; the default cap of 1,000 per execution is too low for a heap's collect loop.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "loom model {name}: {} interleavings in {:.2?}",
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed()
    );
}
