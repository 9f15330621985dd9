//! [`FreeStack`]: the lock-free LIFO of block indices behind [`SyncPool`](crate::SyncPool).
//!
//! # A Treiber stack of *indices*, with a tag, and links kept out of line
//!
//! Blocks are named by 32-bit indices, and the stack's head is one 64-bit word:
//! `tag << 32 | index` ([`NIL`] for empty). Every successful push and pop adds one to the tag.
//! The link of block `i` (the index below it) is not stored in the block but in a table of
//! `AtomicU32` beside the blocks ([`LinkTable`]).
//!
//! **ABA.** A pop reads `head = (t, a)`, then `next = link(a)`, then CASes `(t, a) → (t+1,
//! next)`. The classic failure is: between the read and the CAS, `a` is popped, other blocks
//! move, and `a` is pushed back, so the head holds `a` again but `next` is stale. Here every
//! successful CAS changes the tag, so a head word that compares equal to the one read means no
//! successful push or pop happened since — unless exactly a multiple of 2^32 of them did while
//! this thread sat between its load and its CAS (seconds of work at full speed with the thread
//! descheduled the whole time, *and* the same index on top at the end). So a CAS that succeeds
//! installs a `next` read from an unchanged stack. The loom model `free_stack_aba` runs the
//! pop / pop / push-back pattern, and fails with the tag switched off.
//!
//! **Why links live out of line.** A popper reads the link of the head block; meanwhile
//! another thread may pop that block and its user may write it. With the link inside the
//! block, that read would race with the user's plain writes (a data race in the memory model,
//! even though the value read is then discarded by the failing CAS). In a table of atomics it
//! is an atomic read of pool metadata that nobody else writes non-atomically, and a program
//! that writes to a block after freeing it cannot corrupt the free list either.
//!
//! **Orderings.** A push writes the link, then publishes it with a Release CAS; a pop's Acquire
//! load (or failed CAS) of the head synchronises with it, so the link it reads for an unchanged
//! stack is the pusher's, and so is everything the pusher did to the block before giving it
//! back (free happens-before the next allocation of the block).

use crate::sync::{AtomicU32, AtomicUsize, Ordering};

/// The empty stack's index (no block has it).
pub(crate) const NIL: u32 = u32::MAX;

/// Where the link word of each block index lives.
pub(crate) trait LinkTable {
    /// The link of block `index`.
    ///
    /// Called for indices that have been pushed at least once, possibly after another thread
    /// popped the block again; the table must stay valid while the stack is used.
    fn link(&self, index: u32) -> &AtomicU32;
}

/// A lock-free, ABA-safe LIFO of block indices (see the module docs).
pub(crate) struct FreeStack {
    /// `tag << 32 | index`.
    head: AtomicUsize,
}

/// One step of the tag: every successful push and pop adds it (a test-only switch turns it
/// off, so the loom model can show the ABA failure it prevents).
#[cfg(not(allocgator_mutation = "free_stack_untagged"))]
const TAG_STEP: usize = 1 << 32;
#[cfg(allocgator_mutation = "free_stack_untagged")]
const TAG_STEP: usize = 0;

/// The head word that replaces `head` with `index` on top: the tag advanced by one step.
#[inline(always)]
fn retagged(head: usize, index: u32) -> usize {
    ((head & !0xFFFF_FFFF).wrapping_add(TAG_STEP)) | index as usize
}

impl FreeStack {
    /// An empty stack.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> FreeStack {
        FreeStack {
            head: AtomicUsize::new(NIL as usize),
        }
    }

    /// An empty stack.
    #[cfg(loom)]
    pub(crate) fn new() -> FreeStack {
        FreeStack {
            head: AtomicUsize::new(NIL as usize),
        }
    }

    /// Pops the most recently pushed index; `None` if the stack is empty.
    #[inline]
    pub(crate) fn pop(&self, links: &impl LinkTable) -> Option<u32> {
        // Acquire: synchronises with the Release CAS of the push that put this head there, so
        // its link (and its hand-back of the block) is visible.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let index = head as u32;
            if index == NIL {
                return None;
            }
            // Relaxed: ordered by the Acquire above. Possibly stale if another thread popped
            // `index` meanwhile and pushed it elsewhere; then the tag changed and the CAS
            // below fails (module docs).
            let next = links.link(index).load(Ordering::Relaxed);
            let new = retagged(head, next);
            // Acquire on both outcomes: on failure we retry with the new head and read its
            // link, which needs the same synchronisation as the first load.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(index),
                Err(current) => head = current,
            }
        }
    }

    /// Pushes `index`, which the caller holds (popped earlier, or never pushed).
    #[inline]
    pub(crate) fn push(&self, index: u32, links: &impl LinkTable) {
        let link = links.link(index);
        // Relaxed: seeds the loop; the CAS publishes.
        let mut head = self.head.load(Ordering::Relaxed);
        #[cfg(not(allocgator_mutation = "free_stack_push_relaxed"))]
        const PUSH_ORDER: Ordering = Ordering::Release;
        #[cfg(allocgator_mutation = "free_stack_push_relaxed")]
        const PUSH_ORDER: Ordering = Ordering::Relaxed;
        loop {
            // Relaxed: published by the Release CAS below.
            link.store(head as u32, Ordering::Relaxed);
            let new = retagged(head, index);
            // Release: publishes the link and the block's hand-back to the next popper.
            match self
                .head
                .compare_exchange_weak(head, new, PUSH_ORDER, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct Table([AtomicU32; 8]);
    impl LinkTable for Table {
        fn link(&self, index: u32) -> &AtomicU32 {
            &self.0[index as usize]
        }
    }

    #[test]
    fn lifo_order_and_empty() {
        let table = Table(core::array::from_fn(|_| AtomicU32::new(0)));
        let stack = FreeStack::new();
        assert_eq!(stack.pop(&table), None);
        for i in [3, 1, 7] {
            stack.push(i, &table);
        }
        assert_eq!(stack.pop(&table), Some(7));
        stack.push(5, &table);
        assert_eq!(stack.pop(&table), Some(5));
        assert_eq!(stack.pop(&table), Some(1));
        assert_eq!(stack.pop(&table), Some(3));
        assert_eq!(stack.pop(&table), None);
    }

    #[test]
    fn every_operation_changes_the_tag() {
        let table = Table(core::array::from_fn(|_| AtomicU32::new(0)));
        let stack = FreeStack::new();
        stack.push(2, &table);
        let first = stack.head.load(Ordering::Relaxed);
        assert_eq!(stack.pop(&table), Some(2));
        stack.push(2, &table);
        // Same index on top, different word: a stale popper's CAS fails.
        let second = stack.head.load(Ordering::Relaxed);
        assert_eq!(first as u32, second as u32);
        assert_ne!(first, second);
    }
}
