/* The network NBD server through the published library, spoken to by a raw-socket client:
 * the handshake's replies and its errors, every request type with its errors (beyond the end,
 * over the payload limit, misaligned, unknown, read-only), simple and structured replies,
 * pipelined requests answered out of order, and malformed handshakes and requests, which close
 * only their own connection: a healthy client connected the whole time keeps being served.
 *
 * The server runs on a host-driven thread polled by its own OS thread; the test's clients use
 * blocking sockets (with a receive timeout) on the main thread. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "check.h"

#define DISK_BYTES (1u << 20)
#define MAX_PAYLOAD (2u << 20)
#define OPT_MAGIC 0x49484156454F5054ull
#define REPLY_MAGIC 0x3e889045565a9ull
#define REQ_MAGIC 0x25609513u
#define SIMPLE_MAGIC 0x67446698u
#define STRUCT_MAGIC 0x668e33efu
#define REP_ACK 1u
#define REP_INFO 3u
#define REP_META 4u
#define REP_ERR_UNSUP 0x80000001u
#define REP_ERR_INVALID 0x80000003u
#define REP_ERR_UNKNOWN 0x80000006u
#define REP_ERR_TOO_BIG 0x80000009u
enum { CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_WZ, CMD_BS };

static atomic_int g_ready, g_stop, g_done;
static int g_port;

/* ------------------------------------------------------------------ the server's thread */

static void on_destroyed(void *ctx, int rc)
{
	CHECK_EQ(rc, 0);
	*(int *)ctx = 1;
}

static void *server_main(void *arg)
{
	(void)arg;
	struct nb_thread *t = nb_thread_create("nbd-test", NULL);
	CHECK(t != NULL);
	nb_set_thread(t);
	CHECK_EQ(nb_bdev_create("malloc:///M0?size_mb=1", NULL, 0), 0);
	CHECK_EQ(nb_bdev_create("malloc:///M1?size_mb=1&blk_size=4096", NULL, 0), 0);
	CHECK_ERR(nb_nbd_server_add_export("disk", "M0", 0, NULL), -ENOENT);
	CHECK_ERR(nb_nbd_server_start("127.0.0.1:http"), -EINVAL);
	CHECK_EQ(nb_nbd_server_start("127.0.0.1:0"), 0);
	CHECK_ERR(nb_nbd_server_start("127.0.0.1:0"), -EALREADY);
	CHECK_EQ(nb_nbd_server_add_export("disk", "M0", 0, "the disk"), 0);
	CHECK_EQ(nb_nbd_server_add_export("ro", "M1", 1, NULL), 0);
	CHECK_EQ(nb_nbd_server_add_export("gone", "M0", 0, NULL), 0);
	CHECK_ERR(nb_nbd_server_add_export("disk", "M1", 0, NULL), -EEXIST);
	CHECK_ERR(nb_nbd_server_add_export("x", "nosuch", 0, NULL), -ENODEV);
	CHECK_ERR(nb_nbd_server_add_export(NULL, "M0", 0, NULL), -EINVAL);
	CHECK_ERR(nb_nbd_server_remove_export("nosuch"), -ENOENT);
	char addr[64];
	CHECK(nb_nbd_server_get_addr(addr, sizeof(addr)) > 0);
	g_port = atoi(strrchr(addr, ':') + 1);
	atomic_store(&g_ready, 1);
	while (!atomic_load(&g_stop))
		nb_thread_poll(t, 0, 0);
	CHECK_EQ(nb_nbd_server_stop(), 0);
	CHECK_ERR(nb_nbd_server_stop(), -ENOENT);
	int d0 = 0, d1 = 0;
	CHECK_EQ(nb_bdev_destroy("M0", on_destroyed, &d0), 0);
	CHECK_EQ(nb_bdev_destroy("M1", on_destroyed, &d1), 0);
	for (int i = 0; i < 10000000 && !(d0 && d1); i++)
		nb_thread_poll(t, 0, 0);
	CHECK(d0 && d1); /* every connection released its descriptor */
	nb_set_thread(NULL);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		nb_thread_poll(t, 0, 0);
	CHECK_EQ(nb_thread_destroy(t), 0);
	atomic_store(&g_done, 1);
	return NULL;
}

