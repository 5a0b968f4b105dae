//! hello_bdev in Rust: examples/c/hello_bdev.c through the safe crate. Creates a malloc bdev,
//! writes "Hello World!", reads it back, prints it; host-driven (this program polls its one
//! thread). Exits non-zero on any failure.
use nativebdev::{Bdev, Descriptor, DmaBuf, Env, Thread};

fn main() {
    if let Err(e) = run() {
        eprintln!("hello_bdev: {e}");
        std::process::exit(1);
    }
}

fn run() -> nativebdev::Result<()> {
    let env = Env::init()?;
    let thread = Thread::create("hello")?;
    {
        let _on = thread.enter()?;
        let bdev = Bdev::create("malloc:///Malloc0?size_mb=8&blk_size=512")?;
        {
            let desc = Descriptor::open(bdev.name(), true, |ev| println!("event {ev:?}"))?;
            let ch = desc.io_channel()?;
            let bs = desc.block_size() as usize;
            let mut buf = DmaBuf::zeroed(bs, 0)?;
            buf[..12].copy_from_slice(b"Hello World!");
            let (mut buf, r) = thread.block_on(ch.write_async(buf, 0))?;
            r?;
            buf.fill(0);
            let (buf, r) = thread.block_on(ch.read_async(buf, 0))?;
            r?;
            let text = std::str::from_utf8(&buf[..12]).unwrap_or("?");
            println!("Read string from bdev: {text}");
            if text != "Hello World!" {
                return Err(nativebdev::Error::Io { errno: 5 });
            }
        }
        bdev.destroy()?;
    }
    drop(thread);
    env.fini()
}
