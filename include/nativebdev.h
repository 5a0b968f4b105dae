/*
 * nativebdev.h - the C API of libnativebdev, an SPDK-style user-space block storage runtime.
 *
 * Conventions (as SPDK and liburing):
 *  - Every handle is opaque. Handles are not addresses: a closed, stale or foreign handle, or
 *    a handle of the wrong type, is detected and answered with an error, never dereferenced.
 *  - Functions return 0 (or a count) on success and a negative errno on failure; functions
 *    that return a pointer return NULL on failure. In both cases nb_last_error() says what
 *    was wrong. The global errno is never used.
 *  - Callbacks run on the lightweight thread named in each function's comment, from inside
 *    nb_thread_poll() (host-driven mode) or a reactor (managed mode).
 *  - Options structs begin with their own size so the ABI can grow: fill them with the
 *    matching *_opts_init(opts, sizeof(*opts)) first.
 *  - -ECHILD (NULL, 0 or NB_VTOPHYS_ERROR for the functions returning those) from every
 *    function in the child of a fork(): see "fork()" below.
 *
 * fork(): the library does not survive fork(). Once any function has been called, the
 * process holds the .NET runtime and its threads (garbage collection, finalizer, reactors);
 * a fork()ed child has only the thread that forked, and a collection or a wait for a reactor
 * in it would never end. So in such a child every function fails at once, without hanging:
 * -ECHILD, or NULL, 0 or NB_VTOPHYS_ERROR where the function returns a pointer, a size or an
 * address, and nb_last_error() says the library does not survive fork. The only exceptions
 * are nb_get_ticks and nb_get_ticks_hz, which keep working. The child must exec() a new
 * program (fork + exec, posix_spawn and system() are fine) or use the library in a process
 * of its own started that way. The parent is not affected. A child forked before the first
 * call into the library may use it as a fresh process would. The child finds out from a
 * pthread_atfork handler, so a raw clone() system call is not detected. The refusal happens
 * before the runtime is entered, so it holds even for a fork() taken while another thread of
 * the parent had the runtime stopped for a garbage collection.
 *
 * Signals: nb_get_ticks and nb_get_ticks_hz are async-signal-safe (they are plain C and
 * never enter the runtime) and may be called from a signal handler, whatever the signal
 * interrupted. No other function is async-signal-safe: calling one from a handler that
 * interrupted the library aborts the process (the runtime refuses to be re-entered), and
 * calling one from a handler that interrupted anything else may deadlock. A host that wants
 * to act on a signal (the "dump the statistics on SIGUSR1" pattern) sets a flag in the
 * handler and acts on it in its own loop, or reads the signal from a signalfd:
 *
 *     static volatile sig_atomic_t dump_requested;
 *     static void on_usr1(int sig) { (void)sig; dump_requested = 1; }
 *     ...
 *     for (;;) {                       // the host's poll loop
 *             nb_thread_poll(t, 0, nb_get_ticks());
 *             if (dump_requested) {
 *                     dump_requested = 0;
 *                     nb_bdev_get_io_stat(bdev, &stat);   // outside the handler: fine
 *             }
 *     }
 *
 * (or: block SIGUSR1 with pthread_sigmask, read it from signalfd(-1, &set, SFD_CLOEXEC) in
 * the loop, with poll() or a read made non-blocking.) The runtime installs handlers for
 * SIGSEGV, SIGFPE and SIGRTMIN (it uses SIGRTMIN to suspend threads for garbage collection)
 * on the first call. Hosts must not use SIGRTMIN. SIGPIPE is never changed: the runtime's
 * start-up would set it to SIG_IGN, and the library answers that request without acting on
 * it, so a handler the host installed stays installed and programs the host starts inherit
 * the host's own disposition (SIG_DFL unless the host changed it). The library writes to no
 * socket or pipe of its own; its log goes to the host's stderr (or nb_log_set_callback).
 * The library must not be dlclose()d (it is linked -z nodelete).
 */
#ifndef NATIVEBDEV_H
#define NATIVEBDEV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0
#define NB_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------
 * Version, errors, logging (callable at any time, from any thread, without nb_env_init;
 * not from a signal handler, except the clock)
 * ------------------------------------------------------------------------------------- */

/* The library's version, "MAJOR.MINOR.PATCH" (NULL in a fork()ed child). */
const char *nb_version(void);

/* What went wrong in the last failing call made on this OS thread: a NUL-terminated string
 * owned by the library, valid until the next call on the same thread. Never NULL. In a
 * fork()ed child, always the constant message saying the library does not survive fork. */
const char *nb_last_error(void);

enum nb_log_level {
	NB_LOG_ERROR = 0,
	NB_LOG_WARN = 1,
	NB_LOG_NOTICE = 2,
	NB_LOG_INFO = 3,
	NB_LOG_DEBUG = 4,
};

/* A log sink: called on whatever OS thread logs, with a message valid for the call only. */
typedef void (*nb_log_fn)(int level, const char *msg, void *ctx);

/* Messages at or below `level` are logged (default NB_LOG_NOTICE). -EINVAL if out of range. */
int nb_log_set_level(int level);
int nb_log_get_level(void);

/* Sends log messages to `fn` instead of stderr; NULL restores stderr. */
int nb_log_set_callback(nb_log_fn fn, void *ctx);

/* The runtime's monotonic clock (spdk_get_ticks / spdk_get_ticks_hz): the CPU's time-stamp
 * counter where the kernel reports it constant and non-stop (its rate measured when the
 * library is loaded), else CLOCK_MONOTONIC in nanoseconds. The statistics' latencies and
 * nb_thread_poll's `now` are in the same ticks. Async-signal-safe, the only functions that
 * are: callable from a signal handler, before any other call, and in a fork()ed child. */
uint64_t nb_get_ticks(void);
uint64_t nb_get_ticks_hz(void);

/* ---------------------------------------------------------------------------------------
 * Environment
 * ------------------------------------------------------------------------------------- */

enum nb_hugepages_mode {
	NB_HUGEPAGES_AUTO = 0, /* hugepages when the kernel has enough reserved, else 4 KiB pages */
	NB_HUGEPAGES_ON = 1,   /* hugepages or fail */
	NB_HUGEPAGES_OFF = 2,  /* 4 KiB pages only */
};

enum nb_iova_mode {
	NB_IOVA_VA = 0, /* device address = virtual address (VFIO with an IOMMU) */
	NB_IOVA_PA = 1, /* physical addresses from /proc/self/pagemap (needs root) */
};

struct nb_env_opts {
	size_t opts_size;           /* sizeof(struct nb_env_opts), set by nb_env_opts_init */
	const char *name;           /* for logs; default "nativebdev" */
	const char *core_mask;      /* reactor cores: "0x3" or "[0,2-3]"; default "0x1" */
	uint64_t dma_pool_size;     /* DMA memory reserved at init; default 16 MiB */
	uint64_t dma_pool_max_size; /* the pool grows up to this; default 1 GiB */
	int32_t hugepages;          /* enum nb_hugepages_mode; default AUTO */
	int32_t iova_mode;          /* enum nb_iova_mode; default VA */
	int32_t log_level;          /* enum nb_log_level; default NOTICE */
	int32_t reactor_spin_us;    /* idle reactors poll this long, then sleep until woken;
	                               0 sleeps at once, -1 never sleeps; default 1000 */
	uint32_t thread_msg_ring_size; /* messages each thread's ring holds (nb_thread_send_msg),
	                                  for threads created after init: a power of two from 64
	                                  to 1048576; default (and 0) 16384. The ring's memory,
	                                  40 bytes a message, is taken in chunks as messages
	                                  arrive, not at nb_thread_create, and is freed with the
	                                  thread */
};

/* Fills `opts` with the defaults. `opts_size` is sizeof(*opts) as the caller knows it. */
int nb_env_opts_init(struct nb_env_opts *opts, size_t opts_size);

/* Initializes the environment (DMA pool, options). `opts` NULL means defaults.
 * -EALREADY if already initialized, -EINVAL for bad options, -ENOMEM if the DMA pool cannot
 * be reserved (for example NB_HUGEPAGES_ON without reserved hugepages). */
int nb_env_init(const struct nb_env_opts *opts);

/* Releases the environment. Refused, with nothing released and nb_last_error() naming what
 * is left (checked in this order):
 *   -EINVAL  not initialized;
 *   -EBUSY   bdevs still exist (destroy them first);
 *   -EBUSY   reactors are running (nb_reactors_stop first);
 *   -EBUSY   threads are alive (exit and destroy them first);
 *   -EBUSY   mempools are alive (free them first);
 *   -EBUSY   DMA buffers are still allocated, with their count and bytes (nb_dma_free them
 *            first: the memory stays mapped while the host may still use it).
 * nb_env_init may be called again afterwards. On success the DMA pool is unmapped and the memory
 * of destroyed threads, bdevs and channels is collected and given back to the OS (a full
 * collection of the runtime's heap, a few milliseconds). */
int nb_env_fini(void);

struct nb_env_info {
	size_t info_size;          /* set by the caller: sizeof(struct nb_env_info) */
	uint64_t dma_pool_size;    /* bytes mapped */
	uint64_t dma_pool_used;    /* bytes allocated */
	int32_t hugepages;         /* 1 if the pool is on hugepages */
	int32_t pinned;            /* 1 if every region is locked in memory */
	int32_t iova_mode;         /* enum nb_iova_mode */
	uint32_t core_count;       /* cores in the core mask */
	uint64_t init_ns;          /* time nb_env_init took */
};

int nb_env_get_info(struct nb_env_info *info);

/* ---------------------------------------------------------------------------------------
 * DMA memory (from the environment's pool; thread-safe; not for the I/O path)
 * ------------------------------------------------------------------------------------- */

#define NB_VTOPHYS_ERROR UINT64_MAX

/* Allocates `size` bytes aligned to `align` (a power of two up to 2 MiB; 0 means 64).
 * If `iova` is not NULL it receives the device address of the buffer. NULL on failure. */
void *nb_dma_malloc(size_t size, size_t align, uint64_t *iova);
void *nb_dma_zmalloc(size_t size, size_t align, uint64_t *iova);

/* Frees a buffer from nb_dma_malloc. NULL is a no-op. -EINVAL for anything else (including
 * any pointer before nb_env_init or after nb_env_fini: there are no DMA buffers then). Free
 * space coalesces: neighbouring free blocks merge, and the regions the pool grew by (beyond
 * dma_pool_size) are unmapped once they hold nothing (one of at most 16 MiB stays for reuse),
 * so after everything is freed any allocation that fits a fresh pool fits again. */
