#define _GNU_SOURCE
/* perform_tests' parameters, as SPDK's bdevperf.py sends them: a flat JSON object (the RPC
 * server of libnativebdev parsed the request; the host method gets the params text). */
#include "bdevperf_rpc.h"
#include <string.h>

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
