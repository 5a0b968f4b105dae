//! Block devices (nb_bdev_create / destroy) and descriptors (nb_bdev_open_ext / close).
use std::ffi::{c_void, CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

use nativebdev_sys as sys;

use crate::channel::IoChannel;
use crate::env::c_string;
use crate::error::{Error, Result};

/// A bdev this program created from a URI. Dropping it starts its removal (nb_bdev_destroy):
/// open descriptors get [`BdevEvent::Remove`], and the removal finishes once they are closed.
pub struct Bdev {
    name: CString,
    destroyed: bool,
}

impl Bdev {
    /// nb_bdev_create: `null:///Null0?size_mb=64`, `malloc:///M0?size_mb=8`,
    /// `uring:///path/to/file`, ... (see include/nativebdev.h for the schemes).
    pub fn create(uri: &str) -> Result<Bdev> {
        let uri = c_string(uri)?;
        let mut name = [0 as std::os::raw::c_char; sys::NB_BDEV_NAME_MAX as usize];
        Error::check("nb_bdev_create", unsafe { sys::nb_bdev_create(uri.as_ptr(), name.as_mut_ptr(), name.len() as _) })?;
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }.to_owned();
        Ok(Bdev { name, destroyed: false })
    }

    /// The bdev's name.
    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or("")
    }

    fn raw(&self) -> *mut sys::nb_bdev {
        unsafe { sys::nb_bdev_get_by_name(self.name.as_ptr()) }
    }

    pub fn block_size(&self) -> u32 {
        unsafe { sys::nb_bdev_get_block_size(self.raw()) }
    }

    pub fn num_blocks(&self) -> u64 {
        unsafe { sys::nb_bdev_get_num_blocks(self.raw()) }
    }

    /// Starts the removal now, with the library's refusal if there is one.
    pub fn destroy(mut self) -> Result<()> {
        self.destroyed = true;
        Error::check("nb_bdev_destroy", unsafe { sys::nb_bdev_destroy(self.name.as_ptr(), None, std::ptr::null_mut()) }).map(|_| ())
    }
}

impl Drop for Bdev {
    fn drop(&mut self) {
        if !self.destroyed {
            unsafe { sys::nb_bdev_destroy(self.name.as_ptr(), None, std::ptr::null_mut()) };
        }
    }
}

/// An event on an open bdev (enum nb_bdev_event_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BdevEvent {
    /// The bdev is going away: drop the descriptor.
    Remove,
    Resize,
    MediaManagement,
    /// The device monitor retired the bdev.
    Failed,
    Other(i32),
}

impl From<i32> for BdevEvent {
    fn from(t: i32) -> Self {
        match t as u32 {
            sys::NB_BDEV_EVENT_REMOVE => BdevEvent::Remove,
            sys::NB_BDEV_EVENT_RESIZE => BdevEvent::Resize,
            sys::NB_BDEV_EVENT_MEDIA_MANAGEMENT => BdevEvent::MediaManagement,
            sys::NB_BDEV_EVENT_FAILED => BdevEvent::Failed,
            _ => BdevEvent::Other(t),
        }
    }
}

type EventFn = Box<dyn FnMut(BdevEvent)>;

/// An open bdev. Opened on the current thread, whose polls run its event callback; not
/// `Send`. Closed on drop; channels borrow it, so none outlives it.
pub struct Descriptor {
    raw: NonNull<sys::nb_bdev_desc>,
    on_event: *mut EventFn,
    block_size: u32,
    num_blocks: u64,
    _not_send: PhantomData<*mut ()>,
}

impl Descriptor {
    /// nb_bdev_open_ext by name or UUID; `write` for read-write. Needs a current thread
    /// ([`crate::Thread::enter`] or a message running on one). `on_event` runs on that
    /// thread for each event until the descriptor is closed.
    pub fn open(name: &str, write: bool, on_event: impl FnMut(BdevEvent) + 'static) -> Result<Descriptor> {
        let name = c_string(name)?;
        let on_event: *mut EventFn = Box::into_raw(Box::new(Box::new(on_event) as EventFn));
        let mut raw = std::ptr::null_mut();
        let rc = unsafe { sys::nb_bdev_open_ext(name.as_ptr(), write as i32, Some(deliver_event), on_event as *mut c_void, &mut raw) };
        let raw = match (rc, NonNull::new(raw)) {
            (0, Some(raw)) => raw,
            _ => {
                let e = Error::last("nb_bdev_open_ext", rc);
                drop(unsafe { Box::from_raw(on_event) });
                return Err(e);
            }
        };
        let bdev = unsafe { sys::nb_bdev_desc_get_bdev(raw.as_ptr()) };
        let (block_size, num_blocks) = unsafe { (sys::nb_bdev_get_block_size(bdev), sys::nb_bdev_get_num_blocks(bdev)) };
        Ok(Descriptor { raw, on_event, block_size, num_blocks, _not_send: PhantomData })
    }

    /// The raw handle, for calls this crate does not wrap.
    pub fn as_raw(&self) -> *mut sys::nb_bdev_desc {
        self.raw.as_ptr()
    }

    /// Block size and count as of the open.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    pub fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    /// The current thread's channel to the bdev (nb_bdev_get_io_channel). It borrows the
    /// descriptor and stays on this OS thread.
    pub fn io_channel(&self) -> Result<IoChannel<'_>> {
        let ch = unsafe { sys::nb_bdev_get_io_channel(self.raw.as_ptr()) };
        NonNull::new(ch)
            .map(|ch| unsafe { IoChannel::from_raw(self, ch) })
            .ok_or_else(|| Error::last("nb_bdev_get_io_channel", -1))
    }

    /// The current thread's channel, owning the descriptor: dropping the channel puts it and
    /// then closes the descriptor. For state that outlives the scope that opened the bdev, a
    /// job started on a reactor by [`crate::Thread::send`] for one.
    pub fn into_io_channel(self) -> Result<IoChannel<'static>> {
        let ch = unsafe { sys::nb_bdev_get_io_channel(self.raw.as_ptr()) };
        match NonNull::new(ch) {
            Some(ch) => Ok(unsafe { IoChannel::owning(self, ch) }),
            None => Err(Error::last("nb_bdev_get_io_channel", -1)),
        }
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // After the close no event is delivered (the library checks the descriptor's state
        // before calling back), so the callback can go with it.
        unsafe { sys::nb_bdev_close(self.raw.as_ptr()) };
        drop(unsafe { Box::from_raw(self.on_event) });
    }
}

extern "C" fn deliver_event(ty: i32, _bdev: *mut sys::nb_bdev, ctx: *mut c_void) {
    let f = unsafe { &mut *(ctx as *mut EventFn) };
    crate::no_unwind(|| f(BdevEvent::from(ty)));
}
