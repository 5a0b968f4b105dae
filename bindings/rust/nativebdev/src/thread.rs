//! Lightweight threads (nb_thread): create, poll, send closures as messages, bind to the
//! calling OS thread, and run futures to completion by polling.
use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use nativebdev_sys as sys;

use crate::env::c_string;
use crate::error::{Error, Result};

/// A lightweight thread. The handle may be shared between OS threads (messages can be sent
/// from anywhere); the library enforces that one owner at a time polls it. Dropping it asks
/// the thread to exit, polls it until it has, and destroys it.
pub struct Thread {
    raw: NonNull<sys::nb_thread>,
}

// The library checks every use of the handle against the thread's owner and answers calls
// from elsewhere with an error; sending messages is allowed from any OS thread.
unsafe impl Send for Thread {}
unsafe impl Sync for Thread {}

/// The binding made by [`Thread::enter`]: while it lives, the calling OS thread owns the
/// thread and calls needing a current thread (descriptors, channels) work from host code.
pub struct Entered<'t> {
    _thread: PhantomData<&'t Thread>,
    _not_send: PhantomData<*mut ()>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        unsafe { sys::nb_set_thread(std::ptr::null_mut()) };
    }
}

impl Thread {
    /// nb_thread_create, on any core (`cpumask` NULL): host-driven ([`Thread::poll`],
    /// [`Thread::enter`]) until reactors start, then placed on one.
    pub fn create(name: &str) -> Result<Thread> {
        Self::create_raw(name, None)
    }

    /// nb_thread_create limited to the reactors of `cpumask` (`"0x2"`, `"[1]"`): with
    /// [`Reactors`](crate::Reactors) running, the thread is placed on one of them at once, and
    /// closures [`Thread::send`] gives it run there, pinned, as an SPDK app's work does.
    pub fn create_on(name: &str, cpumask: &str) -> Result<Thread> {
        Self::create_raw(name, Some(cpumask))
    }

    fn create_raw(name: &str, cpumask: Option<&str>) -> Result<Thread> {
        let name = c_string(name)?;
        let mask = cpumask.map(c_string).transpose()?;
        let mask = mask.as_ref().map_or(std::ptr::null(), |m| m.as_ptr());
        let raw = unsafe { sys::nb_thread_create(name.as_ptr(), mask) };
        NonNull::new(raw).map(|raw| Thread { raw }).ok_or_else(|| Error::last("nb_thread_create", -1))
    }

    /// The raw handle, for calls this crate does not wrap.
    pub fn as_raw(&self) -> *mut sys::nb_thread {
        self.raw.as_ptr()
    }

    /// One poll (nb_thread_poll): messages, then pollers and completions. Returns the work done
    /// (0 = idle).
    pub fn poll(&self) -> Result<u32> {
        Error::check("nb_thread_poll", unsafe { sys::nb_thread_poll(self.raw.as_ptr(), 0, 0) }).map(|n| n as u32)
    }

    /// Binds this OS thread to the thread (nb_set_thread) until the guard drops.
    pub fn enter(&self) -> Result<Entered<'_>> {
        Error::check("nb_set_thread", unsafe { sys::nb_set_thread(self.raw.as_ptr()) })?;
        Ok(Entered { _thread: PhantomData, _not_send: PhantomData })
    }

    /// Queues `f` to run on the thread, in a later poll (nb_thread_send_msg). The closure
    /// travels as the message's context: one allocation, freed when it runs.
    pub fn send<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<()> {
        let ctx = Box::into_raw(Box::new(f)) as *mut c_void;
        let rc = unsafe { sys::nb_thread_send_msg(self.raw.as_ptr(), Some(run_message::<F>), ctx) };
        if rc != 0 {
            // Refused: the message will never run, so the closure is ours to drop.
            drop(unsafe { Box::from_raw(ctx as *mut F) });
            return Err(Error::last("nb_thread_send_msg", rc));
        }
        Ok(())
    }

    /// Runs `fut` to completion on this OS thread, which must have entered the thread
    /// ([`Thread::enter`]): see [`Thread::run`].
    pub fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        let mut out = None;
        {
            let mut tasks = LocalExecutor::new();
            let out = &mut out;
            tasks.spawn(async move { *out = Some(fut.await) });
            self.run(&mut tasks)?;
        }
        Ok(out.expect("the executor ran the task to its end"))
    }

    /// Runs every task of `tasks` to completion. The tasks are polled by a poller of the
    /// thread, that is inside the thread's poll like the completions that wake them, so
    /// their submissions share the poll's clock read and owner check, as a C callback's
    /// would. This OS thread must have entered the thread ([`Thread::enter`]).
    pub fn run(&self, tasks: &mut LocalExecutor<'_>) -> Result<()> {
        if unsafe { sys::nb_get_current_thread() } != self.raw.as_ptr() {
            return Err(Error::Call {
                op: "Thread::run",
                errno: 22,
                message: "the calling OS thread has not entered this thread (Thread::enter)".into(),
            });
        }
        // From here on the executor is reached through this pointer only (the poller's too).
        let tasks: *mut LocalExecutor<'_> = tasks;
        let mut poller = unsafe { sys::nb_poller_register(Some(poll_tasks), tasks as *mut c_void, 0) };
        if poller.is_null() {
            return Err(Error::last("nb_poller_register", -1));
        }
        let mut result = Ok(());
        while !unsafe { (*tasks).tasks.is_empty() } {
            if let Err(e) = self.poll() {
                result = Err(e);
                break;
            }
        }
        unsafe { sys::nb_poller_unregister(&mut poller) };
        result
    }
}