/* ------------------------------------------------------------------ a raw client */

static int connect_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	CHECK_EQ(send(fd, p, n, MSG_NOSIGNAL), (long long)n);
}

/* All n bytes, or 0 at end of stream (or a reset), -1 at the timeout. */
static int recv_all(int fd, void *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = recv(fd, (char *)p + got, n - got, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 0;
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 1;
}

/* The server closes the connection (whatever it still sends first is read and dropped). */
static void expect_closed(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		CHECK(r > 0); /* not the timeout */
	}
	close(fd);
}

static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }

/* Reads the greeting and sends the client flags. */
static int greet(uint32_t client_flags)
{
	int fd = connect_server();
	uint8_t g[18];
	CHECK_EQ(recv_all(fd, g, sizeof(g)), 1);
	CHECK(memcmp(g, "NBDMAGICIHAVEOPT", 16) == 0);
	CHECK_EQ(get16(g + 16), 3); /* FIXED_NEWSTYLE | NO_ZEROES */
	uint8_t f[4];
	put32(f, client_flags);
	send_all(fd, f, 4);
	return fd;
}

static void send_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];
	put64(h, OPT_MAGIC);
	put32(h + 8, opt);
	put32(h + 12, len);
	send_all(fd, h, 16);
	if (len)
		send_all(fd, data, len);
}

/* One option reply: its type; its data (up to cap bytes kept) in data, length in *len. */
static uint32_t option_reply(int fd, uint32_t opt, uint8_t *data, uint32_t cap, uint32_t *len)
{
	uint8_t h[20];
	CHECK_EQ(recv_all(fd, h, 20), 1);
	CHECK_EQ(get64(h), REPLY_MAGIC);
	CHECK_EQ(get32(h + 8), opt);
	uint32_t n = get32(h + 16);
	CHECK(n <= cap);
	if (n)
		CHECK_EQ(recv_all(fd, data, n), 1);
	if (len)
		*len = n;
	return get32(h + 12);
}

/* NBD_OPT_GO/INFO data for `name` asking for NBD_INFO_BLOCK_SIZE. */
static uint32_t go_data(uint8_t *d, const char *name)
{
	uint32_t n = (uint32_t)strlen(name);
	put32(d, n);
	memcpy(d + 4, name, n);
	d[4 + n] = 0;
	d[5 + n] = 1;
	d[6 + n] = 0;
	d[7 + n] = 3;
	return n + 8;
}

/* Replies to GO/INFO up to the final one: its type; size and flags from NBD_INFO_EXPORT. */
static uint32_t go_replies(int fd, uint32_t opt, uint64_t *size, uint16_t *flags, uint32_t *min_block)
{
	uint8_t d[4096];
	uint32_t len, type;
	while ((type = option_reply(fd, opt, d, sizeof(d), &len)) == REP_INFO) {
		if (get16(d) == 0) {
			CHECK_EQ(len, 12);
			if (size)
				*size = get64(d + 2);
			if (flags)
				*flags = get16(d + 10);
		} else if (get16(d) == 3) {
			CHECK_EQ(len, 14);
			if (min_block)
				*min_block = get32(d + 2);
			CHECK_EQ(get32(d + 10), MAX_PAYLOAD);
		}
	}
	return type;
}

static void meta_data_set(int fd, const char *name, const char *query, uint32_t opt)
{
	uint8_t d[256];
	uint32_t n = (uint32_t)strlen(name), q = (uint32_t)strlen(query);
	put32(d, n);
	memcpy(d + 4, name, n);
	put32(d + 4 + n, 1);
	put32(d + 8 + n, q);
	memcpy(d + 12 + n, query, q);
	send_option(fd, opt, d, 12 + n + q);
}

/* A client in transmission on `name`, with structured replies and base:allocation if asked. */
static int open_export(const char *name, int structured, uint16_t *flags)
{
	int fd = greet(3);
	uint8_t d[4096];
	if (structured) {
		send_option(fd, 8, NULL, 0);
		CHECK_EQ(option_reply(fd, 8, d, sizeof(d), NULL), REP_ACK);
		meta_data_set(fd, name, "base:allocation", 10);
		uint32_t len;
		CHECK_EQ(option_reply(fd, 10, d, sizeof(d), &len), REP_META);
		CHECK_EQ(get32(d), 1);
		CHECK(len == 4 + 15 && memcmp(d + 4, "base:allocation", 15) == 0);
		CHECK_EQ(option_reply(fd, 10, d, sizeof(d), NULL), REP_ACK);
	}
	send_option(fd, 7, d, go_data(d, name));
	uint64_t size = 0;
	CHECK_EQ(go_replies(fd, 7, &size, flags, NULL), REP_ACK);
	CHECK(size > 0);
	return fd;
}

