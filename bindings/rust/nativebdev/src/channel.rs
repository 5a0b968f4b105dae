//! I/O channels and I/O: read/write take a [`DmaBuf`] by value and give it back on
//! completion; unmap/flush/reset carry no buffer. Each comes with a completion closure or as
//! a future. Completions run on the channel's thread, inside its poll.
use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use nativebdev_sys as sys;

use crate::bdev::Descriptor;
use crate::dma::{BufInner, DmaBuf, Stage, INLINE_WORDS};
use crate::error::{Error, Result};

/// A thread's channel to a bdev. It borrows its [`Descriptor`] (it cannot outlive it) and is
/// neither `Send` nor `Sync`: the header's rule that a channel is used only on its own thread.
/// Put (nb_put_io_channel) on drop; I/O already submitted still completes.
///
/// [`Descriptor::into_io_channel`] makes a channel that owns its descriptor instead
/// (`IoChannel<'static>`), for work that outlives the call that opened the bdev: a job started
/// on a reactor by a message keeps it in its state until its last I/O completes.
pub struct IoChannel<'d> {
    desc: *mut sys::nb_bdev_desc,
    raw: NonNull<sys::nb_io_channel>,
    block_size: u32,
    /// The descriptor of an owning channel, closed after the channel is put.
    _desc_owner: Option<Descriptor>,
    _desc: PhantomData<&'d Descriptor>,
    _not_send: PhantomData<*mut ()>,
}

/// A submission the library refused: the error and the buffer, back to the caller.
#[derive(Debug)]
pub struct Refused {
    pub error: Error,
    pub buf: DmaBuf,
}

type RawBufIo = unsafe extern "C" fn(
    *mut sys::nb_bdev_desc,
    *mut sys::nb_io_channel,
    *mut c_void,
    u64,
    u64,
    sys::nb_bdev_io_cb,
    *mut c_void,
) -> i32;

impl<'d> IoChannel<'d> {
    /// # Safety
    /// `raw` is a channel got through `desc` on the calling thread.
    pub(crate) unsafe fn from_raw(desc: &'d Descriptor, raw: NonNull<sys::nb_io_channel>) -> Self {
        let block_size = desc.block_size();
        IoChannel { desc: desc.as_raw(), raw, block_size, _desc_owner: None, _desc: PhantomData, _not_send: PhantomData }
    }

