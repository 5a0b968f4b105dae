//! The environment (nb_env_init / nb_env_fini) as a guard.
use std::ffi::CString;

use nativebdev_sys as sys;

use crate::error::{Error, Result};

/// Options of [`Env::init_with`]; `None` fields keep the library's defaults.
#[derive(Debug, Default, Clone)]
pub struct EnvOptions {
    pub name: Option<String>,
    pub core_mask: Option<String>,
    pub dma_pool_size: Option<u64>,
    pub reactor_spin_us: Option<i32>,
}

/// The initialized environment. Dropping it calls nb_env_fini, which the library refuses
/// (and this guard then only logs) while bdevs, threads or DMA buffers are alive: drop those
/// first, or call [`Env::fini`] to see the refusal.
pub struct Env {
    finished: bool,
}

impl Env {
    /// nb_env_init with the defaults.
    pub fn init() -> Result<Env> {
        Error::check("nb_env_init", unsafe { sys::nb_env_init(std::ptr::null()) })?;
        Ok(Env { finished: false })
    }

    /// nb_env_init with options.
    pub fn init_with(opts: &EnvOptions) -> Result<Env> {
        let mut raw: sys::nb_env_opts = unsafe { std::mem::zeroed() };
        Error::check("nb_env_opts_init", unsafe {
            sys::nb_env_opts_init(&mut raw, std::mem::size_of::<sys::nb_env_opts>() as _)
        })?;
        let name = opts.name.as_deref().map(c_string).transpose()?;
        let mask = opts.core_mask.as_deref().map(c_string).transpose()?;
        if let Some(n) = &name {
            raw.name = n.as_ptr();
        }
        if let Some(m) = &mask {
            raw.core_mask = m.as_ptr();
        }
        if let Some(s) = opts.dma_pool_size {
            raw.dma_pool_size = s;
        }
        if let Some(s) = opts.reactor_spin_us {
            raw.reactor_spin_us = s;
        }
        Error::check("nb_env_init", unsafe { sys::nb_env_init(&raw) })?;
        Ok(Env { finished: false })
    }

    /// nb_env_fini, with the library's refusal if something is still alive.
    pub fn fini(mut self) -> Result<()> {
        self.finished = true;
        Error::check("nb_env_fini", unsafe { sys::nb_env_fini() }).map(|_| ())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = Error::check("nb_env_fini", unsafe { sys::nb_env_fini() }) {
                eprintln!("nativebdev: {e}");
            }
        }
    }
}

/// The library's version string.
pub fn version() -> &'static str {
    let p = unsafe { sys::nb_version() };
    if p.is_null() {
        return "";
    }
    unsafe { std::ffi::CStr::from_ptr(p) }.to_str().unwrap_or("")
}

pub(crate) fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Call {
        op: "CString::new",
        errno: 22,
        message: format!("{s:?} contains a NUL byte"),
    })
}