static void send_request(int fd, uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
	uint8_t r[28];
	put32(r, REQ_MAGIC);
	r[4] = (uint8_t)(flags >> 8);
	r[5] = (uint8_t)flags;
	r[6] = (uint8_t)(type >> 8);
	r[7] = (uint8_t)type;
	put64(r + 8, cookie);
	put64(r + 16, off);
	put32(r + 24, len);
	send_all(fd, r, 28);
}

/* A simple reply: its error; cookie in *cookie. */
static uint32_t simple_reply(int fd, uint64_t *cookie)
{
	uint8_t h[16];
	CHECK_EQ(recv_all(fd, h, 16), 1);
	CHECK_EQ(get32(h), SIMPLE_MAGIC);
	if (cookie)
		*cookie = get64(h + 8);
	return get32(h + 4);
}

static uint32_t simple_io(int fd, uint16_t flags, uint16_t type, uint64_t off, uint32_t len, const void *payload)
{
	static uint64_t cookie = 1000;
	send_request(fd, flags, type, ++cookie, off, len);
	if (payload)
		send_all(fd, payload, len);
	uint64_t c;
	uint32_t err = simple_reply(fd, &c);
	CHECK_EQ(c, cookie);
	return err;
}

/* The healthy client: a write and a read back of a pattern. */
static void healthy_roundtrip(int fd, uint8_t seed)
{
	uint8_t w[4096], r[4096];
	memset(w, seed, sizeof(w));
	CHECK_EQ(simple_io(fd, 0, CMD_WRITE, 8192, sizeof(w), w), 0);
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 8192, sizeof(r), NULL), 0);
	CHECK_EQ(recv_all(fd, r, sizeof(r)), 1);
	CHECK(memcmp(w, r, sizeof(w)) == 0);
}

/* ------------------------------------------------------------------ the cases */

