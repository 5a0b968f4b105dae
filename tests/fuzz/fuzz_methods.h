/* For harnesses whose inputs reach the RPC methods (fuzz_rpc, fuzz_config): the bdevs the
 * fixture made, and the take-down of whatever an input made through the methods — bdevs,
 * crypto keys, fault rules, an NBD server — so that the baseline checks of fuzz_common.h
 * hold after every input. */
#ifndef NB_FUZZ_METHODS_H
#define NB_FUZZ_METHODS_H

#include "fuzz_common.h"

static char g_baseline_bdevs[4096];

/* Every bdev's name as |NAME|, in creation order. */
static void remember_bdevs(char *out, size_t len)
{
	out[0] = '\0';
	size_t n = 0;
	for (struct nb_bdev *b = nb_bdev_first(); b; b = nb_bdev_next(b))
		n += (size_t)snprintf(out + n, n < len ? len - n : 0, "|%s|", nb_bdev_get_name(b));
}

static void undo_methods(void)
{
	nb_fault_clear(NULL);
	nb_nbd_server_stop();
	/* Every bdev the input made, newest first; vbdevs may go with their bases meanwhile. */
	for (int pass = 0; pass < 64; pass++) {
		static char names[256][NB_BDEV_NAME_MAX];
		int n = 0;
		for (struct nb_bdev *b = nb_bdev_first(); b && n < 256; b = nb_bdev_next(b)) {
			char key[NB_BDEV_NAME_MAX + 2];
			snprintf(key, sizeof(key), "|%s|", nb_bdev_get_name(b));
			if (strstr(g_baseline_bdevs, key) == NULL)
				snprintf(names[n++], NB_BDEV_NAME_MAX, "%s", nb_bdev_get_name(b));
		}
		if (n == 0)
			break;
		for (int i = n - 1; i >= 0; i--)
			nb_bdev_destroy(names[i], NULL, NULL);
		for (int i = 0; i < 200; i++)
			nb_thread_poll(g_thread, 0, 0);
	}
	/* Keys after the bdevs that used them; the fixtures have none of their own. */
	static struct nb_crypto_key_info keys[64];
	int n = nb_crypto_key_list(keys, 64);
	for (int i = 0; i < n && i < 64; i++)
		nb_crypto_key_destroy(keys[i].name);
}

/* After undo_methods: exactly the fixture's bdevs are left. */
static void check_bdevs_as_before(const char *what)
{
	char now[4096];
	remember_bdevs(now, sizeof(now));
	FUZZ_CHECK(strcmp(now, g_baseline_bdevs) == 0, "bdevs left: %s; input %s", now, what);
}

#endif
