/*
 * Card-number helpers. The Luhn check (ISO/IEC 7812-1) tells a card number
 * from any other long run of digits, so the log scrubber masks card numbers
 * without mangling serials, timestamps or amounts that fail the check.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hex.h"
#include "pan.h"
#include "xmalloc.h"

static int
luhn_sum(const char *s, size_t n, int double_last)
{
	int sum = 0, dbl = double_last;
	size_t i;

	for (i = n; i > 0; i--) {
		int d = s[i - 1] - '0';

		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return sum;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
pan_luhn_ok(const char *s, size_t n)
{
	if (n < 13 || n > 19 || !all_digits(s, n))
		return 0;
	return luhn_sum(s, n, 0) % 10 == 0;
}

char
pan_luhn_digit(const char *s, size_t n)
{
	return (char)('0' + (10 - luhn_sum(s, n, 1) % 10) % 10);
}

void
pan_mask(const char *pan, char *out, size_t outlen)
{
	size_t n = pan ? strlen(pan) : 0, i;

	if (outlen == 0)
		return;
	if (n < 13 || n > 19 || !all_digits(pan, n)) {
		snprintf(out, outlen, "****");
		return;
	}
	if (outlen < n + 1) {
		snprintf(out, outlen, "****");
		return;
	}
	for (i = 0; i < n; i++)
		out[i] = (i < 6 || i >= n - 4) ? pan[i] : '*';
	out[n] = '\0';
}

/* Masks the run s[0..n) if it is a card number; 1 when it did. */
static int
scrub_plain(char *p, size_t n)
{
	size_t i;

	if (!pan_luhn_ok(p, n))
		return 0;
	for (i = 6; i < n - 4; i++)
		p[i] = '*';
	return 1;
}

/*
 * A card number may be written in groups: "4242 4242 4242 4242" or with
 * dashes. From p, collect digits separated by at most one space or dash;
 * if they form a card number, mask all but the first six and last four
 * digits, keeping the separators. Returns the length of the grouped run.
 */
static size_t
scrub_grouped(char *p)
{
	size_t len = 0, ndig = 0, pos[40], i;
	char digits[40];

	while (isdigit((unsigned char)p[len]) ||
	    ((p[len] == ' ' || p[len] == '-') && len > 0 &&
	        isdigit((unsigned char)p[len - 1]) &&
	        isdigit((unsigned char)p[len + 1]))) {
		if (isdigit((unsigned char)p[len])) {
			if (ndig == sizeof(digits))
				return len;
			pos[ndig] = len;
			digits[ndig++] = p[len];
		}
		len++;
	}
	if (pan_luhn_ok(digits, ndig))
		for (i = 6; i < ndig - 4; i++)
			p[pos[i]] = '*';
	return len;
}

void
pan_scrub(char *s)
{
	char *p = s;

	while (*p) {
		size_t n, g;

		if (!isdigit((unsigned char)*p)) {
			p++;
			continue;
		}
		for (n = 0; isdigit((unsigned char)p[n]); n++)
			;
		/* A run of digits on its own, else as part of groups. */
		if (!scrub_plain(p, n) && (g = scrub_grouped(p)) > n) {
			p += g;
			continue;
		}
		p += n;
	}
}

int
pan_expiry_ok(const char *s)
{
	if (strlen(s) != 7 || !all_digits(s, 4) || s[4] != '-' ||
	    !all_digits(s + 5, 2))
		return 0;
	return (s[5] == '0' && s[6] >= '1') ||
	    (s[5] == '1' && s[6] >= '0' && s[6] <= '2');
}

int
pan_cert_hash(const unsigned char secret[PAN_SECRET_LEN], const char *pan,
    const char *expiry, char out[65])
{
	unsigned char mac[32];
	size_t maclen = 0;
	char *msg, *hex;

	if (!pan_luhn_ok(pan, strlen(pan)) || !pan_expiry_ok(expiry))
		return -1;
	msg = xasprintf("%s|%s", pan, expiry);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret,
	        PAN_SECRET_LEN, (const unsigned char *)msg, strlen(msg), mac,
	        sizeof(mac), &maclen) == NULL ||
	    maclen != sizeof(mac)) {
		freezero_buf(msg, strlen(msg));
		return -1;
	}
	freezero_buf(msg, strlen(msg));
	hex = hex_encode(mac, sizeof(mac));
	memcpy(out, hex, 65);
	free(hex);
	return 0;
}