static void handshake_errors(int healthy)
{
	uint8_t d[20000];
	uint32_t len;
	/* Client flags the server did not offer: closed. */
	expect_closed(greet(0xffffffffu));
	healthy_roundtrip(healthy, 1);
	/* An option without IHAVEOPT: closed. */
	int fd = greet(3);
	memset(d, 0x41, 16);
	send_all(fd, d, 16);
	expect_closed(fd);
	/* An option longer than the server takes: NBD_REP_ERR_TOO_BIG, then closed. */
	fd = greet(3);
	uint8_t h[16];
	put64(h, OPT_MAGIC);
	put32(h + 8, 7);
	put32(h + 12, 1u << 30);
	send_all(fd, h, 16);
	CHECK_EQ(option_reply(fd, 7, d, sizeof(d), NULL), REP_ERR_TOO_BIG);
	expect_closed(fd);
	/* Unknown option: NBD_REP_ERR_UNSUP and the connection goes on. GO with lengths that
	 * do not add up: NBD_REP_ERR_INVALID. Unknown export: NBD_REP_ERR_UNKNOWN naming it.
	 * SET_META_CONTEXT before structured replies: NBD_REP_ERR_INVALID. LIST with data:
	 * invalid. Then a GO that works. */
	fd = greet(3);
	send_option(fd, 99, "abc", 3);
	CHECK_EQ(option_reply(fd, 99, d, sizeof(d), NULL), REP_ERR_UNSUP);
	put32(d, 1000);
	send_option(fd, 7, d, 10);
	CHECK_EQ(option_reply(fd, 7, d, sizeof(d), NULL), REP_ERR_INVALID);
	send_option(fd, 7, d, go_data(d, "nosuch"));
	CHECK_EQ(option_reply(fd, 7, d, sizeof(d), &len), REP_ERR_UNKNOWN);
	CHECK(memmem(d, len, "nosuch", 6) != NULL);
	meta_data_set(fd, "disk", "base:allocation", 10);
	CHECK_EQ(option_reply(fd, 10, d, sizeof(d), NULL), REP_ERR_INVALID);
	send_option(fd, 3, "x", 1);
	CHECK_EQ(option_reply(fd, 3, d, sizeof(d), NULL), REP_ERR_INVALID);
	/* INFO: size, flags (HAS_FLAGS, FLUSH, FUA, TRIM, WRITE_ZEROES, MULTI_CONN), block sizes. */
	uint64_t size = 0;
	uint16_t flags = 0;
	uint32_t minb = 0;
	send_option(fd, 6, d, go_data(d, "ro"));
	CHECK_EQ(go_replies(fd, 6, &size, &flags, &minb), REP_ACK);
	CHECK_EQ(size, DISK_BYTES);
	CHECK_EQ(minb, 4096);
	CHECK(flags & 2); /* read-only */
	send_option(fd, 7, d, go_data(d, "disk"));
	CHECK_EQ(go_replies(fd, 7, &size, &flags, &minb), REP_ACK);
	CHECK_EQ(flags, 1 | 4 | 8 | 32 | 64 | 256);
	CHECK_EQ(minb, 512);
	CHECK_EQ(simple_io(fd, 0, CMD_FLUSH, 0, 0, NULL), 0);
	close(fd);
	/* LIST: every export, then ACK. */
	fd = greet(3);
	send_option(fd, 3, NULL, 0);
	int servers = 0;
	uint32_t type;
	while ((type = option_reply(fd, 3, d, sizeof(d), &len)) == 2) {
		servers++;
		CHECK(get32(d) <= len - 4);
	}
	CHECK_EQ(type, REP_ACK);
	CHECK_EQ(servers, 3);
	/* ABORT: ACK, then closed. */
	send_option(fd, 2, NULL, 0);
	CHECK_EQ(option_reply(fd, 2, d, sizeof(d), NULL), REP_ACK);
	expect_closed(fd);
	/* EXPORT_NAME of an unknown export: closed; of a known one: size, flags, no zeroes. */
	fd = greet(3);
	send_option(fd, 1, "nosuch", 6);
	expect_closed(fd);
	fd = greet(3);
	send_option(fd, 1, "disk", 4);
	CHECK_EQ(recv_all(fd, d, 10), 1);
	CHECK_EQ(get64(d), DISK_BYTES);
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 0, 512, NULL), 0);
	CHECK_EQ(recv_all(fd, d, 512), 1);
	close(fd);
	/* A client gone in the middle of an option. */
	fd = greet(3);
	put64(h, OPT_MAGIC);
	put32(h + 8, 7);
	put32(h + 12, 100);
	send_all(fd, h, 16);
	close(fd);
	healthy_roundtrip(healthy, 2);
}

