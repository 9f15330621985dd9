//! [`StaticPool`], a [`SyncPool`](crate::SyncPool) that lives in a `static`, and
//! [`StaticPoolHandle`], the zero-sized allocator that names one by type (declared with
//! [`static_pool!`](crate::static_pool)).
//!
//! The pool's state is built by a `const fn`, so a `static` holds it with no initialisation
//! check on any path; a handle is a type, not a pointer, so `Box<Msg, StaticPoolHandle<Msg>>`
//! is one word, as `Box<Msg>` is. The blocks and the lock-free stacks are `SyncPool`'s: any
//! thread allocates and frees, and chunks stay for the life of the program (a `static` is
//! never dropped).

use super::sync_pool::Shared;
#[cfg(not(feature = "checked"))]
use super::thread_cache::PoolCaches;
use super::{LocalMap, LocalStats};
use crate::api::{self, RawAllocator};
use core::alloc::Layout;
use core::marker::PhantomData;

/// A [`SyncPool`](crate::SyncPool) built at compile time, for a `static`: any thread
/// allocates from it and frees into it, without a lock, and `&'static StaticPool` is an
/// [`Allocator`](crate::allocator_api2::alloc::Allocator). Its chunks are never given back
/// (a `static` is never dropped). [`static_pool!`](crate::static_pool) declares one per message
/// type with a zero-sized handle, for one-word boxes.
///
/// ```
/// use allocgator::StaticPool;
/// use allocgator::allocator_api2::boxed::Box;
///
/// static FRAMES: StaticPool = StaticPool::for_type::<[u8; 64]>();
///
/// let frame: Box<[u8; 64], &'static StaticPool> = Box::new_in([0; 64], &FRAMES);
/// let freed_elsewhere = std::thread::spawn(move || frame[0]).join().unwrap();
/// assert_eq!(freed_elsewhere, 0);
/// assert_eq!(FRAMES.stats().live_blocks(), 0);
/// ```
pub struct StaticPool {
    shared: Shared,
    /// The threads' caches of free blocks (feature `checked`: none, so that every operation
    /// goes through the shared stacks' checks).
    #[cfg(not(feature = "checked"))]
    caches: PoolCaches,
}

impl StaticPool {
    /// A pool whose blocks fit `layout` (block size: `layout.size()` rounded up to its
    /// alignment, at least a pointer). Takes no memory until the first allocation.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// static POOL: allocgator::StaticPool =
    ///     allocgator::StaticPool::new(Layout::new::<[u64; 3]>());
    /// assert_eq!(POOL.block_size(), 24);
    /// ```
    pub const fn new(layout: Layout) -> StaticPool {
        let shared = Shared::new(layout);
        StaticPool {
            #[cfg(not(feature = "checked"))]
            caches: PoolCaches::new(shared.geometry().size),
            shared,
        }
    }

    /// A pool for values of type `T`.
    ///
    /// ```
    /// static POOL: allocgator::StaticPool = allocgator::StaticPool::for_type::<u128>();
    /// assert_eq!(POOL.block_size(), 16);
    /// ```
    pub const fn for_type<T>() -> StaticPool {
        Self::new(Layout::new::<T>())
    }

    /// Size of the pool's blocks.
    ///
    /// ```
    /// static POOL: allocgator::StaticPool = allocgator::StaticPool::for_type::<u8>();
    /// assert_eq!(POOL.block_size(), 8); // at least a pointer
    /// ```
    pub fn block_size(&self) -> usize {
        self.shared.geometry().size
    }

    /// A snapshot: live blocks (pool and fallback), capacity, chunks, fallback counts. Exact
    /// when no other thread is using the pool.
    ///
    /// ```
    /// use allocgator::allocator_api2::boxed::Box;
    /// static POOL: allocgator::StaticPool = allocgator::StaticPool::for_type::<u64>();
    /// let b = Box::new_in(1u64, &POOL);
    /// assert_eq!(POOL.stats().live_blocks(), 1);
    /// # drop(b);
    /// ```
    pub fn stats(&self) -> LocalStats {
        #[cfg(not(feature = "checked"))]
        let live = Some(self.caches.live());
        #[cfg(feature = "checked")]
        let live = None;
        let mut s = self.shared.stats_with(live);
        s.kind = "StaticPool";
        s
    }

