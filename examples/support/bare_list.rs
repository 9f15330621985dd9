//! The yardstick the pool examples run beside the real allocators: a free list with no checks,
//! no counters and no fallback, over one fixed buffer. Not an allocator anyone should use: it
//! serves blocks of one size from a buffer that never grows. It is what a pool would cost if it
//! did nothing but push and pop, the floor for every free list in a loop.

use allocgator::allocator_api2::alloc::{AllocError, Allocator};
use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

/// An intrusive LIFO of `size`-byte blocks over one buffer of `blocks` of them.
pub struct BareList {
    head: Cell<*mut u8>,
    bump: Cell<*mut u8>,
    end: *mut u8,
    size: usize,
    align: usize,
    buffer: *mut u8,
    layout: Layout,
}

impl BareList {
    /// `blocks` blocks of `size` bytes aligned to `align` (a power of two of at least a
    /// pointer); `size` is rounded up to `align`.
    pub fn new(size: usize, align: usize, blocks: usize) -> BareList {
        assert!(align.is_power_of_two() && align >= size_of::<usize>());
        let size = size.max(align).next_multiple_of(align);
        let layout = Layout::from_size_align(size * blocks, align).unwrap();
        // SAFETY: a non-zero size.
        let buffer = unsafe { std::alloc::alloc(layout) };
        assert!(!buffer.is_null(), "out of memory");
        BareList {
            head: Cell::new(std::ptr::null_mut()),
            bump: Cell::new(buffer),
            end: buffer.wrapping_add(layout.size()),
            size,
            align,
            buffer,
            layout,
        }
    }

    /// Blocks for values of `T`.
    #[allow(dead_code)] // not every example uses each constructor
    pub fn for_type<T>(blocks: usize) -> BareList {
        Self::new(
            size_of::<T>(),
            align_of::<T>().max(size_of::<usize>()),
            blocks,
        )
    }
}

impl Drop for BareList {
    fn drop(&mut self) {
        // SAFETY: the buffer from `new`, with its layout.
        unsafe { std::alloc::dealloc(self.buffer, self.layout) };
    }
}

// SAFETY: blocks are distinct `size`-byte, `align`-aligned pieces of the buffer, each handed
// out once until given back; larger or more aligned requests are refused.
unsafe impl Allocator for &BareList {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() > self.size || layout.align() > self.align {
            return Err(AllocError);
        }
        let head = self.head.get();
        let block = if !head.is_null() {
            // SAFETY: a free block holds the next free block's address.
            self.head.set(unsafe { head.cast::<*mut u8>().read() });
            head
        } else {
            let b = self.bump.get();
            if b == self.end {
                return Err(AllocError);
            }
            self.bump.set(b.wrapping_add(self.size));
            b
        };
        let block = NonNull::new(block).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(block, self.size))
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, _layout: Layout) {
        // SAFETY: a block of ours (caller), at least a pointer long and aligned.
        unsafe { ptr.as_ptr().cast::<*mut u8>().write(self.head.get()) };
        self.head.set(ptr.as_ptr());
    }
}