static void request_errors(int healthy)
{
	uint8_t buf[8192];
	memset(buf, 0x5a, sizeof(buf));
	uint16_t flags;
	int fd = open_export("disk", 0, &flags);
	CHECK_EQ(simple_io(fd, 0, CMD_READ, DISK_BYTES - 512, 1024, NULL), 22);  /* beyond the end */
	CHECK_EQ(simple_io(fd, 0, CMD_READ, ~0ull - 100, 512, NULL), 22);        /* offset overflow */
	CHECK_EQ(simple_io(fd, 0, CMD_WRITE, DISK_BYTES, 4096, buf), 28);        /* ENOSPC, payload skipped */
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 100, 512, NULL), 22);                /* misaligned offset */
	CHECK_EQ(simple_io(fd, 0, CMD_WRITE, 0, 100, buf), 22);                  /* misaligned length */
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 0, 0, NULL), 22);                    /* length 0 */
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 0, MAX_PAYLOAD + 512, NULL), 22);    /* over the limit */
	CHECK_EQ(simple_io(fd, 0, 99, 0, 512, NULL), 22);                        /* unknown command */
	CHECK_EQ(simple_io(fd, 0, CMD_CACHE, 0, 512, NULL), 22);                 /* not advertised */
	CHECK_EQ(simple_io(fd, 0x80, CMD_READ, 0, 512, NULL), 22);               /* unknown flag */
	CHECK_EQ(simple_io(fd, 2, CMD_WRITE, 0, 512, buf), 22);                  /* NO_HOLE on a write */
	CHECK_EQ(simple_io(fd, 0, CMD_BS, 0, 512, NULL), 22);                    /* no meta context */
	/* A write over the limit but under 32 MiB is consumed and refused; the next works. */
	{
		static uint8_t big[MAX_PAYLOAD + 4096];
		CHECK_EQ(simple_io(fd, 0, CMD_WRITE, 0, sizeof(big), big), 22);
	}
	/* The commands that work: write (FUA), read back, trim, write zeroes (NO_HOLE), flush. */
	CHECK_EQ(simple_io(fd, 1, CMD_WRITE, 4096, 8192, buf), 0);
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 4096, 8192, NULL), 0);
	uint8_t back[8192];
	CHECK_EQ(recv_all(fd, back, sizeof(back)), 1);
	CHECK(memcmp(back, buf, sizeof(buf)) == 0);
	CHECK_EQ(simple_io(fd, 2 | 1, CMD_WZ, 4096, 4096, NULL), 0);
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 4096, 4096, NULL), 0);
	CHECK_EQ(recv_all(fd, back, 4096), 1);
	for (int i = 0; i < 4096; i++)
		CHECK_EQ(back[i], 0);
	CHECK_EQ(simple_io(fd, 0, CMD_TRIM, 0, 4096, NULL), 0);
	CHECK_EQ(simple_io(fd, 0, CMD_TRIM, DISK_BYTES, 4096, NULL), 28);
	CHECK_EQ(simple_io(fd, 0, CMD_FLUSH, 0, 0, NULL), 0);
	/* Soft disconnect: the server closes. */
	send_request(fd, 0, CMD_DISC, 1, 0, 0);
	expect_closed(fd);
	/* Read-only export: writes, trims and write zeroes are EPERM. */
	fd = open_export("ro", 0, &flags);
	CHECK_EQ(simple_io(fd, 0, CMD_WRITE, 0, 4096, buf), 1);
	CHECK_EQ(simple_io(fd, 0, CMD_WZ, 0, 4096, NULL), 1);
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 0, 512, NULL), 22); /* 4 KiB blocks */
	CHECK_EQ(simple_io(fd, 0, CMD_READ, 0, 4096, NULL), 0);
	CHECK_EQ(recv_all(fd, back, 4096), 1);
	close(fd);
	/* A request without the magic: closed. */
	fd = open_export("disk", 0, &flags);
	memset(buf, 0, 28);
	send_all(fd, buf, 28);
	expect_closed(fd);
	/* A write over 32 MiB: closed (its payload is not read). */
	fd = open_export("disk", 0, &flags);
	send_request(fd, 0, CMD_WRITE, 7, 0, 64u << 20);
	expect_closed(fd);
	/* A client gone in the middle of a write's payload. */
	fd = open_export("disk", 0, &flags);
	send_request(fd, 0, CMD_WRITE, 8, 0, 65536);
	send_all(fd, buf, 1000);
	close(fd);
	healthy_roundtrip(healthy, 3);
}