    /// # Safety
    /// `raw` is a channel got through `desc` on the calling thread.
    pub(crate) unsafe fn owning(desc: Descriptor, raw: NonNull<sys::nb_io_channel>) -> IoChannel<'static> {
        let (d, block_size) = (desc.as_raw(), desc.block_size());
        IoChannel { desc: d, raw, block_size, _desc_owner: Some(desc), _desc: PhantomData, _not_send: PhantomData }
    }

    /// The channel an I/O was submitted on, as its completion sees it: the same handles,
    /// never put (`ManuallyDrop`). If the owner has been put or the descriptor closed since,
    /// the library refuses I/O through it (-EBADF), as for any stale handle.
    #[inline(always)]
    fn view(desc: *mut sys::nb_bdev_desc, ch: *mut sys::nb_io_channel, block_size: u32) -> ManuallyDrop<IoChannel<'static>> {
        ManuallyDrop::new(IoChannel {
            desc,
            raw: unsafe { NonNull::new_unchecked(ch) },
            block_size,
            _desc_owner: None,
            _desc: PhantomData,
            _not_send: PhantomData,
        })
    }

    /// The bdev's block size as of the descriptor's open: the unit of
    /// [`IoChannel::read_blocks`].
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// The raw handle of the descriptor the channel was got through.
    pub fn descriptor_raw(&self) -> *mut sys::nb_bdev_desc {
        self.desc
    }

    /// The raw handle, for calls this crate does not wrap.
    pub fn as_raw(&self) -> *mut sys::nb_io_channel {
        self.raw.as_ptr()
    }

    /// Reads `buf.len()` bytes at byte `offset` into `buf`; `done(channel, buf, result)` runs
    /// on this thread once it completes, inside its poll; it may submit again on `channel`. Closures capturing up to 32 bytes are kept in the buffer's
    /// own state: no allocation per I/O.
    #[inline]
    pub fn read<F>(&self, buf: DmaBuf, offset: u64, done: F) -> std::result::Result<(), Refused>
    where
        F: FnOnce(&IoChannel<'_>, DmaBuf, Result<()>) + 'static,
    {
        let len = buf_len(&buf);
        self.submit_with(sys::nb_bdev_read, "nb_bdev_read", buf, offset, Some(len), done)
    }

    /// Reads `num_blocks` blocks at block `offset_blocks` into `buf` (nb_bdev_read_blocks, the
    /// call bdevperf makes); as [`IoChannel::read`]. Refused (-EINVAL) if the blocks do not fit
    /// in `buf`.
    #[inline]
    pub fn read_blocks<F>(&self, buf: DmaBuf, offset_blocks: u64, num_blocks: u64, done: F) -> std::result::Result<(), Refused>
    where
        F: FnOnce(&IoChannel<'_>, DmaBuf, Result<()>) + 'static,
    {
        let n = self.blocks_in(&buf, num_blocks);
        self.submit_with(sys::nb_bdev_read_blocks, "nb_bdev_read_blocks", buf, offset_blocks, n, done)
    }

    /// Writes `num_blocks` blocks of `buf` at block `offset_blocks`; as
    /// [`IoChannel::read_blocks`].
    #[inline]
    pub fn write_blocks<F>(&self, buf: DmaBuf, offset_blocks: u64, num_blocks: u64, done: F) -> std::result::Result<(), Refused>
    where
        F: FnOnce(&IoChannel<'_>, DmaBuf, Result<()>) + 'static,
    {
        let n = self.blocks_in(&buf, num_blocks);
        self.submit_with(sys::nb_bdev_write_blocks, "nb_bdev_write_blocks", buf, offset_blocks, n, done)
    }

    /// Writes `buf` at byte `offset`; as [`IoChannel::read`].
    #[inline]
    pub fn write<F>(&self, buf: DmaBuf, offset: u64, done: F) -> std::result::Result<(), Refused>
    where
        F: FnOnce(&IoChannel<'_>, DmaBuf, Result<()>) + 'static,
    {
        let len = buf_len(&buf);
        self.submit_with(sys::nb_bdev_write, "nb_bdev_write", buf, offset, Some(len), done)
    }

    /// The read as a future: submitted now, resolved by the completion with the buffer and
    /// the result. Dropping the future before then does not cancel the I/O: the buffer is
    /// freed when it completes.
    #[inline]
    pub fn read_async(&self, buf: DmaBuf, offset: u64) -> BufIo<'_> {
        let len = buf_len(&buf);
        self.submit_future(sys::nb_bdev_read, "nb_bdev_read", buf, offset, Some(len))
    }

    #[inline]
    pub fn write_async(&self, buf: DmaBuf, offset: u64) -> BufIo<'_> {
        let len = buf_len(&buf);
        self.submit_future(sys::nb_bdev_write, "nb_bdev_write", buf, offset, Some(len))
    }

    /// [`IoChannel::read_blocks`] as a future. The block calls are the library's fast path:
    /// its byte calls convert and check through an extra call (about 110 instructions more
    /// per I/O, callgrind).
    #[inline]
    pub fn read_blocks_async(&self, buf: DmaBuf, offset_blocks: u64, num_blocks: u64) -> BufIo<'_> {
        let n = self.blocks_in(&buf, num_blocks);
        self.submit_future(sys::nb_bdev_read_blocks, "nb_bdev_read_blocks", buf, offset_blocks, n)
    }

    #[inline]
    pub fn write_blocks_async(&self, buf: DmaBuf, offset_blocks: u64, num_blocks: u64) -> BufIo<'_> {
        let n = self.blocks_in(&buf, num_blocks);
        self.submit_future(sys::nb_bdev_write_blocks, "nb_bdev_write_blocks", buf, offset_blocks, n)
    }

    /// Unmaps `len` bytes at `offset`; `done(result)` on completion.
    pub fn unmap<F: FnOnce(Result<()>) + 'static>(&self, offset: u64, len: u64, done: F) -> Result<()> {
        self.op_with("nb_bdev_unmap", done, |cb, arg| unsafe {
            sys::nb_bdev_unmap(self.desc, self.raw.as_ptr(), offset, len, cb, arg)
        })
    }

    pub fn flush<F: FnOnce(Result<()>) + 'static>(&self, offset: u64, len: u64, done: F) -> Result<()> {
        self.op_with("nb_bdev_flush", done, |cb, arg| unsafe {
            sys::nb_bdev_flush(self.desc, self.raw.as_ptr(), offset, len, cb, arg)
        })
    }

    /// Completes once no I/O submitted before it is outstanding on any channel of the bdev.
    pub fn reset<F: FnOnce(Result<()>) + 'static>(&self, done: F) -> Result<()> {
        self.op_with("nb_bdev_reset", done, |cb, arg| unsafe {
            sys::nb_bdev_reset(self.desc, self.raw.as_ptr(), cb, arg)
        })
    }

    pub fn unmap_async(&self, offset: u64, len: u64) -> OpIo<'_> {
        self.op_future("nb_bdev_unmap", |cb, arg| unsafe {
            sys::nb_bdev_unmap(self.desc, self.raw.as_ptr(), offset, len, cb, arg)
        })
    }

    pub fn flush_async(&self, offset: u64, len: u64) -> OpIo<'_> {
        self.op_future("nb_bdev_flush", |cb, arg| unsafe {
            sys::nb_bdev_flush(self.desc, self.raw.as_ptr(), offset, len, cb, arg)
        })
    }

    pub fn reset_async(&self) -> OpIo<'_> {
        self.op_future("nb_bdev_reset", |cb, arg| unsafe { sys::nb_bdev_reset(self.desc, self.raw.as_ptr(), cb, arg) })
    }

    /// `num_blocks` if they fit in `buf`: a multiply and a compare, no division on the hot
    /// path.
    #[inline(always)]
    fn blocks_in(&self, buf: &DmaBuf, num_blocks: u64) -> Option<u64> {
        match num_blocks.checked_mul(self.block_size as u64) {
            Some(bytes) if bytes <= buf_len(buf) => Some(num_blocks),
            _ => None,
        }
    }

    /// The submission: the buffer's state records the channel (the completion's view of
    /// it) and the closure, then one call into the library. `len` is in the call's unit;
    /// `None` when the blocks do not fit in the buffer, refused here through the same out-of-
    /// line path as the library's refusals: a second refusal path built inline made the caller
    /// keep the `Result` on the stack and test it again (+15 instructions per I/O, callgrind).
    #[inline(always)]
    fn submit_with<F>(&self, io: RawBufIo, op: &'static str, buf: DmaBuf, offset: u64, len: Option<u64>, done: F) -> std::result::Result<(), Refused>
    where
        F: FnOnce(&IoChannel<'_>, DmaBuf, Result<()>) + 'static,
    {
        let inner = buf.into_inner();
        let state = unsafe { inner.as_ref() };
        let ptr = state.ptr.as_ptr() as *mut c_void;
        state.desc.set(self.desc);
        state.ch.set(self.raw.as_ptr());
        state.block_size.set(self.block_size);
        // The closure goes into the buffer's state, boxed only if it does not fit there.
        unsafe { store_closure(inner, done) };
        let rc = match len {
            Some(len) => unsafe { io(self.desc, self.raw.as_ptr(), ptr, offset, len, Some(complete_with::<F>), inner.as_ptr() as *mut c_void) },
            None => DOES_NOT_FIT,
        };
        if rc != 0 {
            return Err(unsafe { refused::<F>(op, rc, inner) });
        }
        Ok(())
    }

    #[inline]
    fn submit_future(&self, io: RawBufIo, op: &'static str, buf: DmaBuf, offset: u64, len: Option<u64>) -> BufIo<'_> {
        let inner = buf.into_inner();
        let state = unsafe { inner.as_ref() };
        let ptr = state.ptr.as_ptr() as *mut c_void;
        state.stage.set(Stage::Pending);
        let rc = match len {
            Some(len) => unsafe { io(self.desc, self.raw.as_ptr(), ptr, offset, len, Some(complete_future), inner.as_ptr() as *mut c_void) },
            None => DOES_NOT_FIT,
        };
        let refused = if rc != 0 {
            state.stage.set(Stage::Idle);
            Some(refusal(op, rc, state.len))
        } else {
            None
        };
        BufIo { inner: Some(inner), refused, _ch: PhantomData }
    }

    fn op_with<F: FnOnce(Result<()>) + 'static>(
        &self,
        op: &'static str,
        done: F,
        submit: impl FnOnce(sys::nb_bdev_io_cb, *mut c_void) -> i32,
    ) -> Result<()> {
        let arg = Box::into_raw(Box::new(done));
        let rc = submit(Some(complete_op_with::<F>), arg as *mut c_void);
        if rc != 0 {
            let e = Error::last(op, rc);
            drop(unsafe { Box::from_raw(arg) });
            return Err(e);
        }
        Ok(())
    }

    fn op_future(&self, op: &'static str, submit: impl FnOnce(sys::nb_bdev_io_cb, *mut c_void) -> i32) -> OpIo<'_> {
        let state = Box::into_raw(Box::new(OpState { stage: std::cell::Cell::new(Stage::Pending), status: 0.into(), waker: None.into() }));
        let rc = submit(Some(complete_op_future), state as *mut c_void);
        if rc != 0 {
            let e = Error::last(op, rc);
            drop(unsafe { Box::from_raw(state) });
            return OpIo { state: None, refused: Some(e), _ch: PhantomData };
        }
        OpIo { state: NonNull::new(state), refused: None, _ch: PhantomData }
    }
}

impl Drop for IoChannel<'_> {
    fn drop(&mut self) {
        // An owning channel's descriptor (a field) is closed after this, once the channel is put.
        unsafe { sys::nb_put_io_channel(self.raw.as_ptr()) };
    }
}

#[inline(always)]
fn buf_len(buf: &DmaBuf) -> u64 {
    buf.len() as u64
}

/// The return code standing for "the blocks do not fit in the buffer": the library cannot
/// see the buffer's length, so the crate refuses such an I/O itself.
const DOES_NOT_FIT: i32 = i32::MIN;

/// The error of a refused submission: the library's, or the crate's for [`DOES_NOT_FIT`].
#[cold]
#[inline(never)]
fn refusal(op: &'static str, rc: i32, buf_len: usize) -> Error {
    if rc == DOES_NOT_FIT {
        let message = format!("the blocks asked for do not fit in the buffer ({buf_len} bytes)");
        return Error::Call { op, errno: 22, message };
    }
    Error::last(op, rc)
}

const fn fits_inline<F>() -> bool {
    size_of::<F>() <= INLINE_WORDS * size_of::<usize>() && align_of::<F>() <= align_of::<usize>()
}

/// The refusal of a submission: the closure dropped, the buffer back to the caller. Out of
/// line: the submission path stays short.
#[cold]
#[inline(never)]
unsafe fn refused<F>(op: &'static str, rc: i32, inner: NonNull<BufInner>) -> Refused {
    let error = refusal(op, rc, inner.as_ref().len);
    drop(take_closure::<F>(inner));
    Refused { error, buf: DmaBuf::from_inner(inner) }
}

#[inline(always)]
unsafe fn store_closure<F>(inner: NonNull<BufInner>, f: F) {
    let slot = (*inner.as_ptr()).closure.get() as *mut u8;
    if fits_inline::<F>() {
        (slot as *mut F).write(f);
    } else {
        (slot as *mut *mut F).write(Box::into_raw(Box::new(f)));
    }
}

#[inline(always)]
unsafe fn take_closure<F>(inner: NonNull<BufInner>) -> F {
    let slot = (*inner.as_ptr()).closure.get() as *mut u8;
    if fits_inline::<F>() {
        (slot as *mut F).read()
    } else {
        *Box::from_raw((slot as *mut *mut F).read())
    }
}

/// The completion of [`IoChannel::read`] and its kin. No `catch_unwind` here: a panic cannot
/// leave an `extern "C"` function (Rust aborts the process there, since 1.81), and the
/// `catch_unwind` shim was an indirect call and a spill per I/O.
extern "C" fn complete_with<F: FnOnce(&IoChannel<'_>, DmaBuf, Result<()>)>(_io: *mut sys::nb_bdev_io, status: i32, arg: *mut c_void) {
    let inner = unsafe { NonNull::new_unchecked(arg as *mut BufInner) };
    let f = unsafe { take_closure::<F>(inner) };
    let state = unsafe { inner.as_ref() };
    let ch = IoChannel::view(state.desc.get(), state.ch.get(), state.block_size.get());
    f(&ch, unsafe { DmaBuf::from_inner(inner) }, Error::status(status));
}

extern "C" fn complete_future(_io: *mut sys::nb_bdev_io, status: i32, arg: *mut c_void) {
    let inner = unsafe { NonNull::new_unchecked(arg as *mut BufInner) };
    let state = unsafe { inner.as_ref() };
    state.status.set(status);
    if state.stage.get() == Stage::Orphaned {
        drop(unsafe { DmaBuf::from_inner(inner) });
        return;
    }
    state.stage.set(Stage::Done);
    // Woken by reference and kept: the task's next I/O on this buffer finds the same waker
    // (will_wake) and neither clones it (an atomic increment) nor drops one here (a decrement).
    let w = state.waker.take();
    if let Some(w) = &w {
        w.wake_by_ref();
    }
    state.waker.set(w);
}

extern "C" fn complete_op_with<F: FnOnce(Result<()>)>(_io: *mut sys::nb_bdev_io, status: i32, arg: *mut c_void) {
    let f = unsafe { Box::from_raw(arg as *mut F) };
    crate::no_unwind(move || f(Error::status(status)));
}

extern "C" fn complete_op_future(_io: *mut sys::nb_bdev_io, status: i32, arg: *mut c_void) {
    let state = unsafe { &*(arg as *const OpState) };
    if state.stage.get() == Stage::Orphaned {
        drop(unsafe { Box::from_raw(arg as *mut OpState) });
        return;
    }
    state.status.set(status);
    state.stage.set(Stage::Done);
    if let Some(w) = state.waker.take() {
        w.wake();
    }
}

/// A read or write in flight ([`IoChannel::read_async`]). Resolves to the buffer and the
/// result. It borrows the channel, so the channel outlives it.
#[must_use = "the I/O runs anyway; the future gives the buffer back"]
pub struct BufIo<'c> {
    inner: Option<NonNull<BufInner>>,
    refused: Option<Error>,
    _ch: PhantomData<&'c IoChannel<'c>>,
}

