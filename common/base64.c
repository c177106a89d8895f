/*
 * Base64 through OpenSSL's EVP block coder. EVP_DecodeBlock() is lenient
 * (it skips leading whitespace and does not report padding), so the input is
 * checked against the alphabet and padding rules first.
 */
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "xmalloc.h"

char *
base64_encode(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

static int
b64_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

unsigned char *
base64_decode(const char *s, size_t slen, size_t *outlen)
{
	unsigned char *out;
	size_t i, pad = 0;
	int n;

	if (slen % 4 != 0 || slen > 0x7fffffff)
		return NULL;
	for (i = 0; i < slen; i++) {
		if (s[i] == '=') {
			if (i < slen - 2)
				return NULL;
			pad++;
		} else if (pad || !b64_char((unsigned char)s[i]))
			return NULL;
	}
	out = xmalloc(slen / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)slen);
	if (n < 0) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n - pad;
	return out;
}
