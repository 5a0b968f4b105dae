/* The kernel's own cost of an NVMe/TCP-shaped exchange, the limit our target and initiator are
 * measured against (bench/nvmf_tcp.sh): a plain TCP connection over loopback on which a client
 * keeps QD requests of REQ bytes outstanding and a server answers each with RESP bytes — the
 * bytes one I/O moves (a 72-byte command capsule; a 24-byte C2HData header and the data) with
 * no storage stack at all. Blocking sockets, one thread each side, TCP_NODELAY; both ends
 * batch as a queue-pair engine does: whatever requests (responses) one recv brings are
 * answered (replaced) with one send.
 *
 *   tcp_rr_peer server PORT REQ RESP              (answers one connection until it closes)
 *   tcp_rr_peer client PORT REQ RESP QD SECONDS   (prints: ops/s MiB/s)
 *
 * The stream mode is the ceiling: no requests, the server sends 1 MiB at a time as fast as the
 * kernel copies it over loopback and the client receives into one 1 MiB buffer; what it moved
 * is counted in RESP-byte answers (ops/s can then be read as the most I/Os of that size any
 * stack could move per second over one connection on these two cores).
 *
 *   tcp_rr_peer stream-server PORT 0 RESP
 *   tcp_rr_peer stream-client PORT 0 RESP 1 SECONDS  (prints: ops/s MiB/s) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int full(int fd, char *b, size_t n, int writing)
{
	size_t at = 0;
	while (at < n) {
		ssize_t r = writing ? send(fd, b + at, n - at, MSG_NOSIGNAL) : recv(fd, b + at, n - at, 0);
		if (r <= 0)
			return -1;
		at += (size_t)r;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s server|stream-server PORT REQ RESP | client|stream-client PORT REQ RESP QD SECONDS\n",
			argv[0]);
		return 2;
	}
	int port = atoi(argv[2]);
	size_t req = (size_t)atol(argv[3]), resp = (size_t)atol(argv[4]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	enum { MAX_QD = 1024, CHUNK = 1 << 20 };
	char *big = calloc(1, CHUNK);
	if (strcmp(argv[1], "stream-server") == 0 || strcmp(argv[1], "server") == 0) {
		char *out = calloc(MAX_QD, resp);
		int l = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0) {
			perror("bind/listen");
			return 1;
		}
		int c = accept(l, NULL, NULL);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (argv[1][0] == 's' && argv[1][1] == 't') {
			while (full(c, big, CHUNK, 1) == 0) {
			}
			return 0;
		}
		size_t pending = 0;
		for (;;) {
			ssize_t n = recv(c, big, CHUNK, 0);
			if (n <= 0)
				return 0;
			pending += (size_t)n;
			size_t k = pending / req;
			pending %= req;
			while (k > 0) {
				size_t now_k = k < MAX_QD ? k : MAX_QD;
				if (full(c, out, now_k * resp, 1) != 0)
					return 0;
				k -= now_k;
			}
		}
	}
	if (argc < 7)
		return 2;
	int qd = atoi(argv[5]);
	double seconds = atof(argv[6]);
	if (qd < 1 || qd > MAX_QD)
		return 2;
	char *reqs = calloc(MAX_QD, req);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	for (int i = 0; i < 100 && connect(c, (struct sockaddr *)&a, sizeof(a)) != 0; i++) {
		close(c);
		usleep(20000);
		c = socket(AF_INET, SOCK_STREAM, 0);
	}
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int stream = strcmp(argv[1], "stream-client") == 0;
	if (!stream && full(c, reqs, (size_t)qd * req, 1) != 0)
		return 1;
	long ops = 0;
	size_t got = 0;
	double start = now(), end = start + seconds;
	while (now() < end) {
		ssize_t n = recv(c, big, CHUNK, 0);
		if (n <= 0)
			return 1;
		got += (size_t)n;
		size_t k = got / resp;
		got %= resp;
		ops += (long)k;
		if (!stream && k > 0 && full(c, reqs, k * req, 1) != 0)
			return 1;
	}
	double took = now() - start;
	printf("%.0f %.1f\n", ops / took, ops * (double)resp / took / (1 << 20));
	return 0;
}