int nb_dma_free(void *buf);

/* The device address (IOVA) of `buf`, which must lie in the DMA pool, else NB_VTOPHYS_ERROR.
 * If `size` is not NULL, on input it is the length wanted and on output the number of bytes
 * from `buf` that are contiguous in device address space (at most the input). */
uint64_t nb_vtophys(const void *buf, uint64_t *size);

/* ---------------------------------------------------------------------------------------
 * Mempools: fixed-size elements in DMA memory, lock-free, with a cache per thread
 * ------------------------------------------------------------------------------------- */

struct nb_mempool;

/* `count` elements of `ele_size` bytes (each 64-byte aligned). `cache_size` (0..512)
 * elements are cached per lightweight thread for calls made on that thread. */
struct nb_mempool *nb_mempool_create(const char *name, size_t count, size_t ele_size, size_t cache_size);

/* -EBUSY while elements are still out. */
int nb_mempool_free(struct nb_mempool *mp);

/* An element, or NULL when the pool is empty. Any OS thread. */
void *nb_mempool_get(struct nb_mempool *mp);

/* Returns an element. -EINVAL if it does not belong to this pool. */
int nb_mempool_put(struct nb_mempool *mp, void *ele);

/* All `count` elements or none: -ENOMEM when fewer are free now (retry after puts),
 * -EINVAL when `count` is more than the pool holds (it could never succeed) or ele_arr is
 * NULL. put_bulk puts all or none (-EINVAL: an element of another pool or one already in the
 * pool, and nothing is put). */
int nb_mempool_get_bulk(struct nb_mempool *mp, void **ele_arr, size_t count);
int nb_mempool_put_bulk(struct nb_mempool *mp, void **ele_arr, size_t count);

/* Elements available now (exact when nobody is using the pool), or a negative errno. */
int64_t nb_mempool_count(const struct nb_mempool *mp);

/* ---------------------------------------------------------------------------------------
 * Lightweight threads and messages (SPDK's spdk_thread)
 * ------------------------------------------------------------------------------------- */

/* A thread has one owner at a time, and the library enforces it: the reactor running it, or
 * the OS thread polling it (nb_thread_poll) or binding it (nb_set_thread). Calls that act as
 * the thread (pollers, io channels, I/O) work only on its owner; elsewhere they fail with the
 * errno each documents, and nb_last_error() names the thread's owner and the calling OS thread
 * (by kernel thread id, gettid()).
 *
 * The library's own messages (bdev events, nb_for_each_thread and nb_for_each_channel steps,
 * channel destruction, deferred completions) go through a control queue of their own that a
 * full message ring never refuses: none is lost to a thread busy with nb_thread_send_msg. */
struct nb_thread;

typedef void (*nb_msg_fn)(void *ctx);

/* Creates a thread. `cpumask` ("0x3" or "[0,2]") limits the reactors that may run it; NULL
 * means any. While reactors run, the thread is placed on one; otherwise the host drives it
 * with nb_thread_poll(). NULL on failure. An idle thread costs a few KiB; its message ring
 * grows to its size as messages queue up and is freed by nb_thread_destroy. */
struct nb_thread *nb_thread_create(const char *name, const char *cpumask);

/* Asks the thread to exit; any OS thread. It finishes in a later poll once its messages are
 * drained, its pollers unregistered and its io channels put. After 5 s it is forced, with an
 * error logged: each io channel it still holds is destroyed there, on the thread (its destroy
 * callback runs, so a device or bdev waiting for it can finish; its handle becomes stale), the
 * messages that causes run, and its pollers are dropped. -EALREADY if already asked. */
int nb_thread_exit(struct nb_thread *thread);

/* 1 if the thread has exited, 0 if not, or a negative errno. */
int nb_thread_is_exited(struct nb_thread *thread);

/* Frees an exited thread; its handle becomes stale. -EBUSY if it has not exited, if called from
 * inside its own poll, or if another OS thread has it bound (nb_set_thread). Every message
 * nb_thread_send_msg accepted (returned 0) has run when this returns: a sender racing it either
 * gets -EIO or sees its message run. */
int nb_thread_destroy(struct nb_thread *thread);

/* Host-driven mode: runs up to `max_msgs` messages (0 = default batch of 32), then the
 * thread's pollers. `now` is nb_get_ticks() or 0. Returns the work done (0 = idle), or
 * -EBUSY if a reactor runs the thread, another OS thread polls it or has it bound
 * (nb_set_thread), or the call comes from inside a poll of the same thread (polls do not
 * nest). The OS thread that bound the thread may poll it. */
int nb_thread_poll(struct nb_thread *thread, uint32_t max_msgs, uint64_t now);

/* The thread being polled on this OS thread, else the one set with nb_set_thread, else NULL. */
struct nb_thread *nb_get_current_thread(void);

/* Binds this OS thread to `thread` outside of polls (NULL unbinds), so that calls needing a
 * current thread (pollers, io channels) work from the host's own code. The binding makes this
 * OS thread the thread's owner until it binds another thread or NULL: -EBUSY while a reactor
 * runs (or is about to run) the thread or another OS thread polls or has bound it, and -EBUSY
 * when called from inside a poll. A refused call leaves the current binding as it was. A
 * thread bound when reactors start is adopted by its reactor once it is unbound. */
int nb_set_thread(struct nb_thread *thread);

/* Copies the thread's name into buf (NUL-terminated, truncated to len). Returns its length. */
int nb_thread_get_name(struct nb_thread *thread, char *buf, size_t len);

/* Queues fn(ctx) to run on `thread`. Never runs it inline; any OS thread. -ENOMEM when the
 * thread's ring (nb_env_opts.thread_msg_ring_size, default 16384 messages) is full, -EIO if
 * the thread has exited. A message accepted (0) runs: in a later poll, or at the latest in
 * nb_thread_destroy. */
int nb_thread_send_msg(struct nb_thread *thread, nb_msg_fn fn, void *ctx);

/* Runs fn(ctx) on every thread in turn, then cpl(ctx) on the calling thread. Must be called
 * from a thread (nb_get_current_thread() != NULL). */
int nb_for_each_thread(nb_msg_fn fn, void *ctx, nb_msg_fn cpl);

/* Number of live threads. */
int nb_thread_count(void);

/* ---------------------------------------------------------------------------------------
 * Pollers
 * ------------------------------------------------------------------------------------- */

struct nb_poller;

#define NB_POLLER_IDLE 0
#define NB_POLLER_BUSY 1

/* Returns NB_POLLER_BUSY if it did work, NB_POLLER_IDLE if not. */
typedef int (*nb_poller_fn)(void *ctx);

/* Registers fn on the current thread: called on every poll (period_us 0) or every
 * `period_us` microseconds. NULL on failure (no current thread, thread exiting). */
struct nb_poller *nb_poller_register(nb_poller_fn fn, void *ctx, uint64_t period_us);

/* Unregisters *poller and sets it to NULL; on the poller's own thread, also from inside
 * the poller itself. */
int nb_poller_unregister(struct nb_poller **poller);
int nb_poller_pause(struct nb_poller *poller);
int nb_poller_resume(struct nb_poller *poller);

/* ---------------------------------------------------------------------------------------
 * io devices and io channels (per-thread state of a device)
 * ------------------------------------------------------------------------------------- */

struct nb_io_channel;

/* Sets up a new channel's ctx_buf (ctx_size zeroed bytes) on the thread getting it; 0 or a
 * negative errno. */
typedef int (*nb_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*nb_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*nb_io_device_unregister_cb)(void *io_device);

/* Registers `io_device` (any unique non-NULL address). -EEXIST if already registered. */
int nb_io_device_register(void *io_device, nb_io_channel_create_cb create_cb,
			  nb_io_channel_destroy_cb destroy_cb, uint32_t ctx_size, const char *name);

/* No new channels; unregister_cb (may be NULL) runs on the calling thread once every
 * channel is destroyed. Call from a thread. */
int nb_io_device_unregister(void *io_device, nb_io_device_unregister_cb unregister_cb);

/* The current thread's channel for io_device, created on first use, reference counted.
 * NULL on failure, with the reason in nb_last_error(). Called for io_device from inside that
 * device's own create_cb on the same thread, it fails (the channel does not exist yet; the
 * message says so) and the channel being created is not affected. */
struct nb_io_channel *nb_get_io_channel(void *io_device);

/* Drops a reference, on the channel's own thread. The channel is destroyed by a message
 * once the count reaches zero; from the last put on, I/O on it is refused (-EBADF). */
int nb_put_io_channel(struct nb_io_channel *ch);

/* The channel's context buffer (ctx_size bytes), or NULL. */
void *nb_io_channel_get_ctx(struct nb_io_channel *ch);

/* The thread that owns the channel, or NULL. */
struct nb_thread *nb_io_channel_get_thread(struct nb_io_channel *ch);

typedef int (*nb_channel_fn)(struct nb_io_channel *ch, void *ctx);
typedef void (*nb_channel_cpl)(void *ctx, int status);

/* Runs fn on each channel of io_device, each on its own thread, in turn; a non-zero return
 * stops the walk. Then cpl(ctx, status) runs on the calling thread. Call from a thread. */
int nb_for_each_channel(void *io_device, nb_channel_fn fn, void *ctx, nb_channel_cpl cpl);

/* ---------------------------------------------------------------------------------------
 * Reactors (managed mode): one pinned OS thread per core, polling the threads placed on it
 * ------------------------------------------------------------------------------------- */

/* Starts a reactor on each core of `core_mask` (NULL: the environment's core mask) and
 * places every live thread on one. -EALREADY if running, -EINVAL for unavailable cores. */
int nb_reactors_start(const char *core_mask);

/* Stops and joins the reactors; their threads stay alive and become host-driven.
 * -EDEADLK if called from a reactor. */
int nb_reactors_stop(void);

/* Number of running reactors. */
int nb_reactor_count(void);

/* The cores the reactors run on, ascending, into cores[0..max); returns how many. */
int nb_reactor_get_cores(uint32_t *cores, int max);

/* ---------------------------------------------------------------------------------------
 * Block devices (SPDK's bdev layer)
 *
 * A bdev is created from a URI, opened into a descriptor, and used through a per-thread io
 * channel. I/O calls return 0 when the I/O was accepted (its callback will run, exactly once,
 * on the submitting thread from a later poll) or a negative errno when it was not (the
 * callback will not run): -EINVAL bad range, length or buffer, -EFAULT a buffer or iovec in
 * the first 64 KiB of the address space (never mapped: NULL plus an offset; other invalid
 * addresses are not detected, as in SPDK), -EBADF write on a read-only descriptor, a closed
 * descriptor, a stale handle or a channel whose last reference was put, -ENOTSUP type not
 * supported, -ENODEV bdev being removed, -ENOMEM no free I/O on the channel (see
 * nb_bdev_queue_io_wait).
 * The struct nb_bdev_io passed to a callback is valid only during that callback; there is
 * no free call. Submitting again from inside a callback is allowed.
 * ------------------------------------------------------------------------------------- */