    /// A map of the pool's chunks, newest first (see [`SyncPool::map`](crate::SyncPool::map)).
    ///
    /// ```
    /// static POOL: allocgator::StaticPool = allocgator::StaticPool::for_type::<u64>();
    /// assert!(POOL.map().chunks().is_empty()); // nothing allocated yet
    /// ```
    pub fn map(&self) -> LocalMap {
        self.shared.map()
    }
}

impl core::fmt::Debug for StaticPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticPool")
            .field("block_size", &self.block_size())
            .finish()
    }
}

// Only for `&'static`: the threads' caches point at the pool, so it must outlive every thread.
impl RawAllocator for &'static StaticPool {
    #[inline(always)]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let pool: &'static StaticPool = self;
        #[cfg(not(feature = "checked"))]
        {
            let g = pool.shared.geometry();
            if !g.fits(layout) {
                return pool.shared.fallback_alloc(layout, zeroed);
            }
            let p = pool.caches.alloc(&pool.shared);
            if p.is_null() {
                // The pool cannot grow: an engine block sized like a pool block.
                // SAFETY: `Geometry` sizes are valid layouts (rounded to a Layout's align).
                let block = unsafe { Layout::from_size_align_unchecked(g.size, g.align) };
                return pool.shared.fallback_alloc(block, zeroed);
            }
            if zeroed {
                // SAFETY: a block of `g.size` bytes we just took.
                unsafe { core::ptr::write_bytes(p, 0, g.size) };
            }
            p
        }
        #[cfg(feature = "checked")]
        pool.shared.alloc(layout, zeroed)
    }

    #[inline(always)]
    unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout) {
        let pool: &'static StaticPool = self;
        #[cfg(not(feature = "checked"))]
        {
            // The kind comes from the address, never from `layout` (see `Pool`'s `raw_free`).
            let _ = layout;
            if pool.shared.no_fallback_live() {
                // SAFETY: the Allocator contract: a live block of this pool, and a pool block
                // (no fallback block is live).
                unsafe { pool.caches.free(&pool.shared, ptr) }
            } else {
                // SAFETY: the Allocator contract: a live block of this pool.
                unsafe { free_either(pool, ptr) }
            }
        }
        #[cfg(feature = "checked")]
        // SAFETY: the Allocator contract: `ptr` is a live block of this pool fitting `layout`.
        unsafe {
            pool.shared.free(ptr, layout)
        }
    }

    #[inline(always)]
    unsafe fn raw_usable(&self, ptr: *mut u8, layout: Layout) -> usize {
        // SAFETY: the Allocator contract: `ptr` is a live block of this pool allocated with
        // `layout`'s alignment and fitting it.
        unsafe { self.shared.usable(ptr, layout) }
    }

    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the Allocator contract: `ptr` is a live block of this pool fitting `old`.
        unsafe { self.shared.resize_in_place(ptr, old, new_size) }
    }
}

