/*
 * Card numbers (PANs): validation and masking. No full card number may reach
 * a log line; pan_scrub() is applied to every line the log module writes, so
 * even a careless caller cannot leak one.
 */
#ifndef PAN_H
#define PAN_H

#include <stddef.h>

/* 1 if s[0..n) is 13-19 digits with a valid Luhn check digit. */
int pan_luhn_ok(const char *s, size_t n);

/* The Luhn check digit ('0'..'9') that completes the digits s[0..n). */
char pan_luhn_digit(const char *s, size_t n);

/*
 * Masks a card number to its first six and last four digits:
 * "4242424242424242" -> "424242******4242". Writes at most outlen bytes,
 * always NUL-terminated. Anything that is not 13-19 digits becomes "****".
 */
void pan_mask(const char *pan, char *out, size_t outlen);

/* Masks, in place, every Luhn-valid run of 13-19 digits in s. */
void pan_scrub(char *s);

/*
 * SET's PAN blinding: the keyed hash a cardholder certificate carries
 * instead of the card number, HMAC-SHA256 keyed with PANSecret over
 * "PAN|YYYY-MM", in lower-case hex (64 characters + NUL into out). Whoever
 * holds the PAN but not PANSecret cannot link a certificate to a card; the
 * gateway, given both in the payment instruction, can prove that the card
 * belongs to the certificate. 0, or -1 if the PAN or expiry is malformed.
 */
#define PAN_SECRET_LEN 32
int pan_cert_hash(const unsigned char secret[PAN_SECRET_LEN], const char *pan,
    const char *expiry, char out[65]);

/* 1 if s is "YYYY-MM" with a month 01-12. */
int pan_expiry_ok(const char *s);

#endif