impl Future for BufIo<'_> {
    type Output = (DmaBuf, Result<()>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.expect("BufIo polled after it completed");
        if let Some(e) = self.refused.take() {
            self.inner = None;
            return Poll::Ready((unsafe { DmaBuf::from_inner(inner) }, Err(e)));
        }
        let state = unsafe { inner.as_ref() };
        if state.stage.get() == Stage::Done {
            state.stage.set(Stage::Idle);
            self.inner = None;
            let status = state.status.get();
            return Poll::Ready((unsafe { DmaBuf::from_inner(inner) }, Error::status(status)));
        }
        let w = state.waker.take();
        state.waker.set(Some(match w {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        }));
        Poll::Pending
    }
}

impl Drop for BufIo<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let state = unsafe { inner.as_ref() };
            if state.stage.get() == Stage::Pending {
                // Still with the library: its completion frees the buffer.
                state.waker.take();
                state.stage.set(Stage::Orphaned);
            } else {
                drop(unsafe { DmaBuf::from_inner(inner) });
            }
        }
    }
}

struct OpState {
    stage: std::cell::Cell<Stage>,
    status: std::cell::Cell<i32>,
    waker: std::cell::Cell<Option<std::task::Waker>>,
}

/// An unmap, flush or reset in flight ([`IoChannel::unmap_async`]).
#[must_use = "the I/O runs anyway; the future gives its result"]
pub struct OpIo<'c> {
    state: Option<NonNull<OpState>>,
    refused: Option<Error>,
    _ch: PhantomData<&'c IoChannel<'c>>,
}

impl Future for OpIo<'_> {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(e) = self.refused.take() {
            return Poll::Ready(Err(e));
        }
        let p = self.state.expect("OpIo polled after it completed");
        let state = unsafe { p.as_ref() };
        if state.stage.get() == Stage::Done {
            let status = state.status.get();
            self.state = None;
            drop(unsafe { Box::from_raw(p.as_ptr()) });
            return Poll::Ready(Error::status(status));
        }
        state.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for OpIo<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.state.take() {
            let state = unsafe { p.as_ref() };
            if state.stage.get() == Stage::Pending {
                state.waker.take();
                state.stage.set(Stage::Orphaned);
            } else {
                drop(unsafe { Box::from_raw(p.as_ptr()) });
            }
        }
    }
}
