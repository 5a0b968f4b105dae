//! A small bdevperf: random reads (or writes) of SIZE bytes on a bdev at a fixed queue depth,
//! through the safe crate. Prints "IOPS: N" like a line of bdevperf's table, for comparing
//! the two in one run (docs/PERFORMANCE.md, bindings/rust/bench.sh).
//!
//!   perf [-q DEPTH] [-o SIZE] [-t SECONDS] [-w randread|randwrite] [-m CORE_MASK]
//!        [--raw|--async] [--host] [-b URI]
//!
//! By default the job runs as examples/c/bdevperf's does: the bdev is created from a host
//! thread, reactors start on CORE_MASK (default 0x1), buffers are allocated on the host, and a
//! message starts the job on a thread pinned to the first reactor; there it opens the bdev,
//! takes a channel and submits DEPTH I/Os, each completion submitting the next until the host
//! raises the stop flag after SECONDS. IOPS is completions over the job's own run time.
//!
//! Default: the safe crate's callbacks (`IoChannel::read_blocks`). --raw: the same job on the
//! nativebdev-sys declarations (C's shape: a slot struct as cb_arg), the peer that shows what
//! the safe layer itself costs. --async: DEPTH tasks, each a loop of `read_blocks_async().await`, on
//! the crate's executor (run by a poller of the job's thread, `LocalExecutor::spawn_on_current`).
//! --host: no reactors; this OS thread polls the thread (`nb_thread_poll`; `Thread::run` for
//! --async).
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use nativebdev::{sys, Bdev, Descriptor, DmaBuf, Env, EnvOptions, IoChannel, LocalExecutor, Reactors, Thread};

struct Opts {
    depth: usize,
    size: usize,
    seconds: f64,
    write: bool,
    run_async: bool,
    raw: bool,
    host: bool,
    core_mask: String,
    uri: String,
}

fn parse() -> Opts {
    let mut o = Opts {
        depth: 32,
        size: 4096,
        seconds: 5.0,
        write: false,
        run_async: false,
        raw: false,
        host: false,
        core_mask: "0x1".into(),
        uri: "null:///Null0?size_mb=64".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "-q" => o.depth = val().parse().unwrap_or_else(|_| usage("-q DEPTH")),
            "-o" => o.size = val().parse().unwrap_or_else(|_| usage("-o SIZE")),
            "-t" => o.seconds = val().parse().unwrap_or_else(|_| usage("-t SECONDS")),
            "-w" => o.write = match val().as_str() { "randread" => false, "randwrite" => true, _ => usage("-w randread|randwrite") },
            "-m" => o.core_mask = val(),
            "-b" => o.uri = val(),
            "--async" => o.run_async = true,
            "--raw" => o.raw = true,
            "--host" => o.host = true,
            _ => usage(&format!("unknown option {a}")),
        }
    }
    if o.depth == 0 || o.size == 0 {
        usage("depth and size must be positive");
    }
    if o.raw && o.run_async {
        usage("--raw and --async are two different jobs");
    }
    o
}

fn usage(why: &str) -> ! {
    eprintln!("perf: {why}\nusage: perf [-q DEPTH] [-o SIZE] [-t SECONDS] [-w randread|randwrite] [-m CORE_MASK] [--raw|--async] [--host] [-b URI]");
    std::process::exit(2)
}

/// xorshift64 and Lemire's multiply-shift onto [0, n), as bdevperf draws its offsets (no
/// 64-bit division per I/O).
struct Rng(u64);
impl Rng {
    #[inline]
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 as u128 * n as u128) >> 64) as u64
    }
}

/// What the job and the host share; statics, as bdevperf keeps its jobs and stop flag (one
/// job per run here). Counters are bumped by the job's thread alone: a relaxed load and
/// store, never a locked add.
struct Stats {
    completed: AtomicU64,
    failed: AtomicU64,
    elapsed_ns: AtomicU64,
    finished: AtomicBool,
}
static STATS: Stats = Stats { completed: AtomicU64::new(0), failed: AtomicU64::new(0), elapsed_ns: AtomicU64::new(0), finished: AtomicBool::new(false) };
static STOP: AtomicBool = AtomicBool::new(false);

#[inline]
fn bump(c: &AtomicU64) {
    c.store(c.load(Relaxed) + 1, Relaxed);
}