extern "C" fn poll_tasks(ctx: *mut c_void) -> i32 {
    // The executor outlives the poller: Thread::run unregisters it before returning.
    let tasks = unsafe { &mut *(ctx as *mut LocalExecutor<'_>) };
    let busy = crate::no_unwind(|| tasks.poll_woken());
    if busy { sys::NB_POLLER_BUSY as i32 } else { sys::NB_POLLER_IDLE as i32 }
}

impl Drop for Thread {
    fn drop(&mut self) {
        let t = self.raw.as_ptr();
        unsafe { sys::nb_thread_exit(t) };
        // The thread finishes exiting in a poll; a reactor running it polls it itself.
        while unsafe { sys::nb_thread_is_exited(t) } == 0 {
            if unsafe { sys::nb_thread_poll(t, 0, 0) } < 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        if let Err(e) = Error::check("nb_thread_destroy", unsafe { sys::nb_thread_destroy(t) }) {
            eprintln!("nativebdev: {e}");
        }
    }
}

extern "C" fn run_message<F: FnOnce()>(ctx: *mut c_void) {
    let f = unsafe { Box::from_raw(ctx as *mut F) };
    crate::no_unwind(move || f());
}

struct WakeFlag(AtomicBool);

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// A set of futures run together by [`Thread::run`] on one OS thread: each is polled when
/// its waker fired, the thread is polled in between. The futures may borrow (a channel, a
/// descriptor): they are not `'static` and not `Send`.
pub struct LocalExecutor<'a> {
    tasks: Vec<Task<'a>>,
}

struct Task<'a> {
    fut: std::pin::Pin<Box<dyn Future<Output = ()> + 'a>>,
    flag: Arc<WakeFlag>,
    waker: Waker,
}

impl<'a> LocalExecutor<'a> {
    pub fn new() -> Self {
        LocalExecutor { tasks: Vec::new() }
    }

    /// Adds a task; it is first polled by the next [`Thread::run`].
    pub fn spawn(&mut self, fut: impl Future<Output = ()> + 'a) {
        let flag = Arc::new(WakeFlag(AtomicBool::new(true)));
        let waker = Waker::from(flag.clone());
        self.tasks.push(Task { fut: Box::pin(fut), flag, waker });
    }

    /// Tasks not finished yet.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Polls the tasks whose waker fired; true if there was one.
    fn poll_woken(&mut self) -> bool {
        let mut busy = false;
        let mut i = 0;
        while i < self.tasks.len() {
            let task = &mut self.tasks[i];
            // A load, then a store only when set: a swap is a locked instruction on every task
            // of every poll. A wake landing between the two is for an event this poll sees.
            if task.flag.0.load(Ordering::Acquire) {
                task.flag.0.store(false, Ordering::Relaxed);
                busy = true;
                let mut cx = Context::from_waker(&task.waker);
                if task.fut.as_mut().poll(&mut cx).is_ready() {
                    self.tasks.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        busy
    }
}

impl LocalExecutor<'static> {
    /// Runs the tasks on the current thread without blocking it: a poller of the thread polls
    /// them, and once the last one has finished it unregisters itself and runs `done`. For a
    /// thread a reactor runs (in a message sent with [`Thread::send`]), where [`Thread::run`]'s
    /// loop cannot be: the reactor does the polling. The tasks own what they use (an
    /// `Rc<IoChannel<'static>>`, for one).
    pub fn spawn_on_current(self, done: impl FnOnce() + 'static) -> Result<()> {
        let driver = Box::into_raw(Box::new(PollerDriven { tasks: self, poller: std::ptr::null_mut(), done: Some(Box::new(done)) }));
        let poller = unsafe { sys::nb_poller_register(Some(poll_driven), driver as *mut c_void, 0) };
        if poller.is_null() {
            let e = Error::last("nb_poller_register", -1);
            drop(unsafe { Box::from_raw(driver) });
            return Err(e);
        }
        unsafe { (*driver).poller = poller };
        Ok(())
    }
}

struct PollerDriven {
    tasks: LocalExecutor<'static>,
    poller: *mut sys::nb_poller,
    done: Option<Box<dyn FnOnce()>>,
}

extern "C" fn poll_driven(ctx: *mut c_void) -> i32 {
    let driver = ctx as *mut PollerDriven;
    // Ours alone until the poller is unregistered, below, from inside itself (allowed on
    // the poller's own thread); then the box goes and nothing calls back with it again.
    let busy = crate::no_unwind(|| unsafe { (*driver).tasks.poll_woken() });
    if unsafe { (*driver).tasks.is_empty() } {
        let mut d = unsafe { Box::from_raw(driver) };
        unsafe { sys::nb_poller_unregister(&mut d.poller) };
        if let Some(done) = d.done.take() {
            crate::no_unwind(done);
        }
    }
    if busy { sys::NB_POLLER_BUSY as i32 } else { sys::NB_POLLER_IDLE as i32 }
}

impl Default for LocalExecutor<'_> {
    fn default() -> Self {
        Self::new()
    }
}
