/* Unit tests for common/base64.c, common/hex.c and common/pan.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hex.h"
#include "money.h"
#include "pan.h"
#include "unit.h"

static void
test_base64_vectors(void)
{
	/* RFC 4648, section 10. */
	static const struct {
		const char *plain, *enc;
	} v[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	size_t i;

	for (i = 0; i < UNIT_N(v); i++) {
		char *enc = base64_encode(v[i].plain, strlen(v[i].plain));
		unsigned char *dec;
		size_t n;

		ASSERT_STR_EQ(enc, v[i].enc);
		dec = base64_decode(enc, strlen(enc), &n);
		ASSERT_PTR_NOT_NULL(dec);
		ASSERT_INT_EQ(n, strlen(v[i].plain));
		ASSERT_MEM_EQ(dec, v[i].plain, n);
		free(enc);
		free(dec);
	}
}

static void
test_base64_rejects(void)
{
	static const char *bad[] = { "Zg=", "Zg", "Z===", "Zm9v\n", " Zm9v",
		"Zm9v====", "Zm=v", "Zm9*", "=Zm9" };
	size_t i, n;

	for (i = 0; i < UNIT_N(bad); i++) {
		unsigned char *p = base64_decode(bad[i], strlen(bad[i]), &n);

		if (p != NULL)
			unit_fail(
			    __FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	}
}

static void
test_hex(void)
{
	unsigned char buf[3];
	char *h = hex_encode("\x00\xab\xff", 3), *r1, *r2;

	ASSERT_STR_EQ(h, "00abff");
	ASSERT_INT_EQ(hex_decode("00ABff", buf, 3), 0);
	ASSERT_MEM_EQ(buf, "\x00\xab\xff", 3);
	ASSERT_INT_EQ(hex_decode("00abf", buf, 3), -1);
	ASSERT_INT_EQ(hex_decode("00abfg", buf, 3), -1);
	r1 = hex_random(20);
	r2 = hex_random(20);
	ASSERT_INT_EQ(strlen(r1), 40);
	ASSERT_INT_NE(strcmp(r1, r2), 0);
	free(h);
	free(r1);
	free(r2);
	h = hex_sha256("abc", 3);
	ASSERT_STR_EQ(h,
	    "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	free(h);
}

static void
test_luhn(void)
{
	ASSERT_TRUE(pan_luhn_ok("4242424242424242", 16));
	ASSERT_TRUE(pan_luhn_ok("5555555555554444", 16));
	ASSERT_FALSE(pan_luhn_ok("4242424242424241", 16));
	ASSERT_FALSE(pan_luhn_ok("424242424242", 12));
	ASSERT_FALSE(pan_luhn_ok("42424242424242a2", 16));
	ASSERT_INT_EQ(pan_luhn_digit("424242424242424", 15), '2');
	ASSERT_INT_EQ(pan_luhn_digit("555555555555444", 15), '4');
}

static void
test_mask_and_scrub(void)
{
	char out[32];
	char line[] = "pan=4242424242424242 serial=1234567890123456 "
	              "card 5555555555554444.";

	pan_mask("4242424242424242", out, sizeof(out));
	ASSERT_STR_EQ(out, "424242******4242");
	pan_mask("12ab", out, sizeof(out));
	ASSERT_STR_EQ(out, "****");
	pan_mask("4242424242424242", out, 8);
	ASSERT_STR_EQ(out, "****");
	pan_scrub(line);
	/* The serial fails the Luhn check and is left alone. */
	ASSERT_STR_EQ(line,
	    "pan=424242******4242 serial=1234567890123456 "
	    "card 555555******4444.");
}

static void
test_cert_hash(void)
{
	unsigned char secret[PAN_SECRET_LEN];
	char h1[65], h2[65], h3[65], want[200];
	FILE *f;

	memset(secret, 0x5a, sizeof(secret));
	ASSERT_INT_EQ(
	    pan_cert_hash(secret, "4242424242424242", "2029-11", h1), 0);
	ASSERT_INT_EQ(strlen(h1), 64);
	/* The same HMAC, computed by the stock openssl command. */
	f = popen("printf '%s' '4242424242424242|2029-11' | openssl dgst "
	          "-sha256 -mac HMAC -macopt hexkey:5a5a5a5a5a5a5a5a5a5a5a5a"
	          "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a | sed 's/.*= //'",
	    "r");
	ASSERT_PTR_NOT_NULL(f);
	ASSERT_PTR_NOT_NULL(fgets(want, sizeof(want), f));
	pclose(f);
	want[strcspn(want, "\n")] = '\0';
	ASSERT_STR_EQ(h1, want);
	/* Another secret, card or expiry gives another hash. */
	secret[0] ^= 1;
	ASSERT_INT_EQ(
	    pan_cert_hash(secret, "4242424242424242", "2029-11", h2), 0);
	ASSERT_INT_NE(strcmp(h1, h2), 0);
	ASSERT_INT_EQ(
	    pan_cert_hash(secret, "4242424242424242", "2029-12", h3), 0);
	ASSERT_INT_NE(strcmp(h2, h3), 0);
	/* Malformed input is refused. */
	ASSERT_INT_EQ(
	    pan_cert_hash(secret, "4242424242424241", "2029-11", h3), -1);
	ASSERT_INT_EQ(
	    pan_cert_hash(secret, "4242424242424242", "2029-13", h3), -1);
	ASSERT_INT_EQ(
	    pan_cert_hash(secret, "4242424242424242", "11/29", h3), -1);
	ASSERT_TRUE(pan_expiry_ok("2030-01"));
	ASSERT_FALSE(pan_expiry_ok("2030-00"));
}

static void
test_money(void)
{
	static const struct {
		long long minor;
		const char *cur, *want;
	} v[] = { { 1999, "EUR", "19.99 EUR" }, { 5, "EUR", "0.05 EUR" },
		{ -5, "USD", "-0.05 USD" }, { 1500, "JPY", "1500 JPY" },
		{ 1234, "KWD", "1.234 KWD" }, { 12345, "CLF", "1.2345 CLF" },
		{ 1000000000000LL, "EUR", "10000000000.00 EUR" } };
	char buf[64];
	size_t i;

	for (i = 0; i < UNIT_N(v); i++) {
		money_format(v[i].minor, v[i].cur, buf, sizeof(buf));
		ASSERT_STR_EQ(buf, v[i].want);
	}
	money_digits(1999, "EUR", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "19.99");
}

static const struct unit_case cases[] = {
	{ "money in major units, integers only", test_money },
	{ "PAN certificate hash is HMAC-SHA256(PANSecret, PAN|expiry)",
	    test_cert_hash },
	{ "base64 RFC 4648 vectors", test_base64_vectors },
	{ "base64 refuses malformed input", test_base64_rejects },
	{ "hex encode, decode, random, sha256", test_hex },
	{ "Luhn check digit", test_luhn },
	{ "PAN mask and log scrub", test_mask_and_scrub },
};

int
main(void)
{
	return unit_main("encoding", cases, UNIT_N(cases));
}
