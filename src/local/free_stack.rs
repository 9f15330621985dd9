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

    /// The top index a moment ago ([`NIL`] if empty), for walking the stack in statistics.
    /// Every link below it that was written before is visible to the caller.
    pub(crate) fn top(&self) -> u32 {
        // Acquire: as for `pop`; every change of the head is a Release RMW, so this
        // synchronises with the pushes of every index on the chain and their links.
        self.head.load(Ordering::Acquire) as u32
    }

    /// Whether the stack looked empty a moment ago (a hint for skipping it, nothing more).
    #[inline]
    pub(crate) fn looks_empty(&self) -> bool {
        // Relaxed: a hint; whoever acts on a non-empty stack goes through a CAS.
        self.head.load(Ordering::Relaxed) as u32 == NIL
    }

    /// Takes every index at once: returns the top one (the others follow through the links,
    /// down to [`NIL`]), or [`NIL`] if the stack is empty. The caller then holds the whole
    /// chain.
    ///
    /// The tag advances as for a pop. Leaving it alone would be enough on its own (the head
    /// becomes `NIL`, and only a tagged push can make it non-empty again), but resetting it,
    /// as a plain `swap(NIL)` would, is the ABA bug: a stale popper's word `(t, a)` comes back
    /// after `t` pushes. The loom model `sharded_take_all_aba` runs that pattern.
    #[inline]
    pub(crate) fn take_all(&self) -> u32 {
        // Acquire: as for `pop`; the chain's links were written before the pushes that are in
        // the release sequence we read (every change of the head is a CAS), so all of them
        // are visible to us.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let index = head as u32;
            if index == NIL {
                return NIL;
            }
            #[cfg(not(allocgator_mutation = "free_stack_take_resets_tag"))]
            let new = retagged(head, NIL);
            #[cfg(allocgator_mutation = "free_stack_take_resets_tag")]
            let new = NIL as usize;
            // Acquire on both outcomes: as in `pop`.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return index,
                Err(current) => head = current,
            }
        }
    }

    /// Pushes the chain that starts at `first` and follows the links down to [`NIL`]; the
    /// caller holds every block of it (it came from [`take_all`](Self::take_all)).
    ///
    /// If the stack is empty the chain simply becomes it; otherwise its last link is pointed
    /// at the current top first, which takes one walk down the chain (its links are the
    /// caller's alone: nobody else writes the links of blocks they do not hold).
    pub(crate) fn push_chain(&self, first: u32, links: &impl LinkTable) {
        // Relaxed: seeds the loop; the CAS publishes.
        let mut head = self.head.load(Ordering::Relaxed);
        let mut tail = NIL;
        loop {
            #[cfg(not(allocgator_mutation = "free_stack_chain_unlinked"))]
            if head as u32 != NIL || tail != NIL {
                if tail == NIL {
                    tail = first;
                    loop {
                        // Relaxed: our own chain (written by us, or ordered by the Acquire
                        // that handed it to us).
                        let next = links.link(tail).load(Ordering::Relaxed);
                        if next == NIL {
                            break;
                        }
                        tail = next;
                    }
                }
                // Relaxed: published by the Release CAS below.
                links.link(tail).store(head as u32, Ordering::Relaxed);
            }
            let new = retagged(head, first);
            // Release: publishes the chain's links and the blocks' hand-back to later poppers.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Pushes `index`, which the caller holds (popped earlier, or never pushed); returns the
    /// index now below it ([`NIL`] if none). Below itself means `index` was on top already:
    /// it was given back twice.
    #[inline]
    pub(crate) fn push(&self, index: u32, links: &impl LinkTable) -> u32 {
        let link = links.link(index);
        // Relaxed: seeds the loop; the CAS publishes.
        let mut head = self.head.load(Ordering::Relaxed);
        const PUSH_ORDER: Ordering = crate::sync::weakened!(Release, "free_stack_push_relaxed");
        loop {
            // Relaxed: published by the Release CAS below.
            link.store(head as u32, Ordering::Relaxed);
            let new = retagged(head, index);
            // Release: publishes the link and the block's hand-back to the next popper.
            match self
                .head
                .compare_exchange_weak(head, new, PUSH_ORDER, Ordering::Relaxed)
            {
                Ok(_) => return head as u32,
                Err(current) => head = current,
            }
        }
    }
}

/// Shards of a [`ShardedStack`]. Under loom, few: every steal scans them all.
#[cfg(not(loom))]
pub(crate) const SHARDS: usize = 16;
/// Shards of a [`ShardedStack`]. Under loom, few: every steal scans them all.
#[cfg(loom)]
pub(crate) const SHARDS: usize = 3;

/// One shard: a free stack alone on a cache line.
#[repr(align(64))]
pub(crate) struct Shard {
    /// The shard's blocks.
    pub(crate) free: FreeStack,
}

/// [`SHARDS`] free stacks, one per group of threads (each thread has a *home* shard).
///
/// A thread pushes onto its home shard and pops from it, so threads that do not share a
/// shard do not share a cache line either. A thread whose home is empty steals: it takes
/// another shard's whole stack at once ([`FreeStack::take_all`]), keeps the top block and
/// moves the rest home ([`FreeStack::push_chain`]). So a producer thread that only allocates
/// and a consumer that only frees meet once per batch of blocks, not once per block.
pub(crate) struct ShardedStack {
    shards: [Shard; SHARDS],
}

impl ShardedStack {
    /// Empty shards.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> ShardedStack {
        ShardedStack {
            shards: [const {
                Shard {
                    free: FreeStack::new(),
                }
            }; SHARDS],
        }
    }

    /// Empty shards.
    #[cfg(loom)]
    pub(crate) fn new() -> ShardedStack {
        ShardedStack {
            shards: core::array::from_fn(|_| Shard {
                free: FreeStack::new(),
            }),
        }
    }

    /// Shard `home` (`home < SHARDS`).
    #[inline(always)]
    pub(crate) fn shard(&self, home: usize) -> &Shard {
        &self.shards[home % SHARDS]
    }

    /// Every shard.
    pub(crate) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Pops from shard `home`, or steals another shard's blocks; `None` if all looked empty.
    #[inline]
    pub(crate) fn pop(&self, home: usize, links: &impl LinkTable) -> Option<u32> {
        match self.shard(home).free.pop(links) {
            Some(index) => Some(index),
            None => self.steal(home, links),
        }
    }

    /// Pushes `index` (which the caller holds) onto shard `home`; returns the index below it
    /// (see [`FreeStack::push`]).
    #[inline]
    pub(crate) fn push(&self, home: usize, index: u32, links: &impl LinkTable) -> u32 {
        self.shard(home).free.push(index, links)
    }

    /// Takes the first non-empty other shard whole: returns its top block and moves the rest
    /// to shard `home`.
    #[cold]
    #[inline(never)]
    fn steal(&self, home: usize, links: &impl LinkTable) -> Option<u32> {
        for step in 1..SHARDS {
            let victim = &self.shard(home + step).free;
            if victim.looks_empty() {
                continue;
            }
            let first = victim.take_all();
            if first == NIL {
                continue;
            }
            // Relaxed: the chain is ours, its links ordered by `take_all`'s Acquire.
            let rest = links.link(first).load(Ordering::Relaxed);
            if rest != NIL {
                self.shard(home).free.push_chain(rest, links);
            }
            return Some(first);
        }
        None
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
    fn take_all_hands_over_the_chain_and_push_chain_relinks_it() {
        let table = Table(core::array::from_fn(|_| AtomicU32::new(0)));
        let a = FreeStack::new();
        let b = FreeStack::new();
        assert_eq!(a.take_all(), NIL);
        for i in [1, 2, 3] {
            a.push(i, &table);
        }
        let before = a.head.load(Ordering::Relaxed);
        let first = a.take_all();
        assert_eq!(first, 3);
        assert!(a.looks_empty());
        assert_ne!(
            a.head.load(Ordering::Relaxed) >> 32,
            before >> 32,
            "tag kept"
        );
        // Onto an empty stack the chain goes as it is...
        b.push_chain(first, &table);
        assert_eq!(b.take_all(), 3);
        // ...onto a non-empty one its tail is linked to the old top.
        b.push(7, &table);
        b.push(6, &table);
        b.push_chain(3, &table);
        let order: Vec<u32> = core::iter::from_fn(|| b.pop(&table)).collect();
        assert_eq!(order, [3, 2, 1, 6, 7]);
    }

    #[test]
    fn sharded_stack_steals_a_whole_shard_and_moves_the_rest_home() {
        let table = Table(core::array::from_fn(|_| AtomicU32::new(0)));
        let s = ShardedStack::new();
        for i in [4, 5, 6] {
            s.push(3, i, &table); // a consumer on shard 3 frees three blocks
        }
        assert_eq!(s.pop(1, &table), Some(6), "steals the top of shard 3");
        assert!(s.shard(3).free.looks_empty(), "took shard 3 whole");
        assert_eq!(s.pop(1, &table), Some(5), "the rest is home now");
        assert_eq!(s.pop(1, &table), Some(4));
        assert_eq!(s.pop(1, &table), None);
        s.push(0, 2, &table);
        assert_eq!(s.pop(SHARDS - 1, &table), Some(2), "the scan wraps around");
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