fn main() {
    let o = parse();
    let mode = match (o.raw, o.run_async) {
        (true, _) => "raw",
        (_, true) => "async",
        _ => "callback",
    };
    match if o.host { run_host(&o) } else { run_reactor(&o) } {
        Ok(()) => {
            let (ios, failed) = (STATS.completed.load(Acquire), STATS.failed.load(Acquire));
            let secs = STATS.elapsed_ns.load(Acquire) as f64 / 1e9;
            let driver = if o.host { "host" } else { "reactor" };
            println!("depth {} size {} mode {mode} ({driver}): I/Os {ios} in {secs:.2} s, {failed} failed", o.depth, o.size);
            println!("IOPS: {:.2}", ios as f64 / secs);
            if failed > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("perf: {e}");
            std::process::exit(1);
        }
    }
}

/// The job's geometry, in blocks as bdevperf's: `num_ios` slots of `io_blocks` blocks.
#[derive(Clone, Copy)]
struct Geometry {
    num_ios: u64,
    io_blocks: u64,
    write: bool,
}

impl Geometry {
    fn of(desc: &Descriptor, size: usize, write: bool) -> Geometry {
        let io_blocks = (size as u64 / desc.block_size() as u64).max(1);
        Geometry { num_ios: desc.num_blocks() / io_blocks, io_blocks, write }
    }
}

/// How a job starts, on the thread that runs it: open the bdev, submit one I/O per buffer.
type StartFn = fn(&str, usize, bool, Vec<DmaBuf>) -> nativebdev::Result<()>;

fn alloc_bufs(o: &Opts) -> nativebdev::Result<Vec<DmaBuf>> {
    (0..o.depth).map(|_| DmaBuf::zeroed(o.size, 4096)).collect()
}

