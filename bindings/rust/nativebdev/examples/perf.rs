//! A small bdevperf: 4 KiB random reads (or writes) on a bdev at a fixed queue depth, host-
//! driven on one thread, through the safe crate. Prints "IOPS: N" like a line of bdevperf's
//! table, for comparing the two in one run (docs/PERFORMANCE.md).
//!
//!   perf [-q DEPTH] [-o SIZE] [-t SECONDS] [-w randread|randwrite] [--async|--raw] [-b URI]
//!
//! Callback mode (default): each completion submits the next I/O on its buffer, from inside
//! the thread's poll, as bdevperf's callbacks do. --async: DEPTH tasks, each a loop of `read_async().await`,
//! on the crate's executor. --raw: the same loop as the callback mode written against
//! nativebdev-sys directly (C's shape: a slot struct as cb_arg), the peer that shows what the
//! safe layer itself costs.
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nativebdev::{sys, Bdev, Descriptor, DmaBuf, Env, IoChannel, LocalExecutor, Thread};

struct Opts {
    depth: usize,
    size: usize,
    seconds: f64,
    write: bool,
    run_async: bool,
    raw: bool,
    uri: String,
}

fn parse() -> Opts {
    let mut o = Opts { depth: 32, size: 4096, seconds: 5.0, write: false, run_async: false, raw: false, uri: "null:///Null0?size_mb=64".into() };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "-q" => o.depth = val().parse().unwrap_or_else(|_| usage("-q DEPTH")),
            "-o" => o.size = val().parse().unwrap_or_else(|_| usage("-o SIZE")),
            "-t" => o.seconds = val().parse().unwrap_or_else(|_| usage("-t SECONDS")),
            "-w" => o.write = match val().as_str() { "randread" => false, "randwrite" => true, _ => usage("-w randread|randwrite") },
            "-b" => o.uri = val(),
            "--async" => o.run_async = true,
            "--raw" => o.raw = true,
            _ => usage(&format!("unknown option {a}")),
        }
    }
    if o.depth == 0 || o.size == 0 {
        usage("depth and size must be positive");
    }
    o
}

fn usage(why: &str) -> ! {
    eprintln!("perf: {why}\nusage: perf [-q DEPTH] [-o SIZE] [-t SECONDS] [-w randread|randwrite] [--async|--raw] [-b URI]");
    std::process::exit(2)
}