api::impl_allocator!(&'static StaticPool);

/// A type with a [`StaticPool`] of its own: what [`static_pool!`](crate::static_pool)
/// implements for a message type, so that [`StaticPoolHandle<T>`] can find the pool from the
/// type alone.
///
/// ```
/// use allocgator::{HasStaticPool, StaticPool};
///
/// struct Ping(u64);
/// impl HasStaticPool for Ping {
///     fn static_pool() -> &'static StaticPool {
///         static POOL: StaticPool = StaticPool::for_type::<Ping>();
///         &POOL
///     }
/// }
/// assert_eq!(Ping::static_pool().block_size(), 8);
/// ```
pub trait HasStaticPool {
    /// The pool (the same one on every call).
    fn static_pool() -> &'static StaticPool;
}

/// The zero-sized allocator of `T`'s [`StaticPool`]: `Copy + Send + Sync + 'static`, so
/// `Box<T, StaticPoolHandle<T>>` is one word, moves into `std::thread::spawn` or
/// `tokio::spawn`, and frees from any thread. Declared, with a name, by
/// [`static_pool!`](crate::static_pool).
///
/// ```
/// use allocgator::allocator_api2::boxed::Box;
///
/// struct Ping(u64);
/// allocgator::static_pool!(PingPool, Ping); // `PingPool` = `StaticPoolHandle<Ping>`
///
/// let b: Box<Ping, PingPool> = Box::new_in(Ping(7), PingPool);
/// assert_eq!(size_of_val(&b), size_of::<usize>());
/// assert_eq!(std::thread::spawn(move || b.0).join().unwrap(), 7);
/// ```
pub struct StaticPoolHandle<T: ?Sized>(PhantomData<fn() -> T>);

impl<T: ?Sized> StaticPoolHandle<T> {
    /// The handle (it has no state: every handle of `T` is the same).
    ///
    /// ```
    /// struct Ack;
    /// allocgator::static_pool!(AckPool, Ack);
    /// let h: AckPool = allocgator::StaticPoolHandle::new();
    /// assert_eq!(h, AckPool);
    /// ```
    pub const fn new() -> Self {
        StaticPoolHandle(PhantomData)
    }
}

impl<T: HasStaticPool + ?Sized> StaticPoolHandle<T> {
    /// The pool this handle allocates from.
    ///
    /// ```
    /// struct Ack;
    /// allocgator::static_pool!(AckPool, Ack);
    /// assert_eq!(AckPool::pool().stats().live_blocks(), 0);
    /// ```
    #[inline(always)]
    pub fn pool() -> &'static StaticPool {
        T::static_pool()
    }
}

impl<T: ?Sized> Clone for StaticPoolHandle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for StaticPoolHandle<T> {}

impl<T: ?Sized> Default for StaticPoolHandle<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> PartialEq for StaticPoolHandle<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T: ?Sized> Eq for StaticPoolHandle<T> {}

impl<T: ?Sized> core::fmt::Debug for StaticPoolHandle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StaticPoolHandle<{}>", core::any::type_name::<T>())
    }
}

impl<T: HasStaticPool + ?Sized> RawAllocator for StaticPoolHandle<T> {
    #[inline(always)]
    unsafe fn raw_alloc(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        // SAFETY: `layout` is a valid non-zero-size layout (the RawAllocator contract).
        unsafe { (&T::static_pool()).raw_alloc(layout, zeroed) }
    }

    #[inline(always)]
    unsafe fn raw_free(&self, ptr: *mut u8, layout: Layout) {
        // Out of line, with the pool as an argument: dropping an enum whose variants box
        // their payloads in different static pools is then the same call in every arm, with
        // the pool looked up by variant, rather than a branch on the variant (mispredicted
        // when variants arrive in random order). See `Pool`'s `raw_free`.
        #[cfg(not(feature = "checked"))]
        {
            let _ = layout;
            // SAFETY: every handle of `T` names the same pool, so a block allocated through
            // any of them is a live block of `T::static_pool()` (the Allocator contract).
            unsafe { free_out_of_line(T::static_pool(), ptr) }
        }
        #[cfg(feature = "checked")]
        // SAFETY: every handle of `T` names the same pool, so `ptr` is a live block of
        // `T::static_pool()` fitting `layout` (the Allocator contract).
        unsafe {
            (&T::static_pool()).raw_free(ptr, layout)
        }
    }

    #[inline(always)]
    unsafe fn raw_usable(&self, ptr: *mut u8, layout: Layout) -> usize {
        // SAFETY: as for `raw_free`.
        unsafe { (&T::static_pool()).raw_usable(ptr, layout) }
    }

    unsafe fn raw_resize_in_place(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `raw_free`, with `old` for `layout`.
        unsafe { (&T::static_pool()).raw_resize_in_place(ptr, old, new_size) }
    }
}

