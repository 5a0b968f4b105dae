#define _GNU_SOURCE
/* The JSON-RPC side of bdevperf -z, as SPDK's bdevperf and its bdevperf.py speak it: requests
 * arrive on a Unix socket as JSON objects with no delimiter between them (rpc.py's framing), one
 * is complete when its outermost brace closes. Only perform_tests is served; any other method
 * gets -32601, as a server without it would answer. */
#include "bdevperf_rpc.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REQUEST (1 << 20)

/* The length of the first complete JSON object in BUF, or 0 while it is incomplete. */
static size_t object_end(const char *buf, size_t len)
{
	int depth = 0, in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

/* The end of the JSON value starting at P (a string, number, literal, object or array). */
static const char *value_end(const char *p)
{
	if (*p == '{' || *p == '[') {
		size_t n = object_end(p, strlen(p));
		return n ? p + n : NULL;
	}
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p ? p + 1 : NULL;
	}
	while (*p && !strchr(",}] \t\r\n", *p))
		p++;
	return p;
}

const char *bperf_json_get(const char *obj, const char *key)
{
	/* Walks the members of the outermost object only, so a key nested deeper is not found. */
	const char *p = strchr(obj, '{');
	if (!p)
		return NULL;
	for (p++;;) {
		p += strspn(p, " \t\r\n,");
		if (*p != '"')
			return NULL;
		const char *k = p + 1, *kend = value_end(p);
		if (!kend)
			return NULL;
		p = kend + strspn(kend, " \t\r\n");
		if (*p != ':')
			return NULL;
		p++;
		p += strspn(p, " \t\r\n");
		if ((size_t)(kend - 1 - k) == strlen(key) && strncmp(k, key, strlen(key)) == 0)
			return p;
		if (!(p = value_end(p)))
			return NULL;
	}
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int bperf_rpc_reply(int fd, const char *id, const char *result)
{
	size_t n = strlen(id) + strlen(result) + 64;
	char *msg = malloc(n);
	if (!msg)
		return -1;
	int len = snprintf(msg, n, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", id, result);
	int rc = send_all(fd, msg, (size_t)len);
	free(msg);
	return rc;
}

int bperf_rpc_error(int fd, const char *id, int code, const char *message)
{
	char msg[512];
	int len = snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,\"message\":\"%s\"}}",
			   id, code, message);
	return send_all(fd, msg, (size_t)len);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "bdevperf: -r %s: the path is too long for a Unix socket\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	mode_t old = umask(0177); /* 0600, as SPDK creates its RPC socket */
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || listen(fd, 16) != 0) {
		fprintf(stderr, "bdevperf: -r %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads requests from CONN until perform_tests: 1 (found), 0 (the client left), -1 (stop). */
static int serve(int conn, atomic_int *stop, char *id, size_t idlen, char **params)
{
	static char buf[MAX_REQUEST + 1];
	size_t len = 0;
	for (;;) {
		size_t n;
		while ((n = object_end(buf, len)) > 0) {
			char saved = buf[n];
			buf[n] = 0;
			const char *method = bperf_json_get(buf, "method"), *idv = bperf_json_get(buf, "id");
			const char *idend = idv ? value_end(idv) : NULL;
			snprintf(id, idlen, "%.*s", idend ? (int)(idend - idv) : 4, idend ? idv : "null");
			int ours = method && strncmp(method, "\"perform_tests\"", 15) == 0;
			if (ours) {
				const char *p = bperf_json_get(buf, "params"), *pend = p ? value_end(p) : NULL;
				*params = pend && *p == '{' ? strndup(p, (size_t)(pend - p)) : strdup("{}");
			} else {
				bperf_rpc_error(conn, id, -32601, "Method not found");
			}
			buf[n] = saved;
			memmove(buf, buf + n, len - n);
			len -= n;
			if (ours)
				return 1;
		}
		if (len == MAX_REQUEST)
			return 0; /* over the limit: the connection is dropped */
		struct pollfd p = { .fd = conn, .events = POLLIN };
		if (poll(&p, 1, 100) == 0) {
			if (atomic_load(stop))
				return -1;
			continue;
		}
		ssize_t r = recv(conn, buf + len, MAX_REQUEST - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		len += (size_t)r;
		buf[len] = 0;
	}
}

int bperf_rpc_wait(const char *path, atomic_int *stop, char *id, size_t idlen, char **params)
{
	int lfd = listen_on(path);
	if (lfd < 0)
		return -1;
	printf("Waiting for the perform_tests RPC on %s\n", path);
	fflush(stdout);
	int found = -1;
	while (!atomic_load(stop)) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		int rc = serve(conn, stop, id, idlen, params);
		if (rc == 1) {
			found = conn;
			break;
		}
		close(conn);
		if (rc < 0)
			break;
	}
	close(lfd);
	unlink(path);
	return found;
}
