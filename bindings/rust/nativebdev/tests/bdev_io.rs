//! Integration tests against the built libnativebdev.so: real bdevs (null, malloc, a uring
//! file), I/O through callbacks and futures, events, messages and the error paths. The
//! environment is process-wide, so the tests take turns (one lock).
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nativebdev::{Bdev, BdevEvent, Descriptor, DmaBuf, Env, Error, Thread};

static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with a fresh environment and a thread entered on this OS thread, and checks that
/// everything was released: nb_env_fini refuses while bdevs, threads or DMA buffers remain.
fn with_thread(f: impl FnOnce(&Thread)) {
    let _turn = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::init().expect("nb_env_init");
    let thread = Thread::create("test").expect("thread");
    {
        let _on = thread.enter().expect("enter");
        f(&thread);
        // Finish removals started by the test.
        for _ in 0..1000 {
            thread.poll().unwrap();
        }
    }
    drop(thread);
    env.fini().expect("everything released");
}

const EINVAL: i32 = 22;
const ENOTSUP: i32 = 95;
const EBUSY: i32 = 16;

#[test]
fn null_bdev_read_and_write_complete_through_callbacks() {
    with_thread(|thread| {
        let bdev = Bdev::create("null:///NullCb?size_mb=16").unwrap();
        assert_eq!(bdev.name(), "NullCb");
        assert_eq!(bdev.num_blocks() * bdev.block_size() as u64, 16 << 20);
        let desc = Descriptor::open(bdev.name(), true, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        let done = Rc::new(RefCell::new(Vec::new()));
        for i in 0..8u64 {
            let d = done.clone();
            let buf = DmaBuf::zeroed(4096, 4096).unwrap();
            let io = move |_: &nativebdev::IoChannel<'_>, buf: DmaBuf, r: nativebdev::Result<()>| d.borrow_mut().push((i, buf.len(), r));
            if i % 2 == 0 { ch.read(buf, i * 4096, io) } else { ch.write(buf, i * 4096, io) }.unwrap();
        }
        assert!(done.borrow().is_empty(), "completions run in a later poll, never inline");
        while done.borrow().len() < 8 {
            thread.poll().unwrap();
        }
        let mut got = done.borrow_mut().drain(..).collect::<Vec<_>>();
        got.sort_by_key(|g| g.0);
        for (i, (n, len, r)) in got.into_iter().enumerate() {
            assert_eq!((n, len, r), (i as u64, 4096, Ok(())));
        }
    });
}

#[test]
fn malloc_bdev_keeps_what_was_written_async() {
    with_thread(|thread| {
        let bdev = Bdev::create("malloc:///MallocRw?size_mb=4&blk_size=512").unwrap();
        let desc = Descriptor::open(bdev.name(), true, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        let mut buf = DmaBuf::new(8192, 0).unwrap();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let (buf, r) = thread.block_on(ch.write_async(buf, 512 * 10)).unwrap();
        r.unwrap();
        let expected = buf.to_vec();
        let (buf2, r) = thread.block_on(ch.read_async(DmaBuf::zeroed(8192, 0).unwrap(), 512 * 10)).unwrap();
        r.unwrap();
        assert_eq!(&buf2[..], &expected[..]);
        // A read one block further sees the data shifted by a block.
        let (buf3, r) = thread.block_on(ch.read_async(DmaBuf::zeroed(512, 0).unwrap(), 512 * 11)).unwrap();
        r.unwrap();
        assert_eq!(&buf3[..], &expected[512..1024]);
        drop((buf, buf2, buf3));
    });
}

#[test]
fn uring_file_bdev_round_trips_data() {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let path = dir.join("nativebdev_rust_uring.img");
    std::fs::write(&path, vec![0u8; 4 << 20]).unwrap();
    with_thread(|thread| {
        let bdev = Bdev::create(&format!("uring://{}?name=UringRs&blk_size=4096", path.display())).unwrap();
        let desc = Descriptor::open(bdev.name(), true, |_| {}).unwrap();
        assert_eq!(desc.block_size(), 4096);
        let ch = desc.io_channel().unwrap();
        let mut buf = DmaBuf::zeroed(4096, 4096).unwrap();
        buf[..11].copy_from_slice(b"rust uring!");
        let (buf, r) = thread.block_on(ch.write_async(buf, 4096 * 3)).unwrap();
        r.unwrap();
        thread.block_on(ch.flush_async(0, 4 << 20)).unwrap().unwrap();
        drop(buf);
        let (back, r) = thread.block_on(ch.read_async(DmaBuf::zeroed(4096, 4096).unwrap(), 4096 * 3)).unwrap();
        r.unwrap();
        assert_eq!(&back[..11], b"rust uring!");
    });
    // And it reached the file.
    let file = std::fs::read(&path).unwrap();
    assert_eq!(&file[4096 * 3..4096 * 3 + 11], b"rust uring!");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unmap_flush_and_reset_complete() {
    with_thread(|thread| {
        let bdev = Bdev::create("malloc:///MallocOps?size_mb=4").unwrap();
        let desc = Descriptor::open(bdev.name(), true, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        thread.block_on(ch.unmap_async(0, 1 << 20)).unwrap().unwrap();
        thread.block_on(ch.flush_async(0, 0)).unwrap().unwrap();
        thread.block_on(ch.reset_async()).unwrap().unwrap();
        let results = Rc::new(Cell::new(0));
        for f in [0, 1, 2] {
            let r = results.clone();
            let done = move |res: nativebdev::Result<()>| {
                assert_eq!(res, Ok(()));
                r.set(r.get() + 1)
            };
            match f {
                0 => ch.unmap(4096, 4096, done),
                1 => ch.flush(0, 4096, done),
                _ => ch.reset(done),
            }
            .unwrap();
        }
        while results.get() < 3 {
            thread.poll().unwrap();
        }
        // An unmap past the end is refused at submission, with the library's message.
        let e = thread.block_on(ch.unmap_async(8 << 20, 4096)).unwrap().unwrap_err();
        assert_eq!(e.errno(), EINVAL);
        assert!(!e.message().is_empty());
    });
}

#[test]
fn bad_uri_is_an_error_with_the_library_message() {
    with_thread(|_| {
        let e = Bdev::create("nosuchscheme:///X").err().expect("refused");
        assert_eq!(e.errno(), ENOTSUP, "{e}");
        assert!(e.message().contains("nosuchscheme"), "message: {}", e.message());
        let e = Bdev::create("null:///N?size_mb=banana").err().expect("refused");
        assert_eq!(e.errno(), EINVAL, "{e}");
        assert!(matches!(e, Error::Call { op: "nb_bdev_create", .. }));
        assert!(Bdev::create("null:///With\0Nul").is_err());
        let e = Descriptor::open("NoSuchBdev", false, |_| {}).err().expect("no such bdev");
        assert_eq!(e.errno(), 19, "{e}");
        assert!(e.to_string().contains("nb_bdev_open_ext"));
    });
}

#[test]
fn refused_io_gives_the_buffer_back() {
    with_thread(|thread| {
        let bdev = Bdev::create("null:///NullRefused?size_mb=1").unwrap();
        let desc = Descriptor::open(bdev.name(), false, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        // Not a multiple of the block size.
        let refused = ch.read(DmaBuf::zeroed(100, 0).unwrap(), 0, |_, _, _| panic!("must not complete")).unwrap_err();
        assert_eq!(refused.error.errno(), EINVAL);
        assert_eq!(refused.buf.len(), 100);
        // A write on a read-only descriptor: -EBADF, through the future as well.
        drop(refused.buf);
        let (buf, r) = thread.block_on(ch.write_async(DmaBuf::zeroed(512, 0).unwrap(), 0)).unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.errno(), 9, "{e}");
        assert!(!e.message().is_empty());
        assert_eq!(buf.len(), 512);
    });
}

#[test]
fn block_io_round_trips_and_refuses_blocks_past_the_buffer() {
    with_thread(|thread| {
        let bdev = Bdev::create("malloc:///MallocBlk?size_mb=1&blk_size=512").unwrap();
        let desc = Descriptor::open(bdev.name(), true, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        assert_eq!(ch.block_size(), 512);
        let got = Rc::new(RefCell::new(None));
        let mut buf = DmaBuf::zeroed(1024, 0).unwrap();
        buf.fill(0x5a);
        let g = got.clone();
        ch.write_blocks(buf, 3, 2, move |_, buf, r| *g.borrow_mut() = Some((buf, r))).unwrap();
        while got.borrow().is_none() {
            thread.poll().unwrap();
        }
        let (buf, r) = got.borrow_mut().take().unwrap();
        r.unwrap();
        // Read back through the byte call: blocks 3 and 4 are bytes 1536..2560.
        let (back, r) = thread.block_on(ch.read_async(DmaBuf::zeroed(1024, 0).unwrap(), 1536)).unwrap();
        r.unwrap();
        assert!(back.iter().all(|&b| b == 0x5a));
        // And through the block future: block 4 alone, then block 5 (never written).
        let (back, r) = thread.block_on(ch.read_blocks_async(back, 4, 1)).unwrap();
        r.unwrap();
        assert!(back[..512].iter().all(|&b| b == 0x5a));
        let (back, r) = thread.block_on(ch.read_blocks_async(back, 5, 1)).unwrap();
        r.unwrap();
        assert!(back[..512].iter().all(|&b| b == 0));
        let (back, r) = thread.block_on(ch.read_blocks_async(back, 0, 3)).unwrap();
        assert_eq!(r.unwrap_err().errno(), EINVAL, "three blocks do not fit in 1024 bytes");
        assert_eq!(back.len(), 1024);
        // Three blocks do not fit in 1024 bytes: refused before the library sees the buffer.
        let refused = ch.read_blocks(buf, 0, 3, |_, _, _| panic!("must not complete")).unwrap_err();
        assert_eq!(refused.error.errno(), EINVAL, "{}", refused.error);
        assert_eq!(refused.buf.len(), 1024);
        let refused = ch.write_blocks(refused.buf, 0, u64::MAX, |_, _, _| panic!("must not complete")).unwrap_err();
        assert_eq!(refused.error.errno(), EINVAL, "an overflowing count is refused too");
    });
}

#[test]
fn an_owning_channel_closes_its_descriptor_when_dropped() {
    // with_thread's nb_env_fini fails (-EBUSY, bdevs exist) if the descriptor stayed open: the
    // bdev's removal waits for it.
    with_thread(|thread| {
        let bdev = Bdev::create("null:///NullOwned?size_mb=1").unwrap();
        let ch = Descriptor::open(bdev.name(), false, |_| {}).unwrap().into_io_channel().unwrap();
        let (_, r) = thread.block_on(ch.read_async(DmaBuf::zeroed(4096, 0).unwrap(), 0)).unwrap();
        r.unwrap();
        drop(ch);
        drop(bdev);
    });
}

#[test]
fn a_dropped_future_frees_its_buffer_on_completion() {
    // with_thread's nb_env_fini would refuse (-EBUSY, DMA buffers allocated) if the buffer
    // of the abandoned read were leaked.
    with_thread(|thread| {
        let bdev = Bdev::create("null:///NullDrop?size_mb=1").unwrap();
        let desc = Descriptor::open(bdev.name(), false, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        let fut = ch.read_async(DmaBuf::zeroed(4096, 0).unwrap(), 0);
        drop(fut);
        for _ in 0..10 {
            thread.poll().unwrap();
        }
    });
}

#[test]
fn env_fini_is_refused_while_a_buffer_is_held() {
    let _turn = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::init().unwrap();
    let buf = DmaBuf::zeroed(4096, 0).unwrap();
    let e = Env::fini(env).unwrap_err();
    assert_eq!(e.errno(), EBUSY, "{e}");
    assert!(e.message().contains("DMA"), "{}", e.message());
    drop(buf);
    // The refused fini released nothing; after the buffer goes, fini succeeds.
    let rc = unsafe { nativebdev::sys::nb_env_fini() };
    assert_eq!(rc, 0);
}

#[test]
fn removing_the_bdev_sends_remove_to_the_descriptor() {
    with_thread(|thread| {
        let bdev = Bdev::create("null:///NullRemove?size_mb=1").unwrap();
        let events = Rc::new(RefCell::new(Vec::new()));
        let e = events.clone();
        let desc = Descriptor::open(bdev.name(), false, move |ev| e.borrow_mut().push(ev)).unwrap();
        bdev.destroy().unwrap();
        while events.borrow().is_empty() {
            thread.poll().unwrap();
        }
        assert_eq!(events.borrow()[0], BdevEvent::Remove);
        drop(desc);
    });
}

#[test]
fn messages_run_in_a_later_poll_and_from_other_os_threads() {
    with_thread(|thread| {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        thread.send(move || r.store(true, Ordering::SeqCst)).unwrap();
        assert!(!ran.load(Ordering::SeqCst), "never inline");
        thread.poll().unwrap();
        assert!(ran.load(Ordering::SeqCst));

        let from_other = Arc::new(AtomicBool::new(false));
        let f = from_other.clone();
        std::thread::scope(|s| {
            s.spawn(|| thread.send(move || f.store(true, Ordering::SeqCst)).unwrap());
        });
        thread.poll().unwrap();
        assert!(from_other.load(Ordering::SeqCst));
        // Polling from another OS thread is refused: this one owns the thread.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(thread.poll().unwrap_err().errno(), EBUSY));
        });
    });
}

#[test]
fn executor_runs_many_tasks_together() {
    with_thread(|thread| {
        let bdev = Bdev::create("malloc:///MallocTasks?size_mb=4").unwrap();
        let desc = Descriptor::open(bdev.name(), true, |_| {}).unwrap();
        let ch = desc.io_channel().unwrap();
        let sum = Rc::new(Cell::new(0u64));
        let mut tasks = nativebdev::LocalExecutor::new();
        for t in 0..16u64 {
            let (ch, sum) = (&ch, sum.clone());
            tasks.spawn(async move {
                let mut buf = DmaBuf::zeroed(4096, 0).unwrap();
                for k in 0..10u64 {
                    buf.fill((t * 10 + k) as u8);
                    let (b, r) = ch.write_async(buf, t * 4096).await;
                    r.unwrap();
                    let (b, r) = ch.read_async(b, t * 4096).await;
                    r.unwrap();
                    sum.set(sum.get() + b[4095] as u64);
                    buf = b;
                }
            });
        }
        assert_eq!(tasks.len(), 16);
        thread.run(&mut tasks).unwrap();
        assert!(tasks.is_empty());
        assert_eq!(sum.get(), (0..160u64).sum::<u64>());
    });
}

#[test]
fn run_without_entering_the_thread_is_refused() {
    let _turn = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::init().unwrap();
    let thread = Thread::create("not-entered").unwrap();
    let e = thread.block_on(async {}).unwrap_err();
    assert_eq!(e.errno(), EINVAL);
    assert!(Descriptor::open("x", false, |_| {}).is_err(), "no current thread");
    drop(thread);
    env.fini().unwrap();
}
