//! DMA buffers (nb_dma_malloc): aligned memory from the environment's pool, readable and
//! writable as a byte slice while the caller holds the buffer. An I/O takes the buffer by
//! value and gives it back when it completes, so nothing touches or frees it in between.
use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::task::Waker;

use nativebdev_sys as sys;

use crate::error::{Error, Result};

/// Room for a completion closure kept with the buffer (no allocation per I/O when the
/// closure's captures fit; larger closures are boxed).
pub(crate) const INLINE_WORDS: usize = 4;

/// Where an I/O on the buffer stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stage {
    /// With the caller.
    Idle,
    /// Submitted; its future is waiting.
    Pending,
    /// Completed; the future has not collected it yet.
    Done,
    /// Submitted, and its future was dropped: the completion frees the buffer.
    Orphaned,
}

/// The buffer's memory and the state of the I/O holding it. Heap-allocated once per buffer,
/// so that its address can be an I/O's cb_arg.
pub(crate) struct BufInner {
    pub(crate) ptr: NonNull<u8>,
    pub(crate) len: usize,
    pub(crate) stage: Cell<Stage>,
    pub(crate) status: Cell<i32>,
    pub(crate) waker: Cell<Option<Waker>>,
    pub(crate) closure: UnsafeCell<MaybeUninit<[usize; INLINE_WORDS]>>,
    /// The descriptor and channel of the I/O holding the buffer, for the completion's view
    /// of the channel (resubmitting from inside the callback).
    pub(crate) desc: Cell<*mut sys::nb_bdev_desc>,
    pub(crate) ch: Cell<*mut sys::nb_io_channel>,
    pub(crate) block_size: Cell<u32>,
}

/// An aligned DMA buffer. `Deref<Target = [u8]>` and `DerefMut` give its bytes.
pub struct DmaBuf {
    inner: NonNull<BufInner>,
}

// The buffer is plain memory owned by whoever holds the DmaBuf.
unsafe impl Send for DmaBuf {}
unsafe impl Sync for DmaBuf {}

impl DmaBuf {
    /// `len` bytes aligned to `align` (a power of two up to 2 MiB; 0 means 64), uninitialized
    /// contents (whatever the pool held).
    pub fn new(len: usize, align: usize) -> Result<DmaBuf> {
        Self::alloc(len, align, false)
    }

    /// Same, zeroed.
    pub fn zeroed(len: usize, align: usize) -> Result<DmaBuf> {
        Self::alloc(len, align, true)
    }

    fn alloc(len: usize, align: usize, zero: bool) -> Result<DmaBuf> {
        let p = unsafe {
            if zero {
                sys::nb_dma_zmalloc(len as _, align as _, std::ptr::null_mut())
            } else {
                sys::nb_dma_malloc(len as _, align as _, std::ptr::null_mut())
            }
        };
        let ptr = NonNull::new(p as *mut u8).ok_or_else(|| Error::last("nb_dma_malloc", -1))?;
        let inner = Box::new(BufInner {
            ptr,
            len,
            stage: Cell::new(Stage::Idle),
            status: Cell::new(0),
            waker: Cell::new(None),
            closure: UnsafeCell::new(MaybeUninit::uninit()),
            desc: Cell::new(std::ptr::null_mut()),
            ch: Cell::new(std::ptr::null_mut()),
            block_size: Cell::new(0),
        });
        Ok(DmaBuf { inner: NonNull::from(Box::leak(inner)) })
    }

    /// The device address (IOVA) of the buffer's start.
    pub fn iova(&self) -> u64 {
        unsafe { sys::nb_vtophys(self.as_ptr() as *const _, std::ptr::null_mut()) }
    }

    /// Hands the buffer to an I/O: the returned pointer is its cb_arg until the completion
    /// takes it back with [`DmaBuf::from_inner`].
    pub(crate) fn into_inner(self) -> NonNull<BufInner> {
        let p = self.inner;
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `inner` came from [`DmaBuf::into_inner`] and is taken back once.
    pub(crate) unsafe fn from_inner(inner: NonNull<BufInner>) -> DmaBuf {
        DmaBuf { inner }
    }

    fn inner(&self) -> &BufInner {
        unsafe { self.inner.as_ref() }
    }
}

impl Deref for DmaBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let i = self.inner();
        unsafe { std::slice::from_raw_parts(i.ptr.as_ptr(), i.len) }
    }
}

impl DerefMut for DmaBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let i = self.inner();
        unsafe { std::slice::from_raw_parts_mut(i.ptr.as_ptr(), i.len) }
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        let inner = unsafe { Box::from_raw(self.inner.as_ptr()) };
        unsafe { sys::nb_dma_free(inner.ptr.as_ptr() as *mut _) };
    }
}

impl std::fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaBuf({:p}, {} bytes)", self.as_ptr(), self.len())
    }
}