fn run_reactor(o: &Opts) -> nativebdev::Result<()> {
    let _env = Env::init_with(&EnvOptions { core_mask: Some(o.core_mask.clone()), dma_pool_size: Some(64 << 20), ..Default::default() })?;
    // The bdev is created from a setup thread the host drives, then left to the reactors.
    let app = Thread::create("app")?;
    let bdev = {
        let _on = app.enter()?;
        Bdev::create(&o.uri)?
    };
    let reactors = Reactors::start(None)?;
    let core = reactors.cores()?[0];
    // On the host, as bdevperf's alloc_slots: a pool growth must not stall the reactor.
    let bufs = alloc_bufs(o)?;
    let job_thread = Thread::create_on(bdev.name(), &format!("[{core}]"))?;
    let (name, size, write) = (bdev.name().to_owned(), o.size, o.write);
    let start: StartFn = if o.raw { raw::start } else if o.run_async { start_async } else { start_job };
    job_thread.send(move || {
        if let Err(e) = start(&name, size, write, bufs) {
            eprintln!("perf: job start: {e}");
            bump(&STATS.failed);
            STATS.finished.store(true, Release);
        }
    })?;
    let end = Instant::now() + Duration::from_secs_f64(o.seconds);
    while Instant::now() < end && !STATS.finished.load(Acquire) {
        std::thread::sleep(Duration::from_millis(10));
    }
    STOP.store(true, Relaxed);
    while !STATS.finished.load(Acquire) {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(job_thread);
    reactors.stop()?;
    let _on = app.enter()?;
    drop(bdev);
    // Let the removal finish before the thread goes.
    for _ in 0..100 {
        app.poll()?;
    }
    Ok(())
}

/// Host-driven: this OS thread enters the thread and polls it until the job is done, raising
/// the stop flag itself once the time is up.
fn run_host(o: &Opts) -> nativebdev::Result<()> {
    let _env = Env::init()?;
    let thread = Thread::create("perf")?;
    let _on = thread.enter()?;
    let bdev = Bdev::create(&o.uri)?;
    let bufs = alloc_bufs(o)?;
    let end = Instant::now() + Duration::from_secs_f64(o.seconds);
    if o.run_async {
        run_async_host(o, &thread, bdev.name(), bufs, end)?;
    } else {
        let start: StartFn = if o.raw { raw::start } else { start_job };
        start(bdev.name(), o.size, o.write, bufs)?;
        let mut polls = 0u32;
        while !STATS.finished.load(Acquire) {
            thread.poll()?;
            polls = polls.wrapping_add(1);
            if polls & 0xff == 0 && Instant::now() >= end {
                STOP.store(true, Relaxed);
            }
        }
    }
    drop(bdev);
    // Let the removal finish before the thread goes.
    for _ in 0..100 {
        thread.poll()?;
    }
    Ok(())
}

/// The job, on the thread that runs it: the channel (which owns the descriptor) and the
/// offsets' generator. Each I/O in flight holds an `Rc` of it, so it drops with the last
/// completion after the stop: that is the job's end (bdevperf's job_finish).
struct Job {
    ch: Option<IoChannel<'static>>,
    rng: Cell<u64>,
    geo: Geometry,
    start: Instant,
}

impl Job {
    #[inline]
    fn next_offset(&self) -> u64 {
        let mut r = Rng(self.rng.get());
        let n = r.next(self.geo.num_ios);
        self.rng.set(r.0);
        n * self.geo.io_blocks
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        STATS.elapsed_ns.store(self.start.elapsed().as_nanos() as u64, Relaxed);
        drop(self.ch.take());
        STATS.finished.store(true, Release);
    }
}

fn start_job(name: &str, size: usize, write: bool, bufs: Vec<DmaBuf>) -> nativebdev::Result<()> {
    let desc = Descriptor::open(name, write, |_| STOP.store(true, Relaxed))?;
    let geo = Geometry::of(&desc, size, write);
    let job = Rc::new(Job { ch: Some(desc.into_io_channel()?), rng: Cell::new(0x9e3779b97f4a7c15), geo, start: Instant::now() });
    let ch = job.ch.as_ref().expect("set above");
    for buf in bufs {
        submit(job.clone(), ch, buf);
    }
    Ok(())
}

/// Submits one I/O whose completion submits the next, from inside the thread's poll. A
/// refusal drops the closure and with it its `Rc` of the job.
#[inline]
fn submit(job: Rc<Job>, ch: &IoChannel<'_>, buf: DmaBuf) {
    let offset = job.next_offset();
    let (n, write) = (job.geo.io_blocks, job.geo.write);
    let done = on_io(job);
    let r = if write { ch.write_blocks(buf, offset, n, done) } else { ch.read_blocks(buf, offset, n, done) };
    if let Err(refused) = r {
        if STATS.failed.load(Relaxed) == 0 {
            eprintln!("perf: {}", refused.error);
        }
        bump(&STATS.failed);
    }
}

#[inline]
fn on_io(job: Rc<Job>) -> impl FnOnce(&IoChannel<'_>, DmaBuf, nativebdev::Result<()>) + 'static {
    move |ch, buf, r| {
        bump(if r.is_ok() { &STATS.completed } else { &STATS.failed });
        if !STOP.load(Relaxed) {
            submit(job, ch, buf);
        }
    }
}

/// The same job on the raw declarations: what a C program does (bdevperf's slot and job).
mod raw {
    use super::*;
    use std::ffi::c_void;

    struct RawJob {
        ch: Option<IoChannel<'static>>,
        desc: *mut sys::nb_bdev_desc,
        raw_ch: *mut sys::nb_io_channel,
        rng: u64,
        geo: Geometry,
        outstanding: u32,
        start: Instant,
        slots: Vec<Slot>,
    }

    struct Slot {
        job: *mut RawJob,
        buf: DmaBuf,
    }

    pub(super) fn start(name: &str, size: usize, write: bool, bufs: Vec<DmaBuf>) -> nativebdev::Result<()> {
        let desc = Descriptor::open(name, write, |_| STOP.store(true, Relaxed))?;
        let geo = Geometry::of(&desc, size, write);
        let ch = desc.into_io_channel()?;
        let job = Box::into_raw(Box::new(RawJob {
            desc: ch.descriptor_raw(),
            raw_ch: ch.as_raw(),
            ch: Some(ch),
            rng: 0x9e3779b97f4a7c15,
            geo,
            outstanding: 0,
            start: Instant::now(),
            slots: Vec::new(),
        }));
        // The job is reached through this pointer only from here on, as a C job struct is.
        unsafe {
            (*job).slots = bufs.into_iter().map(|buf| Slot { job, buf }).collect();
            let (base, n) = ((*job).slots.as_mut_ptr(), (*job).slots.len());
            for i in 0..n {
                if submit(base.add(i)) == 0 {
                    (*job).outstanding += 1;
                } else {
                    bump(&STATS.failed);
                }
            }
            if (*job).outstanding == 0 {
                finish(job);
            }
        }
        Ok(())
    }

    unsafe fn submit(s: *mut Slot) -> i32 {
        let j = &mut *(*s).job;
        let mut r = Rng(j.rng);
        let offset = r.next(j.geo.num_ios) * j.geo.io_blocks;
        j.rng = r.0;
        let f = if j.geo.write { sys::nb_bdev_write_blocks } else { sys::nb_bdev_read_blocks };
        f(j.desc, j.raw_ch, (*s).buf.as_ptr() as *mut c_void, offset, j.geo.io_blocks, Some(on_io), s as *mut c_void)
    }

    extern "C" fn on_io(_io: *mut sys::nb_bdev_io, status: i32, arg: *mut c_void) {
        unsafe {
            let s = arg as *mut Slot;
            let job = (*s).job;
            (*job).outstanding -= 1;
            bump(if status == 0 { &STATS.completed } else { &STATS.failed });
            if !STOP.load(Relaxed) {
                if submit(s) == 0 {
                    (*job).outstanding += 1;
                    return;
                }
                bump(&STATS.failed);
            }
            if (*job).outstanding == 0 {
                finish(job);
            }
        }
    }

    unsafe fn finish(job: *mut RawJob) {
        let mut job = Box::from_raw(job);
        STATS.elapsed_ns.store(job.start.elapsed().as_nanos() as u64, Relaxed);
        drop(job.ch.take());
        drop(job);
        STATS.finished.store(true, Release);
    }
}

/// DEPTH tasks, each awaiting its I/Os in turn on one buffer, until the stop flag (raised by
/// the host, or by a task itself once `deadline` has passed when the host is in a loop of
/// its own).
async fn io_loop(ch: Rc<IoChannel<'static>>, mut buf: DmaBuf, geo: Geometry, seed: u64, deadline: Option<Instant>) {
    let mut rng = Rng(seed);
    let mut n = 0u32;
    while !STOP.load(Relaxed) {
        let offset = rng.next(geo.num_ios) * geo.io_blocks;
        let io = if geo.write { ch.write_blocks_async(buf, offset, geo.io_blocks) } else { ch.read_blocks_async(buf, offset, geo.io_blocks) };
        let (b, r) = io.await;
        buf = b;
        bump(if r.is_ok() { &STATS.completed } else { &STATS.failed });
        n = n.wrapping_add(1);
        if n & 0xff == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            STOP.store(true, Relaxed);
        }
    }
}

fn async_tasks(name: &str, size: usize, write: bool, bufs: Vec<DmaBuf>, deadline: Option<Instant>) -> nativebdev::Result<LocalExecutor<'static>> {
    let desc = Descriptor::open(name, write, |_| STOP.store(true, Relaxed))?;
    let geo = Geometry::of(&desc, size, write);
    // The tasks share the channel; the last one to finish puts it and closes the bdev.
    let ch = Rc::new(desc.into_io_channel()?);
    let mut tasks = LocalExecutor::new();
    for (i, buf) in bufs.into_iter().enumerate() {
        tasks.spawn(io_loop(ch.clone(), buf, geo, 0x9e3779b97f4a7c15 ^ (i as u64 + 1), deadline));
    }
    Ok(tasks)
}

/// On a reactor: the executor runs from a poller of the job's thread.
fn start_async(name: &str, size: usize, write: bool, bufs: Vec<DmaBuf>) -> nativebdev::Result<()> {
    let start = Instant::now();
    async_tasks(name, size, write, bufs, None)?.spawn_on_current(move || {
        STATS.elapsed_ns.store(start.elapsed().as_nanos() as u64, Relaxed);
        STATS.finished.store(true, Release);
    })
}

fn run_async_host(o: &Opts, thread: &Thread, name: &str, bufs: Vec<DmaBuf>, end: Instant) -> nativebdev::Result<()> {
    let start = Instant::now();
    let mut tasks = async_tasks(name, o.size, o.write, bufs, Some(end))?;
    thread.run(&mut tasks)?;
    STATS.elapsed_ns.store(start.elapsed().as_nanos() as u64, Relaxed);
    Ok(())
}
