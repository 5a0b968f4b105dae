/* fork() detection. A fork()ed child has one thread: the .NET runtime's other threads (the
 * finalizer, the reactors, the threads a garbage collection waits for) are gone, so the first
 * collection in the child waits forever and so does anything that waits for a reactor. The
 * library refuses every call in such a child with -ECHILD (runtime/Abi/ForkGuard.cs).
 *
 * The child learns it is one from this handler: glibc runs it in the child of every fork(),
 * before fork() returns there, and it writes 1 into ForkGuard's flag, a static field the
 * managed side registers when the runtime starts (its module initializer). Until then the
 * runtime has not started, nothing of it exists to be lost, and a child may use the library
 * as a fresh process would. The handler touches one word: it is async-signal-safe, as a
 * fork() child handler must be. Each export reads the flag first: one load and a branch. */
#include <pthread.h>
#include <stddef.h>
#include "entry.h"

static int *volatile nb_fork_flag;

/* Read by every exported function (entry.c) before it enters the runtime: a child forked while
 * another thread of the parent had the runtime stopped for a collection would wait forever at
 * that entry, before any managed check could run. */
__attribute__((visibility("hidden"))) volatile int nb_forked;

/* The same words as ForkGuard.Message. */
__attribute__((visibility("hidden"))) const char nb_fork_message[] =
	"this process is the fork() child of a process that used libnativebdev, and the library does not "
	"survive fork (its runtime's other threads are gone): every call fails with -ECHILD; exec a new "
	"program or use the library in a process of its own";

static void nb_fork_child(void)
{
	int *p = nb_fork_flag;
	if (p != NULL) {
		*p = 1;
		nb_forked = 1;
	}
}

__attribute__((constructor)) static void nb_fork_init(void)
{
	pthread_atfork(NULL, NULL, nb_fork_child);
}

/* Called once by the managed side with the address of its flag (a non-GC static: it never
 * moves). */
__attribute__((visibility("hidden"))) void nb_native_watch_fork(int *flag)
{
	nb_fork_flag = flag;
}
