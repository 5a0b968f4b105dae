//! Work on reactors: a thread pinned to a reactor's core, a job sent to it as a message that
//! opens a bdev there and runs I/O through callbacks and through futures polled by a poller
//! of that thread, the host only waiting.
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use nativebdev::{Bdev, Descriptor, DmaBuf, Env, EnvOptions, LocalExecutor, Reactors, Thread};

/// What the job reports back to the host.
#[derive(Debug, PartialEq)]
enum Report {
    Started { on_host_thread: bool },
    Callbacks(Vec<nativebdev::Result<()>>),
    Futures(usize),
}

#[test]
fn a_job_sent_to_a_reactor_thread_runs_its_io_there() {
    let env = Env::init_with(&EnvOptions { core_mask: Some("0x1".into()), ..Default::default() }).unwrap();
    let app = Thread::create("app").unwrap();
    let bdev = {
        let _on = app.enter().unwrap();
        Bdev::create("null:///NullReactor?size_mb=4").unwrap()
    };
    let reactors = Reactors::start(None).unwrap();
    assert_eq!(reactors.cores().unwrap(), vec![0]);
    let job = Thread::create_on("job", "[0]").unwrap();
    let (tx, rx) = mpsc::channel();
    let (name, host) = (bdev.name().to_owned(), std::thread::current().id());
    job.send(move || {
        tx.send(Report::Started { on_host_thread: std::thread::current().id() == host }).unwrap();
        let ch = Rc::new(Descriptor::open(&name, false, |_| {}).unwrap().into_io_channel().unwrap());
        // Four reads through callbacks; the last to complete reports all four.
        let results = Rc::new(std::cell::RefCell::new(Vec::new()));
        for i in 0..4 {
            let (results, tx) = (results.clone(), tx.clone());
            ch.read_blocks(DmaBuf::zeroed(4096, 0).unwrap(), i * 8, 8, move |_, _, r| {
                results.borrow_mut().push(r);
                if results.borrow().len() == 4 {
                    tx.send(Report::Callbacks(results.take())).unwrap();
                }
            })
            .unwrap();
        }
        // Eight tasks of three reads each, on the executor the thread's poller drives.
        let mut tasks = LocalExecutor::new();
        let done = Rc::new(std::cell::Cell::new(0usize));
        for _ in 0..8 {
            let (ch, done) = (ch.clone(), done.clone());
            tasks.spawn(async move {
                let mut buf = DmaBuf::zeroed(4096, 0).unwrap();
                for k in 0..3 {
                    let (b, r) = ch.read_async(buf, k * 4096).await;
                    r.unwrap();
                    buf = b;
                }
                done.set(done.get() + 1);
            });
        }
        tasks.spawn_on_current(move || tx.send(Report::Futures(done.get())).unwrap()).unwrap();
    })
    .unwrap();
    let wait = || rx.recv_timeout(Duration::from_secs(10)).expect("the job reports within 10 s");
    assert_eq!(wait(), Report::Started { on_host_thread: false });
    let mut rest = vec![wait(), wait()];
    rest.sort_by_key(|r| matches!(r, Report::Futures(_)));
    assert_eq!(rest, vec![Report::Callbacks(vec![Ok(()); 4]), Report::Futures(8)]);
    // The job's thread exits (its channel is put: the last owner went with the tasks) and is
    // destroyed while the reactor runs; then the bdev goes from the host again.
    drop(job);
    reactors.stop().unwrap();
    {
        let _on = app.enter().unwrap();
        drop(bdev);
        for _ in 0..1000 {
            app.poll().unwrap();
        }
    }
    drop(app);
    env.fini().expect("everything released");
}
