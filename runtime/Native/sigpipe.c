/* Linked into libnativebdev.so with -Wl,--wrap=signal (NativeBdev.csproj): every signal()
 * call inside the library — the NativeAOT runtime's start-up (PalInit) is the only one —
 * lands here. That start-up sets SIGPIPE to SIG_IGN on the first call into the library,
 * which replaces a handler the host installed and, since an ignored disposition survives
 * exec, makes every program the host starts afterwards ignore SIGPIPE too (`yes | head -1`
 * runs forever). The library never changes SIGPIPE: the call is answered with the current
 * disposition and nothing changes. The library writes to no socket or pipe of its own;
 * stderr logging is the host's stderr, under the host's own SIGPIPE choice. */
#include <signal.h>
#include <stddef.h>

typedef void (*nb_sighandler_t)(int);

nb_sighandler_t __real_signal(int sig, nb_sighandler_t handler);

__attribute__((visibility("hidden"))) nb_sighandler_t __wrap_signal(int sig, nb_sighandler_t handler)
{
	if (sig == SIGPIPE) {
		struct sigaction old;
		return sigaction(SIGPIPE, NULL, &old) == 0 ? old.sa_handler : SIG_ERR;
	}
	return __real_signal(sig, handler);
}
