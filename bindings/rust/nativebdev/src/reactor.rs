//! Reactors (nb_reactors_start / stop): one pinned OS thread per core, each polling the
//! threads placed on it. Work reaches a reactor as a message to one of its threads: create the
//! thread with [`Thread::create_on`](crate::Thread::create_on) and [`Thread::send`](crate::Thread::send)
//! it a closure, as SPDK's bdevperf starts its jobs.
use std::marker::PhantomData;

use nativebdev_sys as sys;

use crate::env::c_string;
use crate::error::{Error, Result};

/// The running reactors. Dropping the guard stops and joins them (nb_reactors_stop); the
/// threads they ran stay alive and become host-driven. Not `Send`: the library refuses the
/// stop from a reactor, so the guard stays with the host thread that started them.
pub struct Reactors {
    stopped: bool,
    _not_send: PhantomData<*mut ()>,
}

impl Reactors {
    /// Starts a reactor on each core of `core_mask` ("0x3", "[0,2-3]"; `None`: the
    /// environment's core mask, [`crate::EnvOptions::core_mask`]) and places every live
    /// thread on one. A thread entered on this OS thread is adopted once it is left.
    pub fn start(core_mask: Option<&str>) -> Result<Reactors> {
        let mask = core_mask.map(c_string).transpose()?;
        let p = mask.as_ref().map_or(std::ptr::null(), |m| m.as_ptr());
        Error::check("nb_reactors_start", unsafe { sys::nb_reactors_start(p) })?;
        Ok(Reactors { stopped: false, _not_send: PhantomData })
    }

    /// The cores the reactors run on, ascending.
    pub fn cores(&self) -> Result<Vec<u32>> {
        let mut cores = vec![0u32; 1024];
        let n = Error::check("nb_reactor_get_cores", unsafe {
            sys::nb_reactor_get_cores(cores.as_mut_ptr(), cores.len() as i32)
        })?;
        cores.truncate(n as usize);
        Ok(cores)
    }

    /// Stops and joins the reactors now, with the library's refusal if there is one.
    pub fn stop(mut self) -> Result<()> {
        self.stopped = true;
        Error::check("nb_reactors_stop", unsafe { sys::nb_reactors_stop() }).map(|_| ())
    }
}

impl Drop for Reactors {
    fn drop(&mut self) {
        if !self.stopped {
            if let Err(e) = Error::check("nb_reactors_stop", unsafe { sys::nb_reactors_stop() }) {
                eprintln!("nativebdev: {e}");
            }
        }
    }
}
