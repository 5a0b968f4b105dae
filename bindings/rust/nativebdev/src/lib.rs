//! Safe Rust bindings of libnativebdev (`include/nativebdev.h`), over the raw declarations
//! of `nativebdev-sys`.
//!
//! Host-driven use: an [`Env`], a [`Thread`] entered on this OS thread, a [`Bdev`] from a URI,
//! a [`Descriptor`] and its [`IoChannel`], and I/O on [`DmaBuf`]s, completed by polls of the
//! thread ([`Thread::poll`], or [`Thread::block_on`] for the `async` forms):
//!
//! ```no_run
//! use nativebdev::{Bdev, Descriptor, DmaBuf, Env, Thread};
//! let _env = Env::init()?;
//! let thread = Thread::create("app")?;
//! let _on = thread.enter()?;
//! let bdev = Bdev::create("malloc:///Malloc0?size_mb=8")?;
//! let desc = Descriptor::open(bdev.name(), true, |ev| println!("event {ev:?}"))?;
//! let ch = desc.io_channel()?;
//! let mut buf = DmaBuf::zeroed(512, 0)?;
//! buf[..5].copy_from_slice(b"hello");
//! let (buf, r) = thread.block_on(ch.write_async(buf, 0))?;
//! r?;
//! let (buf, r) = thread.block_on(ch.read_async(buf, 0))?;
//! r?;
//! assert_eq!(&buf[..5], b"hello");
//! # Ok::<(), nativebdev::Error>(())
//! ```
//!
//! Reactor-driven use, as an SPDK application's: reactors started, a thread pinned to one, and
//! the work sent to it as a closure, which runs there inside the reactor's poll of the thread
//! (the host only waits). State the work keeps past the closure owns what it uses: a channel
//! made by [`Descriptor::into_io_channel`] owns its descriptor.
//!
//! ```no_run
//! use std::rc::Rc;
//! use nativebdev::{Bdev, Descriptor, DmaBuf, Env, Reactors, Thread};
//! let _env = Env::init()?;
//! let app = Thread::create("app")?;
//! let bdev = {
//!     let _on = app.enter()?;
//!     Bdev::create("null:///Null0?size_mb=64")?
//! };
//! let reactors = Reactors::start(None)?;
//! let job = Thread::create_on("job", "[0]")?;
//! let (name, buf) = (bdev.name().to_owned(), DmaBuf::zeroed(4096, 0)?);
//! job.send(move || {
//!     let ch = Rc::new(Descriptor::open(&name, false, |_| {}).unwrap().into_io_channel().unwrap());
//!     let keep = ch.clone(); // the channel and its descriptor stay until the completion
//!     ch.read_blocks(buf, 0, 8, move |_, _buf, r| {
//!         r.unwrap();
//!         drop(keep);
//!     })
//!     .unwrap();
//! })?;
//! # Ok::<(), nativebdev::Error>(())
//! ```
//!
//! Ownership carries the header's rules: a channel borrows its descriptor and is neither
//! `Send` nor `Sync`; an I/O takes its buffer by value and gives it back on completion, so
//! the buffer is neither read, written nor freed while the device may be using it.
//! These do not compile: a channel kept past its descriptor,
//!
//! ```compile_fail
//! # use nativebdev::Descriptor;
//! let ch = {
//!     let desc = Descriptor::open("Malloc0", true, |_| {}).unwrap();
//!     desc.io_channel().unwrap()
//! };
//! ```
//!
//! a channel sent to another OS thread,
//!
//! ```compile_fail
//! # use nativebdev::Descriptor;
//! let desc = Descriptor::open("Malloc0", true, |_| {}).unwrap();
//! let ch = desc.io_channel().unwrap();
//! std::thread::spawn(move || drop(ch));
//! ```
//!
//! and a buffer touched while an I/O holds it:
//!
//! ```compile_fail
//! # use nativebdev::{Descriptor, DmaBuf};
//! let desc = Descriptor::open("Malloc0", true, |_| {}).unwrap();
//! let ch = desc.io_channel().unwrap();
//! let mut buf = DmaBuf::zeroed(512, 0).unwrap();
//! let io = ch.write_async(buf, 0);
//! buf[0] = 1;
//! ```
//!
//! Closures given as callbacks and messages never unwind into the library: a panic in one
//! aborts the process (messages, events and executors with this crate's message; an I/O
//! completion at the `extern "C"` boundary Rust puts around it, which costs nothing per I/O).

mod bdev;
mod channel;
mod dma;
mod env;
mod error;
mod reactor;
mod thread;

pub use bdev::{Bdev, BdevEvent, Descriptor};
pub use channel::{BufIo, IoChannel, OpIo, Refused};
pub use dma::DmaBuf;
pub use env::{version, Env, EnvOptions};
pub use error::{Error, Result};
pub use reactor::Reactors;
pub use nativebdev_sys as sys;
pub use thread::{Entered, LocalExecutor, Thread};

/// Runs `f`, aborting on a panic: nothing may unwind through the library's frames.
#[inline(always)]
pub(crate) fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            eprintln!("nativebdev: a callback panicked; aborting (a panic cannot unwind through the library)");
            std::process::abort()
        }
    }
}
