//! Local (non-global) allocators used by the L1–L3 workloads.
//!
//! Each arena implements [`Arena`]; the L2 pool workloads are generic over an
//! allocator-api2 [`Allocator`]. allocgator's own rows (`Arena`, `Pool`, `SyncPool`,
//! `static_pool!`) run in
//! the `pg-allocgator` worker and exist only when the playground is built with its default
//! `allocgator` feature; without it they say why they are missing.

use allocator_api2::alloc::Allocator;

/// A local allocator row in the L workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    /// `bumpalo::Bump` (chunks from glibc: runs in the `pg-system` worker).
    Bumpalo,
    /// `bump_scope::Bump` (chunks from glibc: runs in the `pg-system` worker).
    BumpScope,
    /// `allocgator::Arena` (runs in the `pg-allocgator` worker).
    AllocgatorArena,
    /// `allocgator::Pool` (runs in the `pg-allocgator` worker).
    AllocgatorPool,
    /// `allocgator::SyncPool` (runs in the `pg-allocgator` worker).
    AllocgatorSyncPool,
    /// `allocgator::static_pool!`: a static pool per type, zero-sized handles (runs in the
    /// `pg-allocgator` worker).
    AllocgatorStaticPool,
}

impl Local {
    /// Row label in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Local::Bumpalo => "bumpalo",
            Local::BumpScope => "bump-scope",
            Local::AllocgatorArena => "allocgator::Arena",
            Local::AllocgatorPool => "allocgator::Pool",
            Local::AllocgatorSyncPool => "allocgator::SyncPool",
            Local::AllocgatorStaticPool => "allocgator::static_pool!",
        }
    }

    /// Name under which `--alloc` selects this row.
    pub fn alloc_name(self) -> &'static str {
        match self {
            Local::Bumpalo => "bumpalo",
            Local::BumpScope => "bump-scope",
            _ => "allocgator",
        }
    }

    /// Value of the worker's `--impl`.
    pub fn impl_tag(self) -> &'static str {
        match self {
            Local::Bumpalo => "bumpalo",
            Local::BumpScope => "bump-scope",
            Local::AllocgatorArena => "allocgator-arena",
            Local::AllocgatorPool => "allocgator-pool",
            Local::AllocgatorSyncPool => "allocgator-syncpool",
            Local::AllocgatorStaticPool => "allocgator-staticpool",
        }
    }

    /// Global allocator (worker binary) the row runs under.
    pub fn host(self) -> &'static str {
        match self {
            Local::Bumpalo | Local::BumpScope => "glibc",
            _ => "allocgator",
        }
    }

    /// Whether the row can run in this build; `false` rows show [`unavailable_note`].
    pub fn available(self) -> bool {
        match self {
            Local::Bumpalo | Local::BumpScope => true,
            // allocgator's local allocators run in the `pg-allocgator` worker.
            Local::AllocgatorArena
            | Local::AllocgatorPool
            | Local::AllocgatorSyncPool
            | Local::AllocgatorStaticPool => cfg!(feature = "allocgator"),
        }
    }

    /// Parses a worker `--impl` value.
    pub fn from_impl_tag(s: &str) -> Option<Local> {
        [
            Local::Bumpalo,
            Local::BumpScope,
            Local::AllocgatorArena,
            Local::AllocgatorPool,
            Local::AllocgatorSyncPool,
            Local::AllocgatorStaticPool,
        ]
        .into_iter()
        .find(|l| l.impl_tag() == s)
    }
}

/// A bump arena: allocate many small values, then free them all at once.
///
/// `&Self` must also be an allocator-api2 [`Allocator`] so the arena can back
/// `Vec::new_in` in L3.
pub trait Arena
where
    for<'a> &'a Self: Allocator,
{
    /// An empty arena.
    fn new() -> Self;
    /// Allocates `v`; the returned pointer is only used to defeat optimisation.
    fn alloc_u64(&self, v: u64) -> *mut u64;
    /// Allocates `v`; the returned pointer is only used to defeat optimisation.
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32];
    /// Frees everything at once, keeping (some of) the memory for reuse.
    fn reset(&mut self);
}

impl Arena for bumpalo::Bump {
    fn new() -> Self {
        bumpalo::Bump::new()
    }
    #[inline]
    fn alloc_u64(&self, v: u64) -> *mut u64 {
        self.alloc(v)
    }
    #[inline]
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32] {
        self.alloc(v)
    }
    fn reset(&mut self) {
        bumpalo::Bump::reset(self)
    }
}

/// bump-scope's default arena type (upward bumping, chunks from the global allocator).
pub type BumpScope = bump_scope::Bump;

impl Arena for BumpScope {
    fn new() -> Self {
        bump_scope::Bump::new()
    }
    #[inline]
    fn alloc_u64(&self, v: u64) -> *mut u64 {
        bump_scope::BumpBox::leak(self.alloc(v))
    }
    #[inline]
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32] {
        bump_scope::BumpBox::leak(self.alloc(v))
    }
    fn reset(&mut self) {
        bump_scope::Bump::reset(self)
    }
}

#[cfg(feature = "allocgator")]
impl Arena for allocgator::Arena {
    fn new() -> Self {
        allocgator::Arena::new()
    }
    #[inline]
    fn alloc_u64(&self, v: u64) -> *mut u64 {
        self.alloc(v)
    }
    #[inline]
    fn alloc_32(&self, v: [u8; 32]) -> *mut [u8; 32] {
        self.alloc(v)
    }
    fn reset(&mut self) {
        allocgator::Arena::reset(self)
    }
}

/// Message explaining an unavailable local row.
pub fn unavailable_note(l: Local) -> &'static str {
    match l {
        Local::AllocgatorArena
        | Local::AllocgatorPool
        | Local::AllocgatorSyncPool
        | Local::AllocgatorStaticPool => {
            "not built (the playground was built without its default `allocgator` feature)"
        }
        _ => "not available",
    }
}
