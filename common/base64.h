/*
 * Standard base64 (RFC 4648, with padding, no line breaks). Decoding is
 * strict: whitespace, bad characters and bad padding are refused.
 */
#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>

/* Returns a NUL-terminated string; free() it. */
char *base64_encode(const void *data, size_t len);

/* Returns the decoded bytes (free() them) and their length, or NULL. */
unsigned char *base64_decode(const char *s, size_t slen, size_t *outlen);

#endif
