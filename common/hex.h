/* Lower-case hexadecimal, and random identifiers in hex. */
#ifndef HEX_H
#define HEX_H

#include <stddef.h>

/* Returns a NUL-terminated string of 2*len characters; free() it. */
char *hex_encode(const void *data, size_t len);

/* Decodes exactly outlen bytes from 2*outlen hex digits; 0 or -1. */
int hex_decode(const char *s, void *out, size_t outlen);

/* nbytes of fresh randomness (RAND_bytes) in hex; free() it. */
char *hex_random(size_t nbytes);

/* The SHA-256 of data, in hex; free() it. */
char *hex_sha256(const void *data, size_t len);

#endif
