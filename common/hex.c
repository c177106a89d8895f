/* Hex encoding, random identifiers (RRPIDs, XIDs, tokens) and digests. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hex.h"
#include "log.h"
#include "xmalloc.h"

char *
hex_encode(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;
	char *out = xmalloc(2 * len + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int
nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *s, void *out, size_t outlen)
{
	unsigned char *p = out;
	size_t i;

	if (strlen(s) != 2 * outlen)
		return -1;
	for (i = 0; i < outlen; i++) {
		int hi = nibble((unsigned char)s[2 * i]);
		int lo = nibble((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

char *
hex_random(size_t nbytes)
{
	unsigned char *buf = xmalloc(nbytes);
	char *out;

	if (RAND_bytes(buf, (int)nbytes) != 1)
		log_fatalx("RAND_bytes failed: no randomness available");
	out = hex_encode(buf, nbytes);
	free(buf);
	return out;
}

char *
hex_sha256(const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		log_fatalx("SHA-256 failed");
	return hex_encode(md, mdlen);
}
