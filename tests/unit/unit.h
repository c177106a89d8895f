/*
 * A small unit-test harness, in the manner of OpenSSH's test_helper: each
 * case runs in its own child process, so a crash in one case is reported as
 * that case's failure and never hides the others. Asserts print both values
 * and end the case at the first failure.
 *
 * A test file defines its cases in a table and calls unit_main():
 *
 *	static const struct unit_case cases[] = {
 *		{ "base64 round trip", test_roundtrip },
 *	};
 *	int main(void) { return unit_main("base64", cases, UNIT_N(cases)); }
 */
#ifndef UNIT_H
#define UNIT_H

#include <stddef.h>
#include <string.h>

struct unit_case {
	const char *name;
	void (*fn)(void);
};

#define UNIT_N(a) (sizeof(a) / sizeof((a)[0]))

int unit_main(const char *suite, const struct unit_case *cases, size_t n);

/* A fresh temporary folder for the running case, removed when it passes. */
const char *unit_tmpdir(void);

void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define ASSERT_TRUE(e)                                                         \
	do {                                                                   \
		if (!(e))                                                      \
			unit_fail(                                             \
			    __FILE__, __LINE__, "expected true: %s", #e);      \
	} while (0)

#define ASSERT_FALSE(e)                                                        \
	do {                                                                   \
		if (e)                                                         \
			unit_fail(                                             \
			    __FILE__, __LINE__, "expected false: %s", #e);     \
	} while (0)

#define ASSERT_INT_EQ(a, b)                                                    \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_)                                                  \
			unit_fail(__FILE__, __LINE__,                          \
			    "%s == %s: %lld != %lld", #a, #b, a_, b_);         \
	} while (0)

#define ASSERT_INT_NE(a, b)                                                    \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ == b_)                                                  \
			unit_fail(__FILE__, __LINE__, "%s != %s: both %lld",   \
			    #a, #b, a_);                                       \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)           \
			unit_fail(__FILE__, __LINE__,                          \
			    "%s == %s: \"%s\" != \"%s\"", #a, #b,              \
			    a_ ? a_ : "(null)", b_ ? b_ : "(null)");           \
	} while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                       \
	do {                                                                   \
		const char *h_ = (hay), *n_ = (needle);                        \
		if (h_ == NULL || strstr(h_, n_) == NULL)                      \
			unit_fail(__FILE__, __LINE__,                          \
			    "%s does not contain \"%s\": \"%s\"", #hay, n_,    \
			    h_ ? h_ : "(null)");                               \
	} while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                 \
	do {                                                                   \
		if (memcmp((a), (b), (n)) != 0)                                \
			unit_fail(__FILE__, __LINE__,                          \
			    "%s and %s differ in their first %zu bytes", #a,   \
			    #b, (size_t)(n));                                  \
	} while (0)

#define ASSERT_PTR_NULL(p)                                                     \
	do {                                                                   \
		if ((p) != NULL)                                               \
			unit_fail(                                             \
			    __FILE__, __LINE__, "expected NULL: %s", #p);      \
	} while (0)

#define ASSERT_PTR_NOT_NULL(p)                                                 \
	do {                                                                   \
		if ((p) == NULL)                                               \
			unit_fail(                                             \
			    __FILE__, __LINE__, "expected non-NULL: %s", #p);  \
	} while (0)

#endif
