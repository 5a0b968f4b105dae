/* The blocking half of a kernel NBD disk (runtime/Nbd/Kernel/NbdDisk.cs). ioctl(NBD_DO_IT)
 * holds its calling thread for the disk's whole life, in an interruptible kernel wait: any
 * signal the thread takes ends the wait and the kernel then shuts the device's socket down and
 * fails every queued request, so a SIGTERM meant for the host's orderly stop, delivered to this
 * thread by chance, would tear the disk down under its users. The thread therefore takes no
 * signal while it waits; the mask is restored before it returns to managed code. */
#include <errno.h>
#include <linux/nbd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

/* 0 once the device was disconnected, else -errno of NBD_DO_IT. */
__attribute__((visibility("hidden"))) int nb_native_nbd_do_it(int fd)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = ioctl(fd, NBD_DO_IT);
	int err = rc < 0 ? errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}
