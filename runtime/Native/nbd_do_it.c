/* The blocking half of a kernel NBD disk (runtime/Nbd/Kernel/NbdDisk.cs): ioctl(NBD_DO_IT),
 * which holds its thread for the disk's whole life, and ioctl(NBD_DISCONNECT), which may wait
 * for the driver to send. Each runs on a native thread of its own that never enters the .NET
 * runtime (a runtime thread parked in the kernel for hours would take part in every garbage
 * collection's suspension; this one is not known to it), and with every signal blocked:
 * NBD_DO_IT's wait ends on any signal, the driver then fails the device's queued I/O, and a
 * process-directed SIGTERM meant for the host's orderly stop may be delivered to any thread.
 * The managed side polls OP->done; nothing calls back. */
#include <errno.h>
#include <linux/nbd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

struct nb_nbd_kernel_op {
	int fd;
	int done; /* 1 once the ioctl returned (written last, with release order) */
	int rc;   /* 0 or -errno of the ioctl */
	int disconnect;
};

static void *nb_nbd_kernel_main(void *arg)
{
	struct nb_nbd_kernel_op *op = arg;
	int rc = ioctl(op->fd, op->disconnect ? NBD_DISCONNECT : NBD_DO_IT);
	op->rc = rc < 0 ? -errno : 0;
	if (!op->disconnect) {
		/* What the driver still queues fails now, and the socket is dropped. */
		ioctl(op->fd, NBD_CLEAR_QUE);
		ioctl(op->fd, NBD_CLEAR_SOCK);
	}
	__atomic_store_n(&op->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Starts OP's ioctl on a detached native thread: 0, or -errno of pthread_create. */
__attribute__((visibility("hidden"))) int nb_native_nbd_kernel_start(struct nb_nbd_kernel_op *op)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* the new thread inherits this mask */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	pthread_t t;
	int rc = pthread_create(&t, &attr, nb_nbd_kernel_main, op);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}