/// xorshift64: bdevperf's kind of cheap random offsets.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn main() {
    let o = parse();
    match run(&o) {
        Ok((ios, failed, elapsed)) => {
            let iops = ios as f64 / elapsed.as_secs_f64();
            println!("depth {} size {} mode {}: I/Os {} in {:.2} s, {} failed", o.depth, o.size, if o.raw { "raw" } else if o.run_async { "async" } else { "callback" }, ios, elapsed.as_secs_f64(), failed);
            println!("IOPS: {iops:.2}");
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

fn run(o: &Opts) -> nativebdev::Result<(u64, u64, Duration)> {
    let _env = Env::init()?;
    let thread = Thread::create("perf")?;
    let result;
    {
        let _on = thread.enter()?;
        let bdev = Bdev::create(&o.uri)?;
        {
            let desc = Descriptor::open(bdev.name(), o.write, |_| {})?;
            let ch = desc.io_channel()?;
            let slots = desc.num_blocks() * desc.block_size() as u64 / o.size as u64;
            result = if o.raw {
                run_raw(o, &thread, &ch, slots)?
            } else if o.run_async {
                run_async(o, &thread, &ch, slots)?
            } else {
                run_callbacks(o, &thread, &ch, slots)?
            };
        }
        drop(bdev);
        // Let the removal finish before the thread goes.
        for _ in 0..100 {
            thread.poll()?;
        }
    }
    Ok(result)
}

/// What the callbacks share: counters, the offsets' generator and when to stop.
struct Job {
    ios: Cell<u64>,
    failed: Cell<u64>,
    in_flight: Cell<usize>,
    rng: Cell<u64>,
    end: Instant,
    stopping: Cell<bool>,
    slots: u64,
    size: u64,
    write: bool,
}

impl Job {
    fn next_offset(&self) -> u64 {
        let mut r = Rng(self.rng.get());
        let off = r.next(self.slots) * self.size;
        self.rng.set(r.0);
        off
    }
}

/// Submits one I/O whose completion submits the next, from inside the thread's poll.
fn submit(job: Rc<Job>, ch: &IoChannel<'_>, buf: DmaBuf) -> nativebdev::Result<()> {
    let offset = job.next_offset();
    let write = job.write;
    job.in_flight.set(job.in_flight.get() + 1);
    let done = on_done(job);
    // A refusal drops the closure, and the job's count of I/Os in flight stays one too high:
    // the run then fails (its loop waits for the count) instead of reporting figures.
    let r = if write { ch.write(buf, offset, done) } else { ch.read(buf, offset, done) };
    r.map_err(|refused| refused.error)
}

fn on_done(job: Rc<Job>) -> impl FnOnce(&IoChannel<'_>, DmaBuf, nativebdev::Result<()>) + 'static {
    move |ch, buf, r| {
        job.in_flight.set(job.in_flight.get() - 1);
        if r.is_err() {
            job.failed.set(job.failed.get() + 1);
        }
        let n = job.ios.get() + 1;
        job.ios.set(n);
        if n & 0xff == 0 && Instant::now() >= job.end {
            job.stopping.set(true);
        }
        if !job.stopping.get() {
            if let Err(e) = submit(job, ch, buf) {
                eprintln!("perf: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn run_callbacks(o: &Opts, thread: &Thread, ch: &IoChannel<'_>, slots: u64) -> nativebdev::Result<(u64, u64, Duration)> {
    let start = Instant::now();
    let job = Rc::new(Job {
        ios: Cell::new(0),
        failed: Cell::new(0),
        in_flight: Cell::new(0),
        rng: Cell::new(0x9e3779b97f4a7c15),
        end: start + Duration::from_secs_f64(o.seconds),
        stopping: Cell::new(false),
        slots,
        size: o.size as u64,
        write: o.write,
    });
    for _ in 0..o.depth {
        submit(job.clone(), ch, DmaBuf::zeroed(o.size, 4096)?)?;
    }
    while job.in_flight.get() > 0 {
        thread.poll()?;
    }
    Ok((job.ios.get(), job.failed.get(), start.elapsed()))
}

fn run_async(o: &Opts, thread: &Thread, ch: &IoChannel<'_>, slots: u64) -> nativebdev::Result<(u64, u64, Duration)> {
    let ios = Rc::new(Cell::new(0u64));
    let failed = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(o.seconds);
    let mut tasks = LocalExecutor::new();
    for i in 0..o.depth {
        let mut buf = DmaBuf::zeroed(o.size, 4096)?;
        let (ios, failed) = (ios.clone(), failed.clone());
        tasks.spawn(async move {
            let mut rng = Rng(0x9e3779b97f4a7c15 ^ (i as u64 + 1));
            let mut n = 0u64;
            loop {
                let offset = rng.next(slots) * o.size as u64;
                let (b, r) = if o.write { ch.write_async(buf, offset).await } else { ch.read_async(buf, offset).await };
                buf = b;
                if r.is_err() {
                    failed.set(failed.get() + 1);
                }
                ios.set(ios.get() + 1);
                n += 1;
                if n & 0xff == 0 && Instant::now() >= end {
                    break;
                }
            }
        });
    }
    thread.run(&mut tasks)?;
    Ok((ios.get(), failed.get(), start.elapsed()))
}

/// The callback loop on the raw declarations: what a C host-driven program does.
struct RawSlot {
    job: *const Job,
    desc: *mut sys::nb_bdev_desc,
    ch: *mut sys::nb_io_channel,
    buf: *mut std::ffi::c_void,
}

unsafe fn raw_submit(slot: *mut RawSlot) -> i32 {
    let s = &*slot;
    let job = &*s.job;
    let offset = job.next_offset();
    job.in_flight.set(job.in_flight.get() + 1);
    let f = if job.write { sys::nb_bdev_write } else { sys::nb_bdev_read };
    let rc = f(s.desc, s.ch, s.buf, offset, job.size, Some(raw_done), slot as *mut std::ffi::c_void);
    if rc != 0 {
        job.in_flight.set(job.in_flight.get() - 1);
    }
    rc
}

extern "C" fn raw_done(_io: *mut sys::nb_bdev_io, status: i32, arg: *mut std::ffi::c_void) {
    unsafe {
        let slot = arg as *mut RawSlot;
        let job = &*(*slot).job;
        job.in_flight.set(job.in_flight.get() - 1);
        if status != 0 {
            job.failed.set(job.failed.get() + 1);
        }
        let n = job.ios.get() + 1;
        job.ios.set(n);
        if n & 0xff == 0 && Instant::now() >= job.end {
            job.stopping.set(true);
        }
        if !job.stopping.get() && raw_submit(slot) != 0 {
            job.failed.set(job.failed.get() + 1);
        }
    }
}

fn run_raw(o: &Opts, thread: &Thread, ch: &IoChannel<'_>, slots: u64) -> nativebdev::Result<(u64, u64, Duration)> {
    let start = Instant::now();
    let job = Job {
        ios: Cell::new(0),
        failed: Cell::new(0),
        in_flight: Cell::new(0),
        rng: Cell::new(0x9e3779b97f4a7c15),
        end: start + Duration::from_secs_f64(o.seconds),
        stopping: Cell::new(false),
        slots,
        size: o.size as u64,
        write: o.write,
    };
    let bufs: Vec<DmaBuf> = (0..o.depth).map(|_| DmaBuf::zeroed(o.size, 4096)).collect::<nativebdev::Result<_>>()?;
    let mut raw: Vec<RawSlot> = bufs
        .iter()
        .map(|b| RawSlot { job: &job, desc: ch.descriptor_raw(), ch: ch.as_raw(), buf: b.as_ptr() as *mut _ })
        .collect();
    for s in raw.iter_mut() {
        if unsafe { raw_submit(s) } != 0 {
            return Err(nativebdev::Error::Io { errno: 22 });
        }
    }
    while job.in_flight.get() > 0 {
        thread.poll()?;
    }
    drop(raw);
    Ok((job.ios.get(), job.failed.get(), start.elapsed()))
}