struct nb_bdev;
struct nb_bdev_desc;
struct nb_bdev_io;
struct iovec;

enum nb_bdev_io_type {
	NB_BDEV_IO_TYPE_READ = 1,
	NB_BDEV_IO_TYPE_WRITE = 2,
	NB_BDEV_IO_TYPE_UNMAP = 3,
	NB_BDEV_IO_TYPE_FLUSH = 4,
	NB_BDEV_IO_TYPE_RESET = 5,
	NB_BDEV_IO_TYPE_WRITE_ZEROES = 6,
	NB_BDEV_IO_TYPE_NVME_ADMIN = 7,
	NB_BDEV_IO_TYPE_NVME_IO = 8,
};

enum nb_bdev_event_type {
	NB_BDEV_EVENT_REMOVE = 0,          /* close the descriptor: the bdev is going away */
	NB_BDEV_EVENT_RESIZE = 1,          /* the block count changed */
	NB_BDEV_EVENT_MEDIA_MANAGEMENT = 2, /* read the ranges with nb_bdev_get_media_events */
	NB_BDEV_EVENT_FAILED = 3,          /* the device monitor retired the bdev (extension) */
};

#define NB_BDEV_NAME_MAX 256

/* Creates a bdev from a URI and copies its name into `name` (NUL-terminated, truncated to
 * `name_len`; may be NULL). Schemes:
 *   null:///NAME?size_mb=N|num_blocks=N|size=BYTES[K|M|G|T]&blk_size=512&uuid=U
 *   malloc:///NAME?(same parameters)              RAM disk in the DMA pool
 *   bdev:///BASE?name=ALIAS&uuid=U                passthrough alias of an existing bdev
 *   loopback:///BASE?name=ALIAS&uuid=U            (same; default alias name BASE_loop)
 *   uring:///PATH?blk_size=&direct=1&sqpoll=0&readonly=0&name=&uuid=   file or block device, io_uring
 *   aio:///PATH?blk_size=&direct=1&readonly=0&name=&uuid=              same, Linux native AIO
 *   error:///BASE?name=EE_BASE&uuid=U             SPDK's error bdev (see nb_bdev_error_inject)
 *   delay:///BASE?avg_read_us=&p99_read_us=&avg_write_us=&p99_write_us=&name=BASE_delay
 * uring/aio bdevs are named by their path unless name= is given; files default to 512-byte
 * blocks, block devices use their logical block size.
 * Block sizes are powers of two from 512 to 65536. Unknown schemes (-ENOTSUP), unknown or
 * bad parameters (-EINVAL), duplicate names (-EEXIST) are errors with a message.
 *   split:///BASE?split_count=N&split_size_mb=M   SPDK's vbdev_split: BASE claimed, parts BASEp0..
 *                                                 (M MiB each, 0 = equal parts); answers BASEp0
 *   raid0:///NAME?strip_size_kb=K&base_bdevs=A,B  SPDK's raid0 (K a power of two), bases claimed
 *   concat:///NAME?strip_size_kb=K&base_bdevs=A,B SPDK's concat: the bases one after the other
 *   nexus:///NAME?size=BYTES&children=URI,URI     a mirror (see nb_nexus_create); &state_file=PATH
 *                                                 keeps the child states in PATH (see the nexus)
 * bdev://, loopback://, error://, delay://, split://, raid0://, concat:// and nexus:// need a
 * current thread (they open their bases). */
int nb_bdev_create(const char *uri, char *name, size_t name_len);

/* `name`: the bdev's name (every namespace's, comma-separated), valid during the call; NULL
 * when `status` is a negative errno. */
typedef void (*nb_bdev_create_cb)(void *ctx, int status, const char *name);

/* nb_bdev_create without holding the calling thread (SPDK's bdev_nvme_create with its
 * callback). Schemes whose bring-up waits on a device or the network — pcie:// (a controller's
 * enable) and nvmf:// (a TCP connect to a host that may not answer for timeout_ms) — are
 * created on an OS thread of the library's own, so the reactor running the caller keeps
 * polling; every other scheme is created on the spot. `cb` runs exactly once, on the calling
 * thread from a later poll, with 0 and the name, or -errno with nb_last_error() saying why.
 * Needs a current thread (inside nb_thread_poll or after nb_set_thread): -EINVAL without one,
 * and for a NULL `uri` or `cb`; `cb` never runs then. nb_env_fini is refused (-EBUSY) while a
 * creation is still running. */
int nb_bdev_create_async(const char *uri, nb_bdev_create_cb cb, void *ctx);

typedef void (*nb_bdev_destroy_cb)(void *ctx, int status);

/* Removes a bdev: every open descriptor gets NB_BDEV_EVENT_REMOVE, new opens and new I/O fail
 * with -ENODEV, in-flight I/O completes (I/O held by a fault rule's method=timeout completes
 * with -ECANCELED, as a reset would release it). Until the removal finishes the name stays
 * taken: nb_bdev_create of it is -EEXIST, look-ups fail, both saying it is being removed.
 * `cb` (may be NULL) runs once every descriptor is closed and every channel put: on the
 * calling thread if it is one, else on the thread that finishes the removal. A descriptor
 * whose opening thread has exited without closing it gets no event (no thread is left to run
 * it): the removal closes it on that thread's behalf, with a warning, and completes.
 * -ENODEV if there is no such bdev. */
int nb_bdev_destroy(const char *name, nb_bdev_destroy_cb cb, void *ctx);

/* Changes the block count (null: any; malloc: up to its created size) and sends
 * NB_BDEV_EVENT_RESIZE to every descriptor. -EINVAL name NULL or a bad count, -ENODEV no such
 * bdev or one being removed. */
int nb_bdev_resize(const char *name, uint64_t num_blocks);

/* Look-up by name or UUID; NULL if none. Iteration in creation order, skipping bdevs being
 * destroyed; each call is O(1) (a walk over 10,000 bdevs takes well under 10 ms). NULL after
 * the last bdev, and for a `prev` whose destruction has finished (its handle is stale). */
struct nb_bdev *nb_bdev_get_by_name(const char *name);
struct nb_bdev *nb_bdev_first(void);
struct nb_bdev *nb_bdev_next(struct nb_bdev *prev);

/* The name, valid until the bdev is destroyed; NULL for a bad handle. */
const char *nb_bdev_get_name(struct nb_bdev *bdev);
/* 0 for a bad handle. */
uint32_t nb_bdev_get_block_size(struct nb_bdev *bdev);
uint64_t nb_bdev_get_num_blocks(struct nb_bdev *bdev);
/* 1 if supported, 0 if not, negative errno for a bad handle. */
int nb_bdev_io_type_supported(struct nb_bdev *bdev, int io_type);

struct nb_bdev_info {
	size_t info_size;               /* set by the caller: sizeof(struct nb_bdev_info) */
	char name[NB_BDEV_NAME_MAX];
	char uuid[40];
	char product_name[64];
	char driver[32];                /* the module: "null", "malloc", "loopback", ... */
	uint32_t block_size;
	uint32_t required_alignment;    /* buffer alignment in bytes (1 = none) */
	uint64_t num_blocks;
	uint64_t size_bytes;
	uint32_t optimal_io_boundary;   /* blocks; 0 = none */
	int32_t write_cache;
	uint32_t io_types;              /* bit (1 << type) for each supported enum nb_bdev_io_type */
	int32_t claimed;                /* 1 if a module claimed it */
	int32_t open_descriptors;
	int32_t reserved;
};

int nb_bdev_get_info(struct nb_bdev *bdev, struct nb_bdev_info *info);

/* Called on the thread that opened the descriptor. */
typedef void (*nb_bdev_event_cb)(int type, struct nb_bdev *bdev, void *ctx);

/* Opens a bdev by name or UUID; `write` non-zero for read-write. Call from a thread. `event_cb`
 * is required. -ENODEV no such bdev (or being removed), -EPERM `write` on a claimed bdev or on
 * one that takes no writes (uring/aio readonly=1, or a virtual bdev on such a base: open these
 * with write 0; their writes would otherwise all fail). */
int nb_bdev_open_ext(const char *name, int write, nb_bdev_event_cb event_cb, void *ctx,
		     struct nb_bdev_desc **desc);

/* Closes a descriptor. As in SPDK (spdk_bdev_close), channels got through it are not refused:
 * they belong to the bdev and the thread, not to the descriptor, stay valid until put with
 * nb_put_io_channel (before or after the close), and a removal of the bdev finishes once they
 * are. I/O naming the closed descriptor is -EBADF. -EBADF if already closed. */
int nb_bdev_close(struct nb_bdev_desc *desc);

struct nb_bdev *nb_bdev_desc_get_bdev(struct nb_bdev_desc *desc);

/* Exclusive write claim for a virtual bdev owning its base; the descriptor must be writable
 * and the only writable one. Released by nb_bdev_release_claim or close. */
int nb_bdev_claim(struct nb_bdev_desc *desc, const char *owner);
int nb_bdev_release_claim(struct nb_bdev_desc *desc);

/* The calling thread's channel for the descriptor's bdev (put it with nb_put_io_channel).
 * NULL on failure, with the cause in nb_last_error(): uring and aio bdevs set up one ring or
 * AIO context per thread, and a refusal names its errno and the limit to raise (EMFILE:
 * ulimit -n / RLIMIT_NOFILE; aio: fs.aio-max-nr, each thread's context taking 2,064 events). */
struct nb_io_channel *nb_bdev_get_io_channel(struct nb_bdev_desc *desc);

/* Completion: status 0 or a negative errno; runs on the submitting thread. */
typedef void (*nb_bdev_io_cb)(struct nb_bdev_io *bdev_io, int status, void *cb_arg);

/* Byte offsets and lengths must be multiples of the block size. */
int nb_bdev_read(struct nb_bdev_desc *desc, struct nb_io_channel *ch, void *buf, uint64_t offset,
		 uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_read_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch, void *buf,
			uint64_t offset_blocks, uint64_t num_blocks, nb_bdev_io_cb cb, void *cb_arg);