static void structured_and_pipelined(int healthy)
{
	uint16_t flags;
	int fd = open_export("disk", 1, &flags);
	uint8_t h[32], data[4096];
	/* A read: one OFFSET_DATA chunk with DONE. */
	send_request(fd, 0, CMD_READ, 77, 8192, 4096);
	CHECK_EQ(recv_all(fd, h, 20), 1);
	CHECK_EQ(get32(h), STRUCT_MAGIC);
	CHECK_EQ(get16(h + 4), 1);
	CHECK_EQ(get16(h + 6), 1);
	CHECK_EQ(get64(h + 8), 77);
	CHECK_EQ(get32(h + 16), 8 + 4096);
	CHECK_EQ(recv_all(fd, h, 8), 1);
	CHECK_EQ(get64(h), 8192);
	CHECK_EQ(recv_all(fd, data, 4096), 1);
	/* Over the limit: an error chunk with EOVERFLOW. */
	send_request(fd, 0, CMD_READ, 78, 0, MAX_PAYLOAD + 512);
	CHECK_EQ(recv_all(fd, h, 26), 1);
	CHECK_EQ(get16(h + 6), 0x8001);
	CHECK_EQ(get32(h + 16), 6);
	CHECK_EQ(get32(h + 20), 75);
	/* Block status: one extent over the range, data (status 0). */
	send_request(fd, 0, CMD_BS, 79, 0, DISK_BYTES);
	CHECK_EQ(recv_all(fd, h, 32), 1);
	CHECK_EQ(get16(h + 6), 5);
	CHECK_EQ(get32(h + 16), 12);
	CHECK_EQ(get32(h + 20), 1);
	CHECK_EQ(get32(h + 24), DISK_BYTES);
	CHECK_EQ(get32(h + 28), 0);
	send_request(fd, 0, CMD_BS, 80, DISK_BYTES, 512);
	CHECK_EQ(recv_all(fd, h, 26), 1);
	CHECK_EQ(get32(h + 20), 22);
	/* A write: a NONE chunk with DONE. */
	memset(data, 0x33, sizeof(data));
	send_request(fd, 0, CMD_WRITE, 81, 0, 4096);
	send_all(fd, data, 4096);
	CHECK_EQ(recv_all(fd, h, 20), 1);
	CHECK_EQ(get16(h + 6), 0);
	CHECK_EQ(get64(h + 8), 81);
	close(fd);

	/* 200 pipelined reads on a simple-reply connection (more than the 64 slots a connection
	 * has: the rest wait in the socket): every cookie is answered exactly once. */
	fd = open_export("disk", 0, &flags);
	enum { N = 200 };
	for (int i = 0; i < N; i++)
		send_request(fd, 0, CMD_READ, 5000 + i, (uint64_t)(i % 256) * 4096, 4096);
	static char seen[N];
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < N; i++) {
		uint64_t c;
		CHECK_EQ(simple_reply(fd, &c), 0);
		CHECK(c >= 5000 && c < 5000 + N && !seen[c - 5000]);
		seen[c - 5000] = 1;
		CHECK_EQ(recv_all(fd, data, 4096), 1);
	}
	close(fd);
	healthy_roundtrip(healthy, 4);
}

static void remove_export_disconnects(int healthy)
{
	uint16_t flags;
	int fd = open_export("gone", 0, &flags);
	CHECK_EQ(simple_io(fd, 0, CMD_FLUSH, 0, 0, NULL), 0);
	CHECK_EQ(nb_nbd_server_remove_export("gone"), 0); /* from another thread: a message */
	expect_closed(fd);
	fd = greet(3);
	uint8_t d[64];
	send_option(fd, 7, d, go_data(d, "gone"));
	CHECK_EQ(option_reply(fd, 7, d, sizeof(d), NULL), REP_ERR_UNKNOWN);
	close(fd);
	healthy_roundtrip(healthy, 5);
}

int main(void)
{
	CHECK_ERR(nb_nbd_server_start(NULL), -EPERM); /* no environment */
	CHECK_EQ(nb_env_init(NULL), 0);
	CHECK_ERR(nb_nbd_server_start(NULL), -EINVAL); /* no current thread */
	CHECK_ERR(nb_nbd_server_connection_count(), -ENOENT);
	pthread_t server;
	CHECK_EQ(pthread_create(&server, NULL, server_main, NULL), 0);
	while (!atomic_load(&g_ready))
		usleep(1000);
	CHECK_ERR(nb_nbd_server_stop(), -EINVAL); /* not the server's thread */
	uint16_t flags;
	int healthy = open_export("disk", 0, &flags);
	handshake_errors(healthy);
	request_errors(healthy);
	structured_and_pipelined(healthy);
	remove_export_disconnects(healthy);
	/* Every connection but the healthy one is gone and released. */
	for (int i = 0; i < 5000 && nb_nbd_server_connection_count() != 1; i++)
		usleep(1000);
	CHECK_EQ(nb_nbd_server_connection_count(), 1);
	atomic_store(&g_stop, 1);
	expect_closed(healthy); /* stopping the server disconnects it */
	CHECK_EQ(pthread_join(server, NULL), 0);
	CHECK(atomic_load(&g_done));
	CHECK_EQ(nb_env_fini(), 0);
	printf("test_nbd: %d checks passed\n", check_count);
	return 0;
}
