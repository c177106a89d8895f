/*
 * Allocation wrappers. Running out of memory is the one failure we do not
 * propagate: the process logs and exits, as OpenBSD's daemons do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"
#include "xmalloc.h"

void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		log_fatalx("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if ((p = calloc(nmemb ? nmemb : 1, size ? size : 1)) == NULL)
		log_fatalx(
		    "out of memory allocating %zu x %zu bytes", nmemb, size);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void *p;

	if ((p = realloc(old, n ? n : 1)) == NULL)
		log_fatalx("out of memory reallocating %zu bytes", n);
	return p;
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;
	size_t len = strnlen(s, n);

	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *
xmemdup(const void *src, size_t n)
{
	void *p = xmalloc(n);

	if (n)
		memcpy(p, src, n);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		log_fatalx("xasprintf: bad format");
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
freezero_buf(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}