api::impl_allocator!(impl [T: HasStaticPool + ?Sized] StaticPoolHandle<T>);

/// Gives back a block of `pool` while fallback blocks are live: a pool block if it lies in
/// one of the chunks, else a fallback block.
///
/// # Safety
/// `ptr` is a live block of `pool`, given back once.
#[cfg(not(feature = "checked"))]
#[cold]
#[inline(never)]
unsafe fn free_either(pool: &'static StaticPool, ptr: *mut u8) {
    if pool.shared.index_of(ptr).is_some() {
        // SAFETY: a live pool block (caller; it lies in a chunk).
        unsafe { pool.caches.free(&pool.shared, ptr) }
    } else {
        // SAFETY: a live block of this pool outside its chunks: a fallback block (caller).
        unsafe { pool.shared.fallback_free(ptr) }
    }
}

/// Gives back a live block of `pool` (see `StaticPoolHandle::raw_free` for why out of line).
///
/// # Safety
/// `ptr` is a live block of `pool`, given back once.
#[cfg(not(feature = "checked"))]
#[inline(never)]
unsafe fn free_out_of_line(pool: &'static StaticPool, ptr: *mut u8) {
    // SAFETY: a live block of `pool` (caller); the layout is not read without `checked`.
    unsafe { (&pool).raw_free(ptr, Layout::new::<u8>()) }
}

/// Declares a [`StaticPool`] for a message type and names its zero-sized allocator handle:
/// `static_pool!(pub PingPool, Ping)` makes `PingPool` both a type
/// (`StaticPoolHandle<Ping>`) and its value, so `Box<Ping, PingPool>` is one word and
/// `Box::new_in(ping, PingPool)` allocates from `Ping`'s pool, from any thread.
///
/// The type must be defined in the calling crate (the macro implements [`HasStaticPool`] for
/// it); for a type from elsewhere, declare a newtype. One pool per type.
///
/// ```
/// use allocgator::allocator_api2::boxed::Box;
///
/// pub struct Ping { pub seq: u64 }
/// pub struct Data { pub body: [u64; 6] }
/// allocgator::static_pool!(pub PingPool, Ping);
/// allocgator::static_pool!(pub DataPool, Data);
///
/// enum Protocol {
///     Ping(Box<Ping, PingPool>),
///     Data(Box<Data, DataPool>),
/// }
/// assert_eq!(size_of::<Protocol>(), 2 * size_of::<usize>()); // as with `Box<T>`
///
/// let msgs = vec![
///     Protocol::Ping(Box::new_in(Ping { seq: 1 }, PingPool)),
///     Protocol::Data(Box::new_in(Data { body: [2; 6] }, DataPool)),
/// ];
/// let sum = std::thread::spawn(move || {
///     msgs.iter()
///         .map(|m| match m {
///             Protocol::Ping(p) => p.seq,
///             Protocol::Data(d) => d.body[0],
///         })
///         .sum::<u64>()
/// });
/// assert_eq!(sum.join().unwrap(), 3); // freed on the other thread
/// assert_eq!(PingPool::pool().stats().live_blocks(), 0);
/// ```
#[macro_export]
macro_rules! static_pool {
    ($(#[$meta:meta])* $vis:vis $name:ident, $ty:ty $(,)?) => {
        impl $crate::HasStaticPool for $ty {
            #[inline(always)]
            fn static_pool() -> &'static $crate::StaticPool {
                static POOL: $crate::StaticPool = $crate::StaticPool::for_type::<$ty>();
                &POOL
            }
        }

        $(#[$meta])*
        $vis type $name = $crate::StaticPoolHandle<$ty>;

        #[doc = concat!("The [`", stringify!($name), "`] allocator (a zero-sized value).")]
        #[allow(non_upper_case_globals)]
        $vis const $name: $crate::StaticPoolHandle<$ty> = $crate::StaticPoolHandle::new();
    };
}
