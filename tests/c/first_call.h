/* The first-call helper's dispatch table: one entry per function of nativebdev.h, generated
 * from the header by first_call.py (so an export added to the header cannot be missed). */
#ifndef NB_FIRST_CALL_H
#define NB_FIRST_CALL_H

#include <stddef.h>

/* A value no handle of a fresh process has: handles are not addresses (nativebdev.h), so the
 * library must reject it without dereferencing it. */
#define FC_FORGED_HANDLE 0x5a5a5a5aUL

enum fc_kind { FC_VOID, FC_SIGNED, FC_UNSIGNED, FC_POINTER };

struct fc_result {
	enum fc_kind kind;
	long long s;
	unsigned long long u;
	const void *p;
};

/* forged 0: every argument 0 or NULL; forged 1: every opaque handle FC_FORGED_HANDLE, the
 * rest 0 or NULL. */
struct fc_entry {
	const char *name;
	struct fc_result (*call)(int forged);
};

extern const struct fc_entry fc_table[];
extern const size_t fc_count;

#endif
