//! Entry points for the loom models in `loom-tests/`, compiled only under `--cfg loom`.
//!
//! They drive the engine's own code (heaps, pages, the remote-free and pending-page protocol)
//! through the `sync` facade, so loom explores the interleavings of what ships. Statics and the
//! thread-local sentinel are not modelled (loom cannot): each model creates its heaps as values.
#![allow(missing_docs, clippy::missing_safety_doc)]

use crate::engine::heap::Heap;

/// A heap owned by the model (dropped = destroyed, live blocks included).
pub struct ModelHeap(*mut Heap);

// SAFETY: a heap may be handed to another thread (loom threads model the owner changing, as a
// pooled heap does); the model keeps to one owner at a time.
unsafe impl Send for ModelHeap {}
// SAFETY: other threads use `free` on a heap they do not own only through their own heap;
// the shared parts of a heap are atomic.
unsafe impl Sync for ModelHeap {}

impl ModelHeap {
    /// A new, empty heap.
    pub fn new() -> Self {
        let heap = Heap::create();
        assert!(!heap.is_null(), "loom model: heap creation failed");
        Self(heap)
    }

    fn heap(&self) -> &Heap {
        // SAFETY: valid until drop.
        unsafe { &*self.0 }
    }

    /// Allocates `size` bytes (8-aligned). The caller must own this heap.
    pub unsafe fn alloc(&self, size: usize) -> *mut u8 {
        // SAFETY: forwarded (caller owns the heap).
        unsafe { self.heap().alloc(size, 8) }
    }

    /// Frees any engine block from the calling thread, which owns this heap: blocks of other
    /// heaps take the remote path.
    pub unsafe fn free(&self, p: *mut u8) {
        // SAFETY: forwarded.
        unsafe { self.heap().free(p) }
    }

    /// Collects remote frees and pending pages, retires empty pages (no OS calls).
    pub unsafe fn collect(&self) {
        // SAFETY: forwarded (caller owns the heap).
        unsafe { self.heap().collect(false) }
    }

    /// Pages currently in use in this heap's segments.
    pub unsafe fn pages_in_use(&self) -> usize {
        // SAFETY: forwarded (caller owns the heap).
        unsafe { self.heap().pages_in_use() }
    }

    /// Live blocks counted by this heap (allocations minus frees made through it).
    pub fn counted_live(&self) -> isize {
        // SAFETY: models call this from the heap's owner.
        unsafe { self.heap().fold_all() };
        let mut sum = 0usize;
        for c in self.heap().counters.live.iter() {
            sum = sum.wrapping_add(c.load(crate::sync::Ordering::Relaxed));
        }
        sum as isize
    }
}

impl Default for ModelHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ModelHeap {
    fn drop(&mut self) {
        // SAFETY: the model is done with the heap and its blocks.
        unsafe { Heap::destroy(self.0) }
    }
}