/* The iovec array must stay valid until the callback; 1..1024 entries adding up to the length. */
int nb_bdev_readv(struct nb_bdev_desc *desc, struct nb_io_channel *ch, struct iovec *iov, int iovcnt,
		  uint64_t offset, uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_readv_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch, struct iovec *iov,
			 int iovcnt, uint64_t offset_blocks, uint64_t num_blocks, nb_bdev_io_cb cb,
			 void *cb_arg);
int nb_bdev_write(struct nb_bdev_desc *desc, struct nb_io_channel *ch, void *buf, uint64_t offset,
		  uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_write_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch, void *buf,
			 uint64_t offset_blocks, uint64_t num_blocks, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_writev(struct nb_bdev_desc *desc, struct nb_io_channel *ch, struct iovec *iov, int iovcnt,
		   uint64_t offset, uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_writev_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch, struct iovec *iov,
			  int iovcnt, uint64_t offset_blocks, uint64_t num_blocks, nb_bdev_io_cb cb,
			  void *cb_arg);
int nb_bdev_write_zeroes(struct nb_bdev_desc *desc, struct nb_io_channel *ch, uint64_t offset,
			 uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_write_zeroes_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch,
				uint64_t offset_blocks, uint64_t num_blocks, nb_bdev_io_cb cb,
				void *cb_arg);
int nb_bdev_unmap(struct nb_bdev_desc *desc, struct nb_io_channel *ch, uint64_t offset,
		  uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_unmap_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch, uint64_t offset_blocks,
			 uint64_t num_blocks, nb_bdev_io_cb cb, void *cb_arg);
/* A flush of length 0 is allowed (nothing to flush but ordering). */
int nb_bdev_flush(struct nb_bdev_desc *desc, struct nb_io_channel *ch, uint64_t offset,
		  uint64_t nbytes, nb_bdev_io_cb cb, void *cb_arg);
int nb_bdev_flush_blocks(struct nb_bdev_desc *desc, struct nb_io_channel *ch, uint64_t offset_blocks,
			 uint64_t num_blocks, nb_bdev_io_cb cb, void *cb_arg);
/* Completes once no I/O submitted before it is outstanding on any channel of the bdev. */
int nb_bdev_reset(struct nb_bdev_desc *desc, struct nb_io_channel *ch, nb_bdev_io_cb cb, void *cb_arg);

/* Batch submission: one crossing for many I/Os of one descriptor and channel. Entries are
 * submitted in order; returns how many were accepted (stopping at the first refusal, whose
 * errno is in nb_last_error()) or a negative errno if none was. */
struct nb_bdev_io_request {
	int32_t io_type;       /* enum nb_bdev_io_type: READ, WRITE, UNMAP, FLUSH, WRITE_ZEROES */
	int32_t iovcnt;        /* 0: use buf */
	void *buf;
	struct iovec *iov;
	uint64_t offset_blocks;
	uint64_t num_blocks;
	nb_bdev_io_cb cb;
	void *cb_arg;
};
int nb_bdev_submit_batch(struct nb_bdev_desc *desc, struct nb_io_channel *ch,
			 const struct nb_bdev_io_request *reqs, int count);

/* Waiting for a free I/O after -ENOMEM: cb_fn(cb_arg) runs on this thread once one is free.
 * The entry is the caller's and must stay valid until then; it is queued once at a time:
 * queueing it again before its callback ran is -EBUSY (it may be queued again from inside
 * the callback). -EINVAL while the thread has free I/Os (submit instead), -EBADF for a
 * channel whose last reference was put. */
struct nb_bdev_io_wait_entry {
	struct nb_bdev *bdev;
	nb_msg_fn cb_fn;
	void *cb_arg;
};
int nb_bdev_queue_io_wait(struct nb_bdev *bdev, struct nb_io_channel *ch,
			  struct nb_bdev_io_wait_entry *entry);

/* Inside a completion callback: the NVMe completion of the I/O. Backends that are not NVMe
 * report success as 0/0 and failure as generic status / internal device error (SPDK's rule). */
int nb_bdev_io_get_nvme_status(struct nb_bdev_io *bdev_io, uint32_t *cdw0, int *sct, int *sc);
/* Inside a completion callback: the I/O's type, or a negative errno. */
int nb_bdev_io_get_type(struct nb_bdev_io *bdev_io);

/* Statistics (SPDK's spdk_bdev_io_stat), in ticks of nb_get_ticks_hz(). An I/O's latency runs
 * from its submission to its completion. To spare a clock read per I/O, stamps taken inside a
 * thread's poll share one clock read until the step does work: a busy poller or a message
 * refreshes it, and a message's first stamp reads the clock, so host work done in a message
 * before it submits (allocating, pinning memory) is not counted as the I/O's latency. */
struct nb_bdev_io_stat {
	size_t stat_size;                /* set by the caller: sizeof(struct nb_bdev_io_stat) */
	uint64_t bytes_read;
	uint64_t num_read_ops;
	uint64_t bytes_written;
	uint64_t num_write_ops;
	uint64_t bytes_unmapped;
	uint64_t num_unmap_ops;
	uint64_t bytes_zeroed;
	uint64_t num_write_zeroes_ops;
	uint64_t num_flush_ops;
	uint64_t num_reset_ops;
	uint64_t read_latency_ticks;
	uint64_t min_read_latency_ticks;
	uint64_t max_read_latency_ticks;
	uint64_t write_latency_ticks;
	uint64_t min_write_latency_ticks;
	uint64_t max_write_latency_ticks;
	uint64_t unmap_latency_ticks;
	uint64_t min_unmap_latency_ticks;
	uint64_t max_unmap_latency_ticks;
	uint64_t num_read_errors;
	uint64_t num_write_errors;
	uint64_t num_other_errors;
	uint64_t ticks_rate;
	uint64_t queue_depth;            /* I/O outstanding now */
	uint64_t num_ops;                /* every type, successful or not */
	uint64_t latency_ticks;          /* every type: sum, min, max */
	uint64_t min_latency_ticks;
	uint64_t max_latency_ticks;
};

/* Merged over every channel of the bdev (and channels already gone). */
int nb_bdev_get_io_stat(struct nb_bdev *bdev, struct nb_bdev_io_stat *stat);
/* One channel's counters (one thread's I/O to the bdev). */
int nb_bdev_channel_get_io_stat(struct nb_io_channel *ch, struct nb_bdev_io_stat *stat);
/* Latency percentiles in ticks for each of `count` percentiles (0..100): of one channel, or of
 * the whole bdev when ch is NULL. From a log-linear histogram: within 6% of the true value. */
int nb_bdev_get_latency_percentiles(struct nb_bdev *bdev, struct nb_io_channel *ch,
				    const double *percentiles, uint64_t *ticks, int count);
/* Zeroes the statistics: each channel on its own thread; cb(ctx, status) on the calling
 * thread (call from a thread). */
int nb_bdev_reset_io_stat(struct nb_bdev *bdev, nb_bdev_destroy_cb cb, void *ctx);

/* Media management: a backend (or a host, to simulate one) reports ranges needing attention;
 * each descriptor gets NB_BDEV_EVENT_MEDIA_MANAGEMENT and reads them. */
struct nb_bdev_media_event {
	uint64_t offset_blocks;
	uint64_t num_blocks;
};
int nb_bdev_notify_media_management(struct nb_bdev *bdev, uint64_t offset_blocks, uint64_t num_blocks);
/* Takes up to `max` pending events; returns how many. */
int nb_bdev_get_media_events(struct nb_bdev_desc *desc, struct nb_bdev_media_event *events, size_t max);

/* ---------------------------------------------------------------------------------------
 * Fault injection and timeouts
 * ------------------------------------------------------------------------------------- */

/* Adds a rule to a bdev, in Mayastor's inject:// form (extended):
 *   inject://BDEV?op=read|write|rw|unmap|flush|zeroes|all      (default all)
 *                &stage=submit|compl                            (default submit)
 *                &method=status|status-nvme-SCT-SC|data|delay-US|timeout   (default status)
 *                &errno=E         status: fail with -E (default EIO)
 *                &offset=BLK&num_blk=N                          only I/O touching this range
 *                &begin_at=MS&end_at=MS                         active window from now
 *                &count=N&every=N&probability=P                 how many, which, how likely
 * num_blk 0 (the default) means "to the end"; offset + num_blk must stay below 2^64 (-EINVAL).
 * count is the number of firings, at least 1 (count=0 is -EINVAL: SPDK's error bdev would fail
 * no I/O with it); without count a rule fires without limit. every=N fires on every Nth match.
 * status fails the I/O; status-nvme fails it with that NVMe status (nb_bdev_io_get_nvme_status);
 * data (op=read, stage=compl) corrupts what the read returns; delay-US holds it that long;
 * timeout holds it until a reset or the bdev's removal (completes -ECANCELED) or a descriptor
 * timeout with abort (-ETIMEDOUT). The first rule of a bdev that fires decides. A rule at stage=compl acts after
 * the device: a write failed there has still been written. Returns the rule id (> 0). */
int nb_fault_inject(const char *uri);

/* Removes one rule. -ENOENT if there is no such id. */
int nb_fault_remove(int id);

/* Removes every rule of the bdev (NULL: of every bdev); returns how many. */
int nb_fault_clear(const char *bdev_name);

struct nb_fault_rule_info {
	int32_t id;
	int32_t reserved;
	uint64_t matched;      /* I/Os that matched op, range and window */
	uint64_t fired;        /* of those, how many the rule acted on */
	char bdev[NB_BDEV_NAME_MAX];
	char uri[512];
};

/* Copies up to `max` rules; returns how many exist (may be more than `max`). */
int nb_fault_list(struct nb_fault_rule_info *rules, int max);

/* SPDK's error bdev: create it with error:///BASE (named EE_BASE), then make the next `count`
 * I/Os of `io_type` (enum nb_bdev_io_type; 0 = all) fail: FAILURE completes them with -EIO,
 * PENDING never completes them (until a reset: -ECANCELED), CORRUPT_DATA (reads) returns
 * corrupted data, NOMEM completes them with -ENOMEM. -ENODEV if `name` is no error bdev. */
enum nb_bdev_error_type {
	NB_BDEV_ERROR_FAILURE = 1,
	NB_BDEV_ERROR_PENDING = 2,
	NB_BDEV_ERROR_CORRUPT_DATA = 3,
	NB_BDEV_ERROR_NOMEM = 4,
};
int nb_bdev_error_inject(const char *name, int io_type, int error_type, uint32_t count);

/* Per-descriptor I/O timeout (spdk_bdev_set_timeout): cb(ctx, bdev_io) runs on the I/O's
 * thread once for each I/O of this descriptor outstanding longer than timeout_us. With
 * `abort` non-zero, such I/O that the bdev layer still holds (queued, delayed or held by a
 * fault rule) is completed with -ETIMEDOUT. timeout_us 0 turns it off. */
typedef void (*nb_bdev_timeout_cb)(void *ctx, struct nb_bdev_io *bdev_io);
int nb_bdev_set_timeout(struct nb_bdev_desc *desc, uint64_t timeout_us, int abort,
			nb_bdev_timeout_cb cb, void *ctx);

/* ---------------------------------------------------------------------------------------
 * Device monitor (the seed's device_monitor)
 *
 * When a bdev's completions show `max_errors` errors within `window_ms` on one thread, the
 * bdev is retired: marked failed, NB_BDEV_EVENT_FAILED goes to every descriptor, and from
 * then on every I/O completes at once with -EIO without reaching the device, until
 * nb_bdev_clear_failed. Cancellations (-ECANCELED) are not counted. max_errors 0 (the
 * default) turns the monitor off.
 * ------------------------------------------------------------------------------------- */
int nb_device_monitor_configure(uint32_t max_errors, uint32_t window_ms);

struct nb_bdev_health {
	size_t health_size;       /* set by the caller: sizeof(struct nb_bdev_health) */
	int32_t failed;           /* 1 if retired */
	int32_t reserved;
	uint64_t read_errors;     /* completions with an error, all channels */
	uint64_t write_errors;
	uint64_t other_errors;
	char reason[256];         /* why it was retired, or "" */
};
int nb_bdev_get_health(struct nb_bdev *bdev, struct nb_bdev_health *health);
/* Re-admits a retired bdev. -EALREADY if it is not retired. */
int nb_bdev_clear_failed(struct nb_bdev *bdev);

/* ---------------------------------------------------------------------------------------
 * User-space NVMe over PCIe (pcie:///DOMAIN:BUS:DEVICE.FUNCTION[/NSID])
 *
 * The controller must be bound to vfio-pci (IOMMU; DMA addresses are virtual addresses)
 * or uio_pci_generic (no IOMMU; physical addresses, root, hugepages advised). Its first
 * namespace bdev attaches it: bring-up, one admin thread per controller, one I/O queue pair
 * per thread that opens a channel. The last namespace bdev destroyed shuts it down (CC.SHN).
 * Buffers of I/O on these bdevs must come from nb_dma_malloc; iovecs must meet at 4 KiB page
 * boundaries. URI parameters: mode=auto|vfio|uio, timeout_ms=N (per command: abort, then
 * controller reset; 0 = none; default 30000), name= (with an NSID only).
 * ------------------------------------------------------------------------------------- */

/* An NVMe submission queue entry: the layout of SPDK's struct spdk_nvme_cmd. */
struct nb_nvme_cmd {
	uint8_t opc;
	uint8_t fuse_psdt;  /* must be 0 (no fused command, PRPs): the driver builds the data pointer */
	uint16_t cid;       /* ignored: the driver assigns command ids */
	uint32_t nsid;      /* I/O passthrough: replaced by the bdev's namespace */
	uint32_t rsvd2;
	uint32_t rsvd3;
	uint64_t mptr;
	uint64_t prp1;      /* ignored: built from buf */
	uint64_t prp2;      /* ignored */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};

/* Sends an admin command to the bdev's controller (SPDK's spdk_bdev_nvme_admin_passthru).
 * `buf` (DMA memory, up to the controller's maximum transfer) or NULL with nbytes 0; the
 * command is copied. Completes like any I/O: nb_bdev_io_get_nvme_status gives cdw0 and the
 * status. The descriptor must be writable. -EPERM for queue, event and doorbell-buffer
 * opcodes (the driver owns them), -EINVAL when buf is shorter than the transfer the command
 * implies (identify, log pages, read/write/compare, dataset management) or missing for an
 * opcode whose direction bits say data moves, -ENOTSUP on bdevs that are not NVMe. */
int nb_bdev_nvme_admin_passthru(struct nb_bdev_desc *desc, struct nb_io_channel *ch,
				const struct nb_nvme_cmd *cmd, void *buf, size_t nbytes,
				nb_bdev_io_cb cb, void *cb_arg);
/* Sends an NVM command on this thread's queue pair, to the bdev's namespace. */
int nb_bdev_nvme_io_passthru(struct nb_bdev_desc *desc, struct nb_io_channel *ch,
			     const struct nb_nvme_cmd *cmd, void *buf, size_t nbytes,
			     nb_bdev_io_cb cb, void *cb_arg);

struct nb_nvme_probe_info {
	char traddr[16];     /* "0000:00:04.0" */
	char driver[32];     /* the kernel driver bound to it: "vfio-pci", "uio_pci_generic", "nvme", "" */
	uint16_t vendor_id;
	uint16_t device_id;
	int32_t attachable;  /* 1 if bound to vfio-pci or uio_pci_generic */
	int32_t attached;    /* 1 if this process has it attached */
};
/* Lists the NVMe controllers on the PCI bus (class 01 08 02), SPDK's spdk_nvme_probe.
 * Fills up to `max` entries and returns how many there are (may exceed max); infos may be
 * NULL with max 0. No environment needed. */
int nb_nvme_probe(struct nb_nvme_probe_info *infos, int max);

struct nb_nvme_ctrlr_info {
	size_t info_size;            /* set by the caller: sizeof(struct nb_nvme_ctrlr_info) */
	char traddr[16];
	char mode[8];                /* "vfio" or "uio" */
	char model[48];
	char serial[24];
	char firmware[16];
	char state[16];              /* "ready", "resetting", "failed" */
	uint32_t nsid;               /* the bdev's namespace */
	uint32_t num_namespaces;     /* identify controller NN */
	uint32_t max_transfer_bytes;
	uint32_t io_queues;          /* granted by the controller */
	uint32_t io_queue_entries;
	uint32_t reserved;
	uint64_t resets;             /* controller resets so far */
};
/* The controller behind an NVMe bdev. -ENODEV no such bdev, -ENOTSUP not an NVMe bdev. */
int nb_nvme_ctrlr_get_info(const char *bdev_name, struct nb_nvme_ctrlr_info *info);
/* Starts a reset of the controller behind an NVMe bdev and returns (callable from any thread,
 * including one that polls the bdev's channels, which must keep polling for it to finish).
 * Commands in flight are resubmitted after it; watch `resets` and `state` in the info.
 * Resets also start on their own: fatal controller status, or a command still outstanding one
 * timeout_ms after its Abort. A reset that fails leaves the controller "failed": its namespace
 * bdevs are retired (NB_BDEV_EVENT_FAILED, I/O fails with -EIO); a later successful reset
 * brings it back, and nb_bdev_clear_failed re-admits the bdevs. */
int nb_nvme_ctrlr_reset(const char *bdev_name);

/* ---------------------------------------------------------------------------------------
 * Management: the JSON-RPC server (SPDK's rpc.py speaks to it)
 * ------------------------------------------------------------------------------------- */

/* Serves SPDK-compatible JSON-RPC 2.0 on `listen_addr` from the current thread: a Unix
 * socket path ("/path" or "unix:/path", created 0600; a stale socket file is replaced, one a
 * live process serves is refused with -EADDRINUSE; as spdk_tgt, a relative path without a
 * colon is taken from the working directory), or "IP:PORT" / "[IPV6]:PORT" for TCP
 * (port 0 picks a free port). NULL means SPDK's default, "/var/tmp/spdk.sock". The listener,
 * every connection and every method run on this thread, which must keep polling (or sit on a
 * reactor). One server per process: -EALREADY if one runs. -EINVAL bad address or no current
 * thread, other -errno from socket, bind or listen. */
int nb_rpc_server_start(const char *listen_addr);

/* The address the server listens on (the chosen port for port 0) into buf, NUL-terminated and
 * truncated to fit; returns its full length, as snprintf does, or -ENOENT if no server runs. */
int nb_rpc_server_get_addr(char *buf, size_t len);

/* Stops listening, disconnects every client and removes the socket file. On the server's
 * thread: -EINVAL elsewhere, -ENOENT if none runs. */
int nb_rpc_server_stop(void);

/* spdk_tgt --wait-for-rpc: `cb(ctx)` runs once, on the server's thread, when a client calls
 * framework_start_init (the host loads its config there); until then framework_wait_init
 * replies only after it, and afterwards framework_start_init answers -EALREADY. A second call
 * replaces the waiting callback. -EINVAL if cb is NULL. */
typedef void (*nb_rpc_start_init_cb)(void *ctx);
int nb_rpc_wait_for_start_init(nb_rpc_start_init_cb cb, void *ctx);

/* The host's own RPC methods, served beside the built-in ones (what an SPDK application adds
 * with SPDK_RPC_REGISTER; bdevperf -z adds perform_tests this way):
 *
 *   static void perform_tests(void *ctx, struct nb_rpc_request *req, const char *params)
 *   {
 *           ... start the run, keep req; when it is over (on any thread):
 *           nb_rpc_request_send_result(req, "{\"results\":[...]}");
 *   }
 *   nb_rpc_register_method("perform_tests", perform_tests, NULL);
 *
 * `fn(ctx, req, params)` runs on the RPC server's thread, from its poll, for each request of
 * that method: `params` is the request's "params" value as JSON text (an object or an array,
 * as the client wrote it), or NULL when it had none; it is valid only during the call. The
 * host answers exactly once, now or later and from any thread, with nb_rpc_request_send_result
 * or nb_rpc_request_send_error; `req` is stale afterwards. A notification (a request without
 * an id) must be answered too: the answer is dropped, as JSON-RPC asks. An answer to a client
 * that has gone is dropped as well. Registered methods are listed by rpc_get_methods, stay
 * registered while servers start and stop, and are dropped by nb_env_fini.
 *
 * nb_rpc_register_method: `method` is 1 to 255 characters of [A-Za-z0-9_.-]. Callable from
 * any thread; requests that come after it returns find the method. -EEXIST a built-in or
 * registered method has that name, -EINVAL bad name or NULL fn, -EPERM no environment.
 * nb_rpc_unregister_method: later requests get -32601 "Method not found"; requests already
 * handed to fn stay valid until answered. -ENOENT no such registered method. */
struct nb_rpc_request;
typedef void (*nb_rpc_method_fn)(void *ctx, struct nb_rpc_request *req, const char *params);
int nb_rpc_register_method(const char *method, nb_rpc_method_fn fn, void *ctx);
int nb_rpc_unregister_method(const char *method);

/* {"jsonrpc":"2.0","id":ID,"result":RESULT}: `result` is one JSON value (NUL-terminated
 * UTF-8 text, at most 64 MiB), e.g. "true", "{\"name\":\"x\"}". -EINVAL when it is NULL or
 * not one JSON value (req stays valid: answer again), -EBADF req stale (already answered),
 * -EINVAL req NULL. */
int nb_rpc_request_send_result(struct nb_rpc_request *req, const char *result);

/* {"jsonrpc":"2.0","id":ID,"error":{"code":CODE,"message":MESSAGE}}. `code` as SPDK's handlers
 * send it: a negative errno (-ENODEV) for a failed operation, or a JSON-RPC code (-32602
 * invalid params, -32603 internal error). `message` NULL: strerror's text for a negative errno
 * (JSON-RPC's own text for -32700..-32600). Errors as nb_rpc_request_send_result. */
int nb_rpc_request_send_error(struct nb_rpc_request *req, int code, const char *message);

/* Prometheus metrics over HTTP (GET /metrics, text format 0.0.4) on `listen_addr`
 * ("IP:PORT", NULL: "127.0.0.1:9464"; port 0 picks a free one), served from the current
 * thread, which must keep polling: per-bdev operations, bytes and errors by I/O type, a latency
 * histogram per bdev (nbdev_bdev_io_latency_seconds, a bucket per power of two of clock ticks),
 * thread busy/idle seconds, RPC clients, and what front ends add. One per process: -EALREADY
 * if one runs, -EINVAL bad address or no current thread. nb_metrics_server_get_addr and
 * nb_metrics_server_stop behave as the RPC server's. */
int nb_metrics_server_start(const char *listen_addr);
int nb_metrics_server_get_addr(char *buf, size_t len);
int nb_metrics_server_stop(void);

/* SPDK JSON config files ({"subsystems":[{"subsystem":"bdev","config":[{"method":...,
 * "params":{...}}]}, ...]}, what spdk_tgt -c and rpc.py save_config/load_config use).
 *
 * nb_config_load reads `path` and calls each entry's RPC method in turn on the current thread,
 * subsystems in SPDK's dependency order; it returns at once (0) and `cb(ctx, status)` runs on
 * this thread, which must keep polling, when the load is over. A vbdev listed before its base
 * (as SPDK saves them) waits for the base. SPDK's tuning methods without a counterpart here
 * (iobuf_set_options, sock_impl_set_options, bdev_nvme_set_options, ...) are accepted and logged.
 * A failing entry stops the load: everything it made is destroyed again, status is -EINVAL and
 * nb_last_error() on that thread names the subsystem, entry, method and reason. Returns
 * -EINVAL for NULL path, no current thread, or a file that is not such a config (nothing is
 * called then), -errno when the file cannot be read.
 *
 * nb_config_save writes every subsystem's config in that format (what save_config writes) to
 * `path`, through a temporary file renamed over it, so a reader never sees half a config. */
typedef void (*nb_config_load_cb)(void *ctx, int status);
int nb_config_load(const char *path, nb_config_load_cb cb, void *ctx);
int nb_config_save(const char *path);

/* ---------------------------------------------------------------------------------------
 * Export: the network NBD server (what qemu-nbd and nbdkit are)
 *
 * Serves bdevs to NBD clients (nbdinfo, nbdcopy, qemu-img nbd://, fio's nbd engine, the
 * kernel's nbd-client) with the fixed newstyle handshake: NBD_OPT_GO/INFO/LIST/EXPORT_NAME/
 * ABORT/STRUCTURED_REPLY/SET_META_CONTEXT ("base:allocation"), reads, writes (FUA), flush,
 * trim, write zeroes and block status, replies out of order, multi-conn. Each connection opens
 * its export's bdev when the client chooses it and gets a fixed set of request slots and DMA
 * buffers then (64 requests in flight, 8 MiB, 2 MiB per request); requests beyond them wait.
 * Requests must be aligned to the bdev's block size (advertised as the minimum block size).
 * The RPC methods nbd_server_start/add_export/remove_export/stop do the same (ours: SPDK has
 * only the kernel /dev/nbdX attach).
 * ------------------------------------------------------------------------------------- */

/* Listens for NBD clients on `listen_addr` from the current thread: "IP:PORT" or "[IPV6]:PORT"
 * for TCP (port 0 picks a free port), or a Unix socket path ("/path" or "unix:/path", created
 * 0600). NULL means "127.0.0.1:10809" (loopback, NBD's port). The listener and every
 * connection run on this thread, which must keep polling. One server per process: -EALREADY
 * if one runs. -EINVAL bad address or no current thread, other -errno from socket/bind/listen. */
int nb_nbd_server_start(const char *listen_addr);

/* The address the server listens on (the chosen port for port 0) into buf, NUL-terminated and
 * truncated to fit; returns its full length, as snprintf does, or -ENOENT if no server runs. */
int nb_nbd_server_get_addr(char *buf, size_t len);

/* Offers bdev `bdev_name` under export `name` (at most 4096 bytes; "" is allowed; a client
 * asking for the empty name gets the export named "" or else the first one added).
 * read_only != 0: clients may not write. description: shown by nbdinfo --list; NULL for none.
 * Callable from any thread. -ENOENT no server, -EEXIST name taken, -ENODEV no such bdev,
 * -EPERM a writable export of a bdev that takes no writes, -EINVAL bad argument. */
int nb_nbd_server_add_export(const char *name, const char *bdev_name, int read_only,
			     const char *description);

/* Withdraws an export; clients using it are disconnected (their requests at the bdev finish
 * first, on the server's thread). Callable from any thread. -ENOENT no server or no such export. */
int nb_nbd_server_remove_export(const char *name);

/* Connections open now, including ones whose requests are still finishing after a disconnect
 * (a test's way to see that everything was released); -ENOENT if no server runs. */
int nb_nbd_server_connection_count(void);

/* Stops listening, drops every export and disconnects every client. On the server's thread:
 * -EINVAL elsewhere, -ENOENT if none runs. Connections release their bdevs on the thread's
 * next polls (nb_nbd_server_connection_count cannot tell then: poll a few times). */
int nb_nbd_server_stop(void);

/* ---------------------------------------------------------------------------------------
 * Export: kernel NBD disks, a bdev as the kernel's /dev/nbdX (SPDK's nbd_start_disk,
 * nbd_stop_disk and nbd_get_disks, which call the same core)
 *
 * The kernel's nbd driver gets one end of a socketpair and the bdev's geometry; its requests
 * become bdev I/O on the thread that started the disk. Needs the nbd module (modprobe nbd) and
 * the right to open /dev/nbdX and issue its ioctls (root, as for SPDK). Stopping disconnects
 * the device softly (the kernel finishes what it sent), then closes the socket after 10 s.
 * ------------------------------------------------------------------------------------- */

/* Attaches bdev `bdev_name` to `nbd_device` ("/dev/nbdN"), or with NULL to the first /dev/nbdN
 * no one uses (and the next when that one turns out taken meanwhile). From the current thread,
 * which must keep polling: the disk's requests run there. Returns 0 and later
 * `cb(ctx, status, nbd_device)` runs on this thread: status 0 and the device's path (valid
 * during the call) once the disk serves, or -errno and NULL when it could not start (nothing
 * is left of it; nb_last_error() on this thread says why). cb may be NULL. Fails at once with
 * -EINVAL NULL bdev_name or no current thread, -ENODEV no such bdev, `nbd_device` no /dev/nbdN
 * path, or no free device (the nbd module is not loaded), -EBUSY the device is in use (by this
 * process or another: the driver shows it connected), -EPERM no environment, other -errno from
 * opening the bdev or the device (-EACCES without the right to). */
typedef void (*nb_nbd_disk_start_cb)(void *ctx, int status, const char *nbd_device);
int nb_nbd_disk_start(const char *bdev_name, const char *nbd_device, nb_nbd_disk_start_cb cb,
		      void *ctx);

/* Detaches a disk this process started. Callable from any thread; `cb(ctx, 0)` (may be NULL)
 * runs on the disk's thread once the kernel let go and the bdev is closed. -EINVAL NULL
 * nbd_device, -ENODEV no disk of this process on it. */
typedef void (*nb_nbd_disk_stop_cb)(void *ctx, int status);
int nb_nbd_disk_stop(const char *nbd_device, nb_nbd_disk_stop_cb cb, void *ctx);

struct nb_nbd_disk_info {
	char nbd_device[256];            /* "/dev/nbd0" */
	char bdev_name[NB_BDEV_NAME_MAX];
};

/* Copies up to `max` of this process's disks (started or starting; stopping ones until they
 * are gone) into `disks`; returns how many there are (may be more than `max`). -EINVAL when
 * max < 0, or disks is NULL and max > 0. */
int nb_nbd_disk_list(struct nb_nbd_disk_info *disks, int max);

/* ---------------------------------------------------------------------------------------
 * NVMe over TCP target (SPDK's nvmf_tgt with the TCP transport)
 *
 * Exports bdevs as namespaces of NVM subsystems to any NVMe/TCP host: the Linux kernel
 * (nvme connect -t tcp), SPDK, our own nvmf:// initiator. One target per process, started
 * on the current thread; its listeners, controllers and admin queues live on that thread,
 * which must keep polling, and every nb_nvmf_* call below is made on it (-EINVAL elsewhere).
 * With reactors on several cores it makes a poll group thread on each other core, and each
 * I/O queue, once connected, is served by the next poll group in turn (RPC nvmf_get_stats).
 * The discovery subsystem (nqn.2014-08.org.nvmexpress.discovery) answers on every listener
 * and lists each subsystem's listen addresses to the hosts it allows. Hosts get NVMe status
 * codes (never a crash) for bad commands, and a C2HTermReq and a closed connection for a
 * broken protocol. The nvmf_* RPC methods call the same core.
 *
 * Export a bdev and connect Linux to it:
 *   nb_nvmf_target_start(NULL);
 *   nb_nvmf_subsystem_create("nqn.2016-06.io.spdk:cnode1", NULL, NULL, 0, 1);
 *   nb_nvmf_subsystem_add_ns("nqn.2016-06.io.spdk:cnode1", "Malloc0", 0, NULL);
 *   nb_nvmf_subsystem_add_listener("nqn.2016-06.io.spdk:cnode1", "0.0.0.0", "4420");
 *   host# nvme connect -t tcp -a HOST -s 4420 -n nqn.2016-06.io.spdk:cnode1
 * ------------------------------------------------------------------------------------- */

struct nb_nvmf_target_opts {
	size_t opts_size;              /* sizeof(struct nb_nvmf_target_opts), set by _opts_init */
	uint32_t max_queue_depth;      /* entries of an I/O queue (CAP.MQES + 1); default 128 */
	uint32_t max_aq_depth;         /* entries of the admin queue; default 128 */
	uint32_t max_qpairs_per_ctrlr; /* queue pairs of a controller, the admin one included;
	                                  default 128 */
	uint32_t in_capsule_data_size; /* write data an I/O command capsule may carry; a multiple
	                                  of 16 up to 65536; default 4096 (the admin queue takes
	                                  8192, as Linux sends) */
	uint32_t max_io_size;          /* the largest transfer (MDTS, MAXH2CDATA): a power of two
	                                  from 4096 to 16 MiB; default 131072 */
	uint32_t buffer_size;          /* DMA memory per connection, for its commands' data
	                                  (commands beyond it wait); default 4 MiB */
	uint8_t c2h_success;           /* a read's C2HData carries SUCCESS, no response capsule
	                                  follows; default 1 */
	uint8_t digests_allowed;       /* hosts may turn on header and data digests; default 1 */
};

/* Fills `opts` with the defaults. `opts_size` is sizeof(*opts) as the caller knows it. */
int nb_nvmf_target_opts_init(struct nb_nvmf_target_opts *opts, size_t opts_size);

/* Starts the target on the current thread (`opts` NULL: defaults). -EALREADY if one runs,
 * -EINVAL for bad options or no current thread, -ENOMEM. */
int nb_nvmf_target_start(const struct nb_nvmf_target_opts *opts);

/* Stops listening, disconnects every host, deletes every subsystem (closing its bdevs). On the
 * target's thread; connections release their buffers on its next polls
 * (nb_nvmf_target_connection_count reaches 0 — keep polling until then). -ENOENT if none runs. */
int nb_nvmf_target_stop(void);

/* Connections open now, including ones still finishing their commands after a disconnect. */
int nb_nvmf_target_connection_count(void);

/* Creates subsystem `nqn` (checked as the specification says: nqn.yyyy-mm.reverse-domain...,
 * at most 223 bytes). serial (at most 20 ASCII characters) and model (40) NULL: SPDK's
 * defaults "00000000000000000000" and "SPDK bdev Controller". max_namespaces 0: 32 (at most
 * 1024). allow_any_host 0: only hosts added by nb_nvmf_subsystem_add_host may connect (others
 * get Connect Invalid Host). -EEXIST, -EINVAL. */
int nb_nvmf_subsystem_create(const char *nqn, const char *serial, const char *model,
			     uint32_t max_namespaces, int allow_any_host);

/* Disconnects the subsystem's hosts, closes its namespaces' bdevs, stops listening for it. */
int nb_nvmf_subsystem_delete(const char *nqn);

/* Adds bdev `bdev_name` (opened for writing while the namespace exists) as namespace `nsid`
 * (0: the lowest free one); uuid: 16 bytes in the order they print, NULL for the bdev's UUID;
 * the NGUID is the UUID's bytes, as SPDK makes it. Returns the NSID. Connected hosts get a
 * namespace attribute notice (AER, log page 04h), as they do when the bdev is resized or
 * removed (a removed bdev takes its namespace with it). -ENOENT no subsystem, -ENODEV no such
 * bdev, -EEXIST NSID taken, -ENOSPC no free NSID, -EPERM the bdev is claimed. */
int nb_nvmf_subsystem_add_ns(const char *nqn, const char *bdev_name, uint32_t nsid,
			     const uint8_t *uuid);

/* Removes namespace `nsid` and closes its bdev; hosts get a namespace attribute notice. */
int nb_nvmf_subsystem_remove_ns(const char *nqn, uint32_t nsid);

/* Allows host `host_nqn` to connect (-EEXIST if it may already). */
int nb_nvmf_subsystem_add_host(const char *nqn, const char *host_nqn);

/* Withdraws the host's permission; its controllers on the subsystem end now. */
int nb_nvmf_subsystem_remove_host(const char *nqn, const char *host_nqn);

/* allow != 0: any host may connect; 0: only the added ones (connected hosts stay). */
int nb_nvmf_subsystem_allow_any_host(const char *nqn, int allow);

/* Offers the subsystem at TCP address `traddr` (IPv4 or IPv6, "0.0.0.0" / "::" for all) and
 * port `trsvcid` ("4420" is NVMe/TCP's; "0" lets the kernel choose a free port). Several
 * subsystems may share an address. Returns the port (> 0), or -EEXIST, -EADDRINUSE, -EINVAL. */
int nb_nvmf_subsystem_add_listener(const char *nqn, const char *traddr, const char *trsvcid);

/* Stops offering the subsystem there (the listener closes when no subsystem uses it;
 * connections made through it stay). -ENOENT if it is not offered there. */
int nb_nvmf_subsystem_remove_listener(const char *nqn, const char *traddr, const char *trsvcid);

/* ---------------------------------------------------------------------------------------
 * Encryption: named keys and the crypto vbdev (SPDK's accel_crypto_key_* and bdev_crypto_*)
 *
 * A crypto bdev is created by URI and deleted with nb_bdev_destroy:
 *   crypto:///NAME?base=BDEV&key_name=KEY            a key made by nb_crypto_key_create
 *   crypto:///NAME?base=BDEV&cipher=AES_XTS&key=HEX&key2=HEX[&tweak_mode=plain64|spdk-sw]
 *                                                    a key of its own, named NAME, destroyed
 *                                                    with the bdev (Mayastor's form)
 * Each base block is one data unit and its LBA the tweak. Writes are encrypted into the
 * channel's bounce buffers (the host's buffer is never written); reads are decrypted in the
 * host's buffer; write_zeroes writes encrypted zeroes; flush, reset and unmap pass through
 * (a read after unmap returns the decryption of whatever the base returns: not zeroes).
 * ------------------------------------------------------------------------------------- */

/* Makes a named key (SPDK's accel_crypto_key_create). cipher "AES_XTS" (key and key2 of 16 or
 * 32 bytes each, equal length, different) or "AES_CBC" (key of 16 or 32 bytes; key2 NULL or
 * ""). key_hex/key2_hex: hexadecimal, two digits a byte. tweak_mode: "spdk-sw" (8 zero bytes
 * then LE64(LBA): what SPDK's software accel module writes, so existing SPDK/Mayastor volumes
 * read back) or "plain64" (LE64(LBA) then 8 zero bytes: dm-crypt's aes-xts-plain64 with
 * sector_size = block size and iv_large_sectors); NULL or "" = "spdk-sw". The key is kept only
 * as the cipher's expanded schedule, in locked memory left out of core dumps, zeroed when the
 * key is destroyed; no message ever quotes it. -EINVAL naming the field (name, cipher, key,
 * key2, tweak_mode), -EEXIST for a name in use. Any thread. */
int nb_crypto_key_create(const char *name, const char *cipher, const char *key_hex,
			 const char *key2_hex, const char *tweak_mode);

/* Destroys a key. -ENOENT if there is none of that name, -EBUSY while a crypto bdev uses it
 * (nb_last_error names them). A bdev's inline key goes with the bdev. Any thread. */
int nb_crypto_key_destroy(const char *name);

struct nb_crypto_key_info {
	char name[NB_BDEV_NAME_MAX];
	char cipher[16];          /* "AES_XTS" or "AES_CBC" */
	char tweak_mode[16];      /* "spdk-sw" or "plain64" */
	uint32_t key_bits;        /* of each key: 128 or 256 */
	uint32_t user_count;      /* crypto bdevs using it */
	char users[512];          /* their names, comma-separated (truncated to fit) */
};

/* Copies up to `max` keys, sorted by name, never their material; returns how many exist
 * (may be more than `max`). keys may be NULL with max 0. */
int nb_crypto_key_list(struct nb_crypto_key_info *keys, int max);

/* ---------------------------------------------------------------- nexus
 * A nexus (Mayastor's) mirrors its children: every write, write zeroes, unmap, flush and
 * reset goes to every child that is open; a read goes to one open, synced child, round-robin,
 * and is retried on the next when it fails. A child that fails an I/O is retired (faulted
 * with NB_NEXUS_FAULT_IO_ERROR, then detached from every thread) and the I/O succeeds when a
 * healthy child has it; the last healthy child is never faulted: its failure is the host's.
 * While the nexus reconfigures (a child retired, added, removed, brought back), new I/O is
 * held, not failed. A child brought back or added is out of sync (takes writes, no reads)
 * until a rebuild has copied it from a healthy child: in 64 KiB segments, 16 in flight, each
 * under a range lock against new writes; a child faulted while synced and brought back copies
 * only the segments written since (each thread logs them while a child is faulted), else all.
 * Every function here needs a current thread (inside nb_thread_poll or after nb_set_thread);
 * rebuilds and reconfigurations run on it, so keep polling it. */

enum nb_nexus_child_state {
	NB_NEXUS_CHILD_INIT = 0,
	NB_NEXUS_CHILD_OPEN = 1,    /* takes I/O (reads too once synced) */
	NB_NEXUS_CHILD_CLOSED = 2,  /* removed */
	NB_NEXUS_CHILD_FAULTED = 3, /* see the reason */
};

enum nb_nexus_fault_reason {
	NB_NEXUS_FAULT_NONE = 0,
	NB_NEXUS_FAULT_CANT_OPEN = 1,
	NB_NEXUS_FAULT_NO_SPACE = 2,
	NB_NEXUS_FAULT_TIMED_OUT = 3,
	NB_NEXUS_FAULT_IO_ERROR = 4,       /* an I/O failed on it */
	NB_NEXUS_FAULT_REBUILD_FAILED = 5,
	NB_NEXUS_FAULT_ADMIN_FAILED = 6,
	NB_NEXUS_FAULT_OFFLINE = 7,        /* its bdev went away */
};

/* A child's state changed: `state` an nb_nexus_child_state, `reason` an nb_nexus_fault_reason,
 * `synced` 1 or 0. Runs on the thread where the change happened (for a retire, the thread of
 * the I/O that failed) before that I/O's completion callback, so a control plane can record
 * the change before the host is told the write succeeded. Must not block. */
typedef void (*nb_nexus_event_cb)(const char *nexus, const char *child, int state, int reason, int synced,
				  void *ctx);

/* Creates nexus `name` over `count` (1 .. 32) children: each a bdev URI (made now unless the
 * bdev it names exists; the nexus destroys what it made) or the name of an existing bdev. Each
 * child is opened and claimed. `size_bytes` 0 takes the smallest child's size. The same as
 * nb_bdev_create("nexus:///NAME?size=&children=URI,URI") with percent-encoded URIs. */
int nb_nexus_create(const char *name, uint64_t size_bytes, const char *const *children, size_t count);

/* nb_bdev_destroy for a nexus only (-ENODEV for any other bdev); children it made go too. */
int nb_nexus_destroy(const char *name, nb_bdev_destroy_cb cb, void *ctx);

/* Sets (or with NULL clears) the child-state callback of the nexus. */
int nb_nexus_set_event_cb(const char *nexus, nb_nexus_event_cb cb, void *ctx);

/* Adds a child (URI or bdev name): it joins out of sync and is fully rebuilt. -EEXIST if it is
 * a child already, -ENOSPC if smaller than the nexus, -EINVAL for another block size. */
int nb_nexus_add_child(const char *nexus, const char *child);

/* Removes a child (by name or URI): closed, detached, its bdev destroyed if the nexus made it.
 * -EBUSY for the last healthy child, -ENOENT for a child the nexus does not have. */
int nb_nexus_remove_child(const char *nexus, const char *child);

/* Faults a child with `reason` (an nb_nexus_fault_reason other than NONE). -EBUSY for the last
 * healthy child. Writes from then on are logged for a partial rebuild. */
int nb_nexus_fault_child(const char *nexus, const char *child, int reason);

/* Brings a faulted child back: reopened (remade from its URI if its bdev went away or failed for
 * good — an NVMe-oF child past its ctrlr_loss_timeout — the nexus destroys such a bdev it made),
 * out of sync, and rebuilt — partially when the write log covers it and the child is the same
 * device (a remade bdev with the old one's UUID, e.g. a replica's namespace on a restarted
 * target). 0 for a child already open. */
int nb_nexus_online_child(const char *nexus, const char *child);

struct nb_nexus_child_info {
	char name[NB_BDEV_NAME_MAX];  /* the child's bdev */
	int32_t state;                /* enum nb_nexus_child_state */
	int32_t reason;               /* enum nb_nexus_fault_reason; NONE unless faulted */
	int32_t synced;               /* 1: holds every acknowledged write */
	int32_t rebuilding;           /* 1 while a rebuild copies onto it */
	uint64_t rebuild_blocks_total; /* of the current rebuild (0 until it knows) */
	uint64_t rebuild_blocks_done;
};

/* Copies up to `max` children of the nexus, in slot order; returns how many it has (may be
 * more than `max`). children may be NULL with max 0. */
int nb_nexus_list_children(const char *nexus, struct nb_nexus_child_info *children, int max);

/* Rebuild controls (Mayastor's). `child` is the child's name or URI; -ENOENT when the nexus has
 * no such child or the child no rebuild (for start: see below).
 * Pause: no new segment starts (those in flight finish, no range stays locked, the host's writes
 * keep reaching the child); 0 when it was paused already. A rebuild paused before its turn
 * starts paused. */
int nb_nexus_rebuild_pause(const char *nexus, const char *child);

/* Resume: the copy goes on where it was; 0 when it was not paused. */
int nb_nexus_rebuild_resume(const char *nexus, const char *child);

/* Stop: the rebuild ends (its history record says STOPPED) and the child stays open and out of
 * sync (takes writes, no reads; it is not faulted) until nb_nexus_rebuild_start. */
int nb_nexus_rebuild_stop(const char *nexus, const char *child);

/* Starts a rebuild of an open, out-of-sync child that has none: of the segments a stopped
 * rebuild had not copied yet (the child took every write meanwhile), else full (a child added
 * without one). -EEXIST while one runs or waits; -EINVAL for a child in sync or not open (bring
 * a faulted child back with nb_nexus_online_child). */
int nb_nexus_rebuild_start(const char *nexus, const char *child);

/* Limits the nexus's rebuilds to `bytes_per_sec` (0: no limit, the default); a running rebuild
 * takes the new limit at its next segment. Segments start one at a time as the time since the
 * last one has earned its 64 KiB, so the copy never runs ahead of the rate by more than one. */
int nb_nexus_set_rebuild_rate(const char *nexus, uint64_t bytes_per_sec);

/* With `verify` 1, rebuilds started from now on read each segment back from the child after
 * copying it (still under its range lock) and compare it with the source's data; a difference
 * fails the rebuild (NB_NEXUS_REBUILD_FAILED, the child faulted REBUILD_FAILED). 0 turns it off
 * (the default); any other value is -EINVAL. */
int nb_nexus_set_rebuild_verify(const char *nexus, int verify);

enum nb_nexus_rebuild_state {
	NB_NEXUS_REBUILD_INIT = 0,      /* waiting for its turn or its first segment */
	NB_NEXUS_REBUILD_RUNNING = 1,
	NB_NEXUS_REBUILD_PAUSED = 2,
	NB_NEXUS_REBUILD_STOPPED = 3,   /* stopped, or its child faulted or removed meanwhile */
	NB_NEXUS_REBUILD_FAILED = 4,    /* a read or write failed: the child is faulted rebuild_failed */
	NB_NEXUS_REBUILD_COMPLETED = 5,
};

struct nb_nexus_rebuild_record {
	char child[NB_BDEV_NAME_MAX];  /* the rebuilt child's bdev */
	char source[NB_BDEV_NAME_MAX]; /* the child copied from ("" when none was found) */
	int32_t state;                 /* enum nb_nexus_rebuild_state: STOPPED, FAILED or COMPLETED */
	int32_t partial;               /* 1: only the segments written while it was out */
	uint64_t blocks_total;         /* blocks it had to copy */
	uint64_t blocks_copied;
	uint64_t start_us;             /* wall clock (UTC), microseconds since the Unix epoch */
	uint64_t end_us;
};

/* Copies up to `max` records of the nexus's ended rebuilds, oldest first (the last 256 are
 * kept); returns how many there are (may be more than `max`). records may be NULL with max 0. */
int nb_nexus_rebuild_history(const char *nexus, struct nb_nexus_rebuild_record *records, int max);

/* ---------------------------------------------------------------- lvol
 * Logical volumes on SPDK's lvol store format (a store SPDK made imports here, ours in SPDK).
 * Stores and volumes come up through nb_bdev_create:
 *   lvs:///POOL?mode=import|create|create_import|purge&disk=URI&cluster_size=4M
 *       &clear_method=none|unmap|write_zeroes
 *       a store on the bdev disk= makes (or names, bdev:///NAME); answers POOL; a new store
 *       clears its data region as clear_method says (SPDK's; default unmap)
 *   lvol:///NAME?size=BYTES[K|M|G|T]&thin=0|1&clear_method=...&lvs=lvs:///POOL?...
 *       a volume, made if missing; its clear_method (SPDK's bdev_lvol_create: default unmap)
 *       clears the clusters it gives back when it is deleted or shrunk
 * and by examine: a bdev that appears with a store on it brings the store up. Each volume is a
 * bdev "POOL/NAME" with the volume's UUID. The calling thread of the store's bring-up is its
 * metadata thread: every function below must be called on it (-EXDEV otherwise); each writes
 * its metadata before it returns. `lvol` is a volume's bdev name ("POOL/NAME") or UUID. */

/* Snapshots `lvol` as `snapshot` (a read-only volume holding its clusters; the volume becomes
 * its thin clone, copying clusters on first write); the snapshot's bdev name goes to `name`.
 * -EBUSY while a write to the volume is in flight (retry). */
int nb_lvol_snapshot(const char *lvol, const char *snapshot, char *name, size_t name_len);

/* Makes `clone`, a thin volume whose parent is the read-only `snapshot`; its bdev name to `name`. */
int nb_lvol_clone(const char *snapshot, const char *clone, char *name, size_t name_len);

/* Grows or shrinks `lvol` to `size_bytes` (rounded up to whole clusters). -ENOSPC when full. */
int nb_lvol_resize(const char *lvol, uint64_t size_bytes);

/* decouple 0: inflate (every cluster its own, no parent); 1: decouple from its parent (the
 * parent's clusters copied, the grandparent becomes the parent). -EINVAL without a parent. */
int nb_lvol_inflate(const char *lvol, int decouple);

/* Makes `lvol` read-only (writes then fail with -EPERM). */
int nb_lvol_set_read_only(const char *lvol);

/* Deletes `lvol` (a snapshot only with one clone, which takes its clusters); `cb` runs on the
 * calling thread once its bdev is gone. */
int nb_lvol_delete(const char *lvol, nb_bdev_destroy_cb cb, void *ctx);

/* Unloads store `lvs` (destroy 0: written clean; 1: its super block wiped, SPDK's
 * bdev_lvol_delete_lvstore); `cb` runs once every volume's bdev is gone and the store closed.
 * A store whose base bdev is destroyed first is closed without a write: it stays marked dirty
 * and its next import replays the metadata (nothing acknowledged is lost, only time). */
int nb_lvs_unload(const char *lvs, int destroy, nb_bdev_destroy_cb cb, void *ctx);

/* One problem nb_lvs_check found: `kind` its class, a short name (super_block, super_block_crc,
 * store_type, mask_format, replay, page_crc, page_chain, page_owned_twice, page_not_marked,
 * page_leaked, extent_page, blob_metadata, blob_id_stale, blob_id_not_marked,
 * cluster_owned_twice, cluster_not_marked, cluster_leaked, parent_missing, parent_cycle,
 * parent_writable, super_blob, lvol_xattr, lvol_name_twice); `message` a sentence naming the
 * page, cluster or blob. Both are valid during the call only. */
typedef void (*nb_lvs_check_cb)(void *ctx, const char *kind, const char *message);

/* Verifies, offline and without writing, the lvol store on bdev `bdev` (SPDK's blobstore
 * format): the super block and its CRC, every metadata page a blob uses (CRC, id, sequence,
 * the chain), the extent pages, the used-page / used-cluster / used-blob-id masks against what
 * the blobs use, that no cluster or page has two owners, that each clone's parent is there and
 * read-only and no parent chain loops, and the lvol xattrs. A store that was not closed cleanly
 * (its masks stale by design) is checked against the masks its replay rebuilds. `cb` (may be
 * NULL) runs on the calling thread, during the call, once per problem; one damaged structure
 * may show as several (a blob that does not load also leaves its clusters held by no blob).
 * Returns the number of problems (0: consistent), or a negative errno: -EINVAL (NULL bdev, no
 * current thread), -ENODEV (no such bdev), -EBUSY (a loaded store is on it: unload it first),
 * -EIO (a read failed). Needs a current thread; reads only the metadata part of the device. */
int nb_lvs_check(const char *bdev, nb_lvs_check_cb cb, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* NATIVEBDEV_H */
