/*
 * Allocation wrappers: out of memory is fatal (logged, then exit), so callers
 * never check for NULL. Everything returned is freed with free().
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
void *xmemdup(const void *, size_t);
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Wipes and frees a buffer that held a secret. NULL is fine. */
void freezero_buf(void *, size_t);

#endif
