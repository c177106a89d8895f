/*
 * Unit tests for common/payment.c: the HOD against the stock openssl
 * command, the exact OIData and PIData bytes, strict parsing of everything a
 * peer can send, one purchase from wallet to merchant to gateway, and the
 * attacks each party must notice: a changed order at the merchant, a swapped
 * PI, another H(OIData), merchant or XID at the gateway, the wrong gateway
 * key, malformed PReq bodies, and a card that does not match the
 * certificate. The merchant never sees the card number. Keys and
 * certificates are made at run time (a root and its end entities).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "base64.h"
#include "dualsig.h"
#include "cms.h"
#include "hex.h"
#include "pan.h"
#include "payment.h"
#include "setcert.h"
#include "xmalloc.h"
#include "unit.h"

#define PAN "4242424242424242"
#define MERCHANT "M-0001"
#define XID_A "00112233445566778899aabbccddeeff00112233"
#define XID_B "99887766554433221100ffeeddccbbaa99887766"
#define CHALL_C "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3"
#define CHALL_M "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
#define OD_SALT "000102030405060708090a0b0c0d0e0f"
#define NONCE "ffeeddccbbaa99887766554433221100"
#define OD "1 x Espresso machine, 1 x Coffee beans"
#define SECRET_HEX                                                             \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* The HODInput of the order above, byte for byte (docs/protocol.md). */
#define HOD_INPUT                                                              \
	"{\"amount\":24999,\"currency\":\"EUR\",\"od\":\"" OD "\","            \
	"\"od_salt\":\"" OD_SALT "\"}"

struct ident {
	EVP_PKEY *key;
	X509 *cert;
};

/* A root, a cardholder for card PAN, and two gateways' key exchange. */
struct world {
	struct ident root, card, gw, gw2;
	STACK_OF(X509) *chain;
};

static struct ident
issue(const struct ident *issuer, const char *cn, unsigned types,
    unsigned usage, int is_ca)
{
	struct setcert_spec s;
	struct ident id;
	time_t now = time(NULL);
	char err[256];

	memset(&s, 0, sizeof(s));
	id.key = setcert_keygen();
	s.pubkey = id.key;
	s.issuer = issuer ? issuer->cert : NULL;
	s.issuer_key = issuer ? issuer->key : id.key;
	s.cn = cn;
	s.o = "Test Brand";
	s.types = types;
	s.usage = usage;
	s.is_ca = is_ca;
	s.pathlen = -1;
	s.not_before = now - 3600;
	s.not_after = now + 86400;
	if ((id.cert = setcert_issue(&s, err, sizeof(err))) == NULL)
		unit_fail(__FILE__, __LINE__, "issuing %s: %s", cn, err);
	return id;
}

static void
secret_fill(unsigned char secret[PAN_SECRET_LEN])
{
	ASSERT_INT_EQ(hex_decode(SECRET_HEX, secret, PAN_SECRET_LEN), 0);
}

static void
world_make(struct world *w)
{
	unsigned char secret[PAN_SECRET_LEN];
	char cn[65];

	secret_fill(secret);
	ASSERT_INT_EQ(pan_cert_hash(secret, PAN, "2030-12", cn), 0);
	w->root = issue(NULL, "Root CA", SETCERT_RCA, SETCERT_CA, 1);
	w->card = issue(&w->root, cn, SETCERT_CARD, SETCERT_SIGN, 0);
	w->gw = issue(&w->root, "Gateway One", SETCERT_PGWY, SETCERT_KEYEX, 0);
	w->gw2 = issue(&w->root, "Gateway Two", SETCERT_PGWY, SETCERT_KEYEX, 0);
	w->chain = sk_X509_new_null();
	ASSERT_PTR_NOT_NULL(w->chain);
	ASSERT_TRUE(sk_X509_push(w->chain, w->root.cert) > 0);
}

static void
ident_free(struct ident *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

static void
world_free(struct world *w)
{
	sk_X509_free(w->chain);
	ident_free(&w->root);
	ident_free(&w->card);
	ident_free(&w->gw);
	ident_free(&w->gw2);
}

static void
copy(char *dst, size_t size, const char *src)
{
	ASSERT_TRUE(strlen(src) < size);
	memcpy(dst, src, strlen(src) + 1);
}

/* One purchase of 249.99 EUR for transaction xid, as the wallet holds it. */
static void
purchase_fill(struct payment_oi *oi, struct payment_pi *pi, const char *xid)
{
	memset(oi, 0, sizeof(*oi));
	memset(pi, 0, sizeof(*pi));
	copy(oi->xid, sizeof(oi->xid), xid);
	copy(oi->lid_c, sizeof(oi->lid_c), "wallet-7");
	copy(oi->lid_m, sizeof(oi->lid_m), "order-42");
	copy(oi->chall_c, sizeof(oi->chall_c), CHALL_C);
	copy(oi->chall_m, sizeof(oi->chall_m), CHALL_M);
	ASSERT_INT_EQ(payment_hod(OD, 24999, "EUR", OD_SALT, oi->hod), 0);
	copy(oi->od_salt, sizeof(oi->od_salt), OD_SALT);
	copy(oi->brand, sizeof(oi->brand), "Visa");
	copy(oi->merchant, sizeof(oi->merchant), MERCHANT);

	copy(pi->xid, sizeof(pi->xid), xid);
	copy(pi->lid_m, sizeof(pi->lid_m), "order-42");
	copy(pi->hod, sizeof(pi->hod), oi->hod);
	copy(pi->merchant, sizeof(pi->merchant), MERCHANT);
	copy(pi->brand, sizeof(pi->brand), "Visa");
	copy(pi->currency, sizeof(pi->currency), "EUR");
	pi->amount = 24999;
	copy(pi->pan, sizeof(pi->pan), PAN);
	copy(pi->expiry, sizeof(pi->expiry), "2030-12");
	copy(pi->cvv, sizeof(pi->cvv), "123");
	copy(pi->nonce, sizeof(pi->nonce), NONCE);
	secret_fill(pi->pan_secret);
}

static void
assert_oi_eq(const struct payment_oi *a, const struct payment_oi *b)
{
	ASSERT_STR_EQ(a->xid, b->xid);
	ASSERT_STR_EQ(a->lid_c, b->lid_c);
	ASSERT_STR_EQ(a->lid_m, b->lid_m);
	ASSERT_STR_EQ(a->chall_c, b->chall_c);
	ASSERT_STR_EQ(a->chall_m, b->chall_m);
	ASSERT_STR_EQ(a->hod, b->hod);
	ASSERT_STR_EQ(a->od_salt, b->od_salt);
	ASSERT_STR_EQ(a->brand, b->brand);
	ASSERT_STR_EQ(a->merchant, b->merchant);
}

static void
assert_pi_eq(const struct payment_pi *a, const struct payment_pi *b)
{
	ASSERT_STR_EQ(a->xid, b->xid);
	ASSERT_STR_EQ(a->lid_m, b->lid_m);
	ASSERT_STR_EQ(a->hod, b->hod);
	ASSERT_STR_EQ(a->merchant, b->merchant);
	ASSERT_STR_EQ(a->brand, b->brand);
	ASSERT_STR_EQ(a->currency, b->currency);
	ASSERT_INT_EQ(a->amount, b->amount);
	ASSERT_STR_EQ(a->pan, b->pan);
	ASSERT_STR_EQ(a->expiry, b->expiry);
	ASSERT_STR_EQ(a->cvv, b->cvv);
	ASSERT_STR_EQ(a->nonce, b->nonce);
	ASSERT_MEM_EQ(a->pan_secret, b->pan_secret, PAN_SECRET_LEN);
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

/* memmem(3) is a GNU extension. */
static int
contains(const void *hay, size_t hlen, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n > 0 && i + n <= hlen; i++)
		if (memcmp((const char *)hay + i, needle, n) == 0)
			return 1;
	return 0;
}

static char *
dumps(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	ASSERT_PTR_NOT_NULL(s);
	return s;
}

static void
test_hod_vector(void)
{
	char hod[65], hod2[65], line[256], *want;
	FILE *p;

	ASSERT_INT_EQ(payment_hod(OD, 24999, "EUR", OD_SALT, hod), 0);
	ASSERT_INT_EQ(strlen(hod), 64);
	/* The same SHA-256 of the documented bytes, computed by hand... */
	want = hex_sha256(HOD_INPUT, strlen(HOD_INPUT));
	ASSERT_STR_EQ(hod, want);
	free(want);
	/* ... and by the stock command, so the vector is not ours alone. */
	p = popen("printf '%s' '" HOD_INPUT "' | openssl dgst -sha256 -r", "r");
	ASSERT_PTR_NOT_NULL(p);
	ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), p));
	ASSERT_INT_EQ(pclose(p), 0);
	line[64] = '\0';
	ASSERT_STR_EQ(hod, line);
	/* Deterministic. */
	ASSERT_INT_EQ(payment_hod(OD, 24999, "EUR", OD_SALT, hod2), 0);
	ASSERT_STR_EQ(hod, hod2);
}

/* Every input of the HOD changes it: order, amount, currency, salt. */
static void
test_hod_inputs(void)
{
	char hod[65], other[65];

	ASSERT_INT_EQ(payment_hod(OD, 24999, "EUR", OD_SALT, hod), 0);
	ASSERT_INT_EQ(payment_hod(OD "!", 24999, "EUR", OD_SALT, other), 0);
	ASSERT_INT_NE(strcmp(hod, other), 0);
	ASSERT_INT_EQ(payment_hod(OD, 24998, "EUR", OD_SALT, other), 0);
	ASSERT_INT_NE(strcmp(hod, other), 0);
	ASSERT_INT_EQ(payment_hod(OD, 24999, "USD", OD_SALT, other), 0);
	ASSERT_INT_NE(strcmp(hod, other), 0);
	ASSERT_INT_EQ(payment_hod(OD, 24999, "EUR",
	                  "000102030405060708090a0b0c0d0e0e", other),
	    0);
	ASSERT_INT_NE(strcmp(hod, other), 0);
	/* Quotes and non-ASCII text are fine: they are JSON-escaped. */
	ASSERT_INT_EQ(
	    payment_hod("2 x \"Caf\xc3\xa9\"\n", 1, "EUR", OD_SALT, other), 0);
	ASSERT_INT_EQ(
	    payment_hod(OD, PAYMENT_MAX_AMOUNT, "EUR", OD_SALT, other), 0);
}

static void
test_hod_refused(void)
{
	static const struct {
		const char *od;
		long long amount;
		const char *currency, *salt;
	} bad[] = {
		{ OD, 0, "EUR", OD_SALT },
		{ OD, -1, "EUR", OD_SALT },
		{ OD, PAYMENT_MAX_AMOUNT + 1, "EUR", OD_SALT },
		{ OD, 1, "eur", OD_SALT },
		{ OD, 1, "EU", OD_SALT },
		{ OD, 1, "EURO", OD_SALT },
		{ OD, 1, NULL, OD_SALT },
		{ OD, 1, "EUR", "000102030405060708090A0B0C0D0E0F" },
		{ OD, 1, "EUR", "000102030405060708090a0b0c0d0e0" },
		{ OD, 1, "EUR", "000102030405060708090a0b0c0d0e0f00" },
		{ OD, 1, "EUR", "000102030405060708090a0b0c0d0e0g" },
		{ OD, 1, "EUR", NULL },
		{ NULL, 1, "EUR", OD_SALT },
		{ "not UTF-8 \xff", 1, "EUR", OD_SALT },
	};
	char hod[65];
	size_t i;

	for (i = 0; i < UNIT_N(bad); i++)
		if (payment_hod(bad[i].od, bad[i].amount, bad[i].currency,
		        bad[i].salt, hod) != -1)
			unit_fail(
			    __FILE__, __LINE__, "bad HOD input %zu taken", i);
}

static void
test_oi_round_trip(void)
{
	struct payment_oi oi, got;
	struct payment_pi pi;
	char want[1024], *bytes, err[256] = "";

	purchase_fill(&oi, &pi, XID_A);
	bytes = payment_oi_bytes(&oi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(bytes);
	snprintf(want, sizeof(want),
	    "{\"brand\":\"Visa\",\"chall_c\":\"" CHALL_C
	    "\",\"chall_m\":\"" CHALL_M
	    "\",\"hod\":\"%s\",\"lid_c\":\"wallet-7\",\"lid_m\":\"order-42\","
	    "\"merchant\":\"" MERCHANT "\",\"od_salt\":\"" OD_SALT "\","
	    "\"xid\":\"" XID_A "\"}",
	    oi.hod);
	ASSERT_STR_EQ(bytes, want);
	ASSERT_INT_EQ(
	    payment_oi_parse(bytes, strlen(bytes), &got, err, sizeof(err)), 0);
	assert_oi_eq(&got, &oi);
	free(bytes);
	payment_pi_clear(&pi);
}

static void
test_pi_round_trip(void)
{
	struct payment_oi oi;
	struct payment_pi pi, got;
	char want[1024], *bytes, err[256] = "";

	purchase_fill(&oi, &pi, XID_A);
	bytes = payment_pi_bytes(&pi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(bytes);
	snprintf(want, sizeof(want),
	    "{\"head\":{\"amount\":24999,\"brand\":\"Visa\",\"currency\":"
	    "\"EUR\",\"hod\":\"%s\",\"lid_m\":\"order-42\",\"merchant\":"
	    "\"" MERCHANT "\",\"xid\":\"" XID_A "\"},\"pan\":{\"cvv\":\"123\","
	    "\"expiry\":\"2030-12\",\"nonce\":\"" NONCE "\",\"pan\":\"" PAN
	    "\",\"pan_secret\":\"" SECRET_HEX "\"}}",
	    oi.hod);
	ASSERT_STR_EQ(bytes, want);
	ASSERT_INT_EQ(
	    payment_pi_parse(bytes, strlen(bytes), &got, err, sizeof(err)), 0);
	assert_pi_eq(&got, &pi);
	freezero_buf(bytes, strlen(bytes));

	/* Without a CVV the field is left out, and comes back empty. */
	pi.cvv[0] = '\0';
	bytes = payment_pi_bytes(&pi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(bytes);
	ASSERT_FALSE(contains(bytes, strlen(bytes), "cvv"));
	ASSERT_INT_EQ(
	    payment_pi_parse(bytes, strlen(bytes), &got, err, sizeof(err)), 0);
	assert_pi_eq(&got, &pi);
	ASSERT_STR_EQ(got.cvv, "");
	freezero_buf(bytes, strlen(bytes));
	payment_pi_clear(&pi);
	payment_pi_clear(&got);
}

/* A struct field overwritten with value; NULL fills it with no NUL. */
struct field_edit {
	size_t off, size;
	const char *value;
};

static void
field_apply(void *base, const struct field_edit *e)
{
	char *p = (char *)base + e->off;

	if (e->value == NULL)
		memset(p, '4', e->size);
	else
		copy(p, e->size, e->value);
}

/* A row of struct field_edit: the member's offset and size, the value. */
#define EDIT(t, f, v) offsetof(struct t, f), sizeof(((struct t *)0)->f), v
#define OI_EDIT(f, v) EDIT(payment_oi, f, v)
#define PI_EDIT(f, v) EDIT(payment_pi, f, v)

static void
test_serializers_refuse(void)
{
	static const struct field_edit oi_bad[] = {
		{ OI_EDIT(xid, "0011") },
		{ OI_EDIT(xid, "00112233445566778899AABBCCDDEEFF00112233") },
		{ OI_EDIT(xid, NULL) },
		{ OI_EDIT(
		    chall_c, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2dx") },
		{ OI_EDIT(chall_m, "") },
		{ OI_EDIT(hod, "abc") },
		{ OI_EDIT(od_salt, "000102030405060708090a0b0c0d0e0") },
		{ OI_EDIT(lid_c, "") },
		{ OI_EDIT(lid_c, "a b") },
		{ OI_EDIT(lid_m, "order/42") },
		{ OI_EDIT(merchant, "M\"0001") },
		{ OI_EDIT(merchant, NULL) },
		{ OI_EDIT(brand, "Vi-sa") },
		{ OI_EDIT(brand, "") },
	};
	static const struct field_edit pi_bad[] = {
		{ PI_EDIT(xid, "0011") },
		{ PI_EDIT(hod, "") },
		{ PI_EDIT(lid_m, "a b") },
		{ PI_EDIT(merchant, "") },
		{ PI_EDIT(brand, "Visa!") },
		{ PI_EDIT(currency, "eur") },
		{ PI_EDIT(currency, "EU") },
		{ PI_EDIT(currency, NULL) },
		{ PI_EDIT(pan, "4242424242424241") },
		{ PI_EDIT(pan, "424242424242") },
		{ PI_EDIT(pan, "4242-4242-4242-4242") },
		{ PI_EDIT(pan, NULL) },
		{ PI_EDIT(expiry, "2030-13") },
		{ PI_EDIT(expiry, "30-12") },
		{ PI_EDIT(cvv, "12") },
		{ PI_EDIT(cvv, "12a") },
		{ PI_EDIT(nonce, "ffee") },
		{ PI_EDIT(nonce, NULL) },
	};
	static const long long amounts[] = { 0, -1, -24999,
		PAYMENT_MAX_AMOUNT + 1 };
	struct payment_oi oi, oi0;
	struct payment_pi pi, pi0;
	char *bytes, err[256];
	size_t i;

	purchase_fill(&oi0, &pi0, XID_A);
	for (i = 0; i < UNIT_N(oi_bad); i++) {
		oi = oi0;
		field_apply(&oi, &oi_bad[i]);
		err[0] = '\0';
		if ((bytes = payment_oi_bytes(&oi, err, sizeof(err))) != NULL)
			unit_fail(__FILE__, __LINE__, "OI edit %zu taken: %s",
			    i, bytes);
		ASSERT_STR_CONTAINS(err, "OIData: \"");
	}
	for (i = 0; i < UNIT_N(pi_bad); i++) {
		pi = pi0;
		field_apply(&pi, &pi_bad[i]);
		err[0] = '\0';
		if ((bytes = payment_pi_bytes(&pi, err, sizeof(err))) != NULL)
			unit_fail(__FILE__, __LINE__, "PI edit %zu taken", i);
		ASSERT_TRUE(err[0] != '\0');
		ASSERT_FALSE(contains(err, strlen(err), PAN));
	}
	for (i = 0; i < UNIT_N(amounts); i++) {
		pi = pi0;
		pi.amount = amounts[i];
		ASSERT_PTR_NULL(payment_pi_bytes(&pi, err, sizeof(err)));
		ASSERT_STR_CONTAINS(err, "\"amount\"");
	}
	pi = pi0;
	pi.amount = PAYMENT_MAX_AMOUNT;
	bytes = payment_pi_bytes(&pi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(bytes);
	ASSERT_STR_CONTAINS(bytes, "\"amount\":1000000000000,");
	freezero_buf(bytes, strlen(bytes));
	payment_pi_clear(&pi);
	payment_pi_clear(&pi0);
}

/* One change to a received object: in section ("" for the top level),
 * key set to the JSON text value, or removed when value is NULL. */
struct json_edit {
	const char *section, *key, *value;
};

/* Applies e to the good bytes and returns the new bytes (free them). */
static char *
json_edited(const char *good, const struct json_edit *e)
{
	json_t *root, *obj, *v;
	json_error_t jerr;
	char *out;

	root = json_loads(good, 0, &jerr);
	ASSERT_PTR_NOT_NULL(root);
	obj = e->section[0] == '\0' ? root : json_object_get(root, e->section);
	ASSERT_PTR_NOT_NULL(obj);
	if (e->value == NULL)
		ASSERT_INT_EQ(json_object_del(obj, e->key), 0);
	else {
		v = json_loads(
		    e->value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (v == NULL)
			unit_fail(__FILE__, __LINE__, "edit value %s: %s",
			    e->value, jerr.text);
		ASSERT_INT_EQ(json_object_set_new(obj, e->key, v), 0);
	}
	out = dumps(root);
	json_decref(root);
	return out;
}

static void
test_oi_parse_strict(void)
{
	static const struct json_edit edits[] = {
		{ "", "extra", "\"x\"" },
		{ "", "xid", NULL },
		{ "", "brand", NULL },
		{ "", "od_salt", NULL },
		{ "", "xid", "5" },
		{ "", "xid", "null" },
		{ "", "xid", "\"00112233445566778899AABBCCDDEEFF00112233\"" },
		{ "", "xid", "\"0011223344556677889900112233445566778899zz\"" },
		{ "", "xid", "\"0011\"" },
		{ "", "chall_c", "[\"" CHALL_C "\"]" },
		{ "", "chall_m", "{}" },
		{ "", "hod", "\"" OD_SALT "\"" },
		{ "", "od_salt", "\"000102030405060708090a0b0c0d0e0g\"" },
		{ "", "lid_c", "\"\"" },
		{ "", "lid_c", "\"a b\"" },
		{ "", "lid_m",
		    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaa\"" },
		{ "", "merchant", "true" },
		{ "", "merchant", "\"M\\u00000001\"" },
		{ "", "brand", "\"Vi sa\"" },
		{ "", "brand", "\"VisaVisaVisaVisaVisaVisaVisaVisaV\"" },
	};
	static const char *const texts[] = {
		"",
		"{}",
		"[]",
		"null",
		"\"OIData\"",
		"{\"brand\":",
		"not JSON",
	};
	struct payment_oi oi, got;
	struct payment_pi pi;
	char *good, *bad, err[256];
	size_t i;

	purchase_fill(&oi, &pi, XID_A);
	good = payment_oi_bytes(&oi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(good);
	for (i = 0; i < UNIT_N(edits); i++) {
		bad = json_edited(good, &edits[i]);
		err[0] = '\0';
		if (payment_oi_parse(
		        bad, strlen(bad), &got, err, sizeof(err)) != -1)
			unit_fail(
			    __FILE__, __LINE__, "edit %zu taken: %s", i, bad);
		ASSERT_TRUE(err[0] != '\0');
		ASSERT_TRUE(all_zero(&got, sizeof(got)));
		free(bad);
	}
	for (i = 0; i < UNIT_N(texts); i++)
		if (payment_oi_parse(texts[i], strlen(texts[i]), &got, err,
		        sizeof(err)) != -1)
			unit_fail(__FILE__, __LINE__, "text %zu taken", i);

	/* The exact keys reported. */
	{
		struct json_edit e = { "", "extra", "1" };

		bad = json_edited(good, &e);
		ASSERT_INT_EQ(
		    payment_oi_parse(bad, strlen(bad), &got, err, sizeof(err)),
		    -1);
		ASSERT_STR_CONTAINS(err, "unknown field \"extra\"");
		free(bad);
	}

	/* Trailing bytes, a NUL, a duplicate key, too large. */
	bad = xasprintf("%s ", good);
	ASSERT_INT_EQ(
	    payment_oi_parse(bad, strlen(bad), &got, err, sizeof(err)), 0);
	free(bad);
	bad = xasprintf("%sx", good);
	ASSERT_INT_EQ(
	    payment_oi_parse(bad, strlen(bad), &got, err, sizeof(err)), -1);
	ASSERT_INT_EQ(
	    payment_oi_parse(good, strlen(good) + 1, &got, err, sizeof(err)),
	    -1);
	free(bad);
	bad = xasprintf("{\"xid\":\"" XID_B "\",%s", good + 1);
	ASSERT_INT_EQ(
	    payment_oi_parse(bad, strlen(bad), &got, err, sizeof(err)), -1);
	free(bad);
	bad = xmalloc(PAYMENT_MAX_DATA + 2);
	memset(bad, ' ', PAYMENT_MAX_DATA + 1);
	memcpy(bad, good, strlen(good));
	bad[PAYMENT_MAX_DATA + 1] = '\0';
	ASSERT_INT_EQ(
	    payment_oi_parse(bad, strlen(bad), &got, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "limit");
	ASSERT_INT_EQ(
	    payment_oi_parse(bad, PAYMENT_MAX_DATA, &got, err, sizeof(err)), 0);
	free(bad);
	free(good);
	payment_pi_clear(&pi);
}

static void
test_pi_parse_strict(void)
{
	static const struct json_edit edits[] = {
		{ "", "extra", "1" },
		{ "", "head", NULL },
		{ "", "pan", NULL },
		{ "", "head", "\"head\"" },
		{ "", "pan", "[]" },
		{ "head", "fee", "1" },
		{ "head", "amount", NULL },
		{ "head", "hod", NULL },
		{ "head", "merchant", NULL },
		/* Money is an integer of minor units: no reals, no text. */
		{ "head", "amount", "24999.0" },
		{ "head", "amount", "2.4999e4" },
		{ "head", "amount", "249.99" },
		{ "head", "amount", "\"24999\"" },
		{ "head", "amount", "-24999" },
		{ "head", "amount", "0" },
		{ "head", "amount", "1000000000001" },
		{ "head", "amount", "null" },
		{ "head", "currency", "\"eur\"" },
		{ "head", "currency", "\"EURO\"" },
		{ "head", "currency", "978" },
		{ "head", "xid",
		    "\"00112233445566778899AABBCCDDEEFF00112233\"" },
		{ "head", "hod", "\"xyz\"" },
		{ "head", "lid_m", "\"order 42\"" },
		{ "head", "brand", "\"\"" },
		{ "pan", "name", "\"A Cardholder\"" },
		{ "pan", PAN, "\"" PAN "\"" },
		{ "head", PAN, "1" },
		{ "pan", "pan", NULL },
		{ "pan", "pan_secret", NULL },
		{ "pan", "nonce", NULL },
		{ "pan", "expiry", NULL },
		{ "pan", "pan", "\"4242424242424241\"" },
		{ "pan", "pan", "\"4242 4242 4242 4242\"" },
		{ "pan", "pan", "\"424242424242\"" },
		{ "pan", "pan", "\"42424242424242424242\"" },
		{ "pan", "pan", "4242424242424242" },
		{ "pan", "expiry", "\"2030-13\"" },
		{ "pan", "expiry", "\"2030-00\"" },
		{ "pan", "expiry", "\"2030-1\"" },
		{ "pan", "expiry", "\"12/30\"" },
		{ "pan", "expiry", "203012" },
		{ "pan", "cvv", "\"\"" },
		{ "pan", "cvv", "\"12\"" },
		{ "pan", "cvv", "\"12345\"" },
		{ "pan", "cvv", "\"12a\"" },
		{ "pan", "cvv", "123" },
		{ "pan", "nonce", "\"ffee\"" },
		{ "pan", "nonce", "\"FFEEDDCCBBAA99887766554433221100\"" },
		{ "pan", "pan_secret", "\"" OD_SALT "\"" },
		{ "pan", "pan_secret",
		    "\"000102030405060708090a0b0c0d0e0f10111213"
		    "1415161718191a1b1c1d1e1g\"" },
		{ "pan", "pan_secret",
		    "\"000102030405060708090A0B0C0D0E0F10111213"
		    "1415161718191A1B1C1D1E1F\"" },
	};
	struct payment_oi oi;
	struct payment_pi pi, got;
	char *good, *bad, err[256];
	size_t i;

	purchase_fill(&oi, &pi, XID_A);
	good = payment_pi_bytes(&pi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(good);
	for (i = 0; i < UNIT_N(edits); i++) {
		bad = json_edited(good, &edits[i]);
		err[0] = '\0';
		if (payment_pi_parse(
		        bad, strlen(bad), &got, err, sizeof(err)) != -1)
			unit_fail(
			    __FILE__, __LINE__, "edit %zu taken: %s", i, bad);
		ASSERT_TRUE(err[0] != '\0');
		/* A refusal never repeats the card number... */
		ASSERT_FALSE(contains(err, strlen(err), PAN));
		/* ... and leaves no half-parsed card data behind. */
		ASSERT_TRUE(all_zero(&got, sizeof(got)));
		freezero_buf(bad, strlen(bad));
	}

	/* An integer too large for any C type is not JSON we accept. */
	bad = xasprintf("{\"head\":{\"amount\":99999999999999999999999,%s",
	    strstr(good, "\"brand\""));
	ASSERT_INT_EQ(
	    payment_pi_parse(bad, strlen(bad), &got, err, sizeof(err)), -1);
	freezero_buf(bad, strlen(bad));
	/* Broken JSON right at the card number: the reason must not quote it. */
	bad = xstrdup(good);
	ASSERT_PTR_NOT_NULL(strstr(bad, "\"pan\":\"" PAN "\""));
	memcpy(strstr(bad, "\"pan\":\"" PAN "\""), "\"pan\" " PAN "  ", 25);
	ASSERT_INT_EQ(
	    payment_pi_parse(bad, strlen(bad), &got, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "not JSON");
	ASSERT_FALSE(contains(err, strlen(err), PAN));
	freezero_buf(bad, strlen(bad));
	/* The same key twice: which one would the gateway believe? */
	bad = xasprintf("{\"head\":{\"amount\":1,%s", good + 9);
	ASSERT_INT_EQ(
	    payment_pi_parse(bad, strlen(bad), &got, err, sizeof(err)), -1);
	freezero_buf(bad, strlen(bad));
	ASSERT_INT_EQ(
	    payment_pi_parse(good, strlen(good), &got, err, sizeof(err)), 0);
	payment_pi_clear(&got);
	freezero_buf(good, strlen(good));
	payment_pi_clear(&pi);
}

/* The wallet's PReq body for the purchase; fails the case on error. */
static json_t *
preq_make(const struct world *w, const struct payment_oi *oi,
    const struct payment_pi *pi)
{
	char err[256] = "";
	json_t *body;

	body = payment_preq_new(oi, pi, w->gw.cert, w->card.cert, w->card.key,
	    w->chain, err, sizeof(err));
	if (body == NULL)
		unit_fail(__FILE__, __LINE__, "payment_preq_new: %s", err);
	return body;
}

/* As the merchant receives it: the text parsed again. */
static json_t *
over_the_wire(json_t *body)
{
	char *text = dumps(body);
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

	ASSERT_PTR_NOT_NULL(j);
	free(text);
	return j;
}

static void
test_purchase(void)
{
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi, got;
	struct payment_preq preq;
	unsigned char hpi[32], h[32];
	STACK_OF(X509) *certs;
	X509 *cardholder;
	json_t *body, *wire;
	char hod[65], *oidata, err[256] = "";

	world_make(&w);
	purchase_fill(&oi, &pi, XID_A);
	body = preq_make(&w, &oi, &pi);
	ASSERT_INT_EQ(json_object_size(body), 4);
	wire = over_the_wire(body);

	/* Merchant. */
	if (payment_preq_verify(wire, MERCHANT, &preq, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "merchant: %s", err);
	assert_oi_eq(&preq.oi, &oi);
	oidata = payment_oi_bytes(&oi, err, sizeof(err));
	ASSERT_INT_EQ(preq.oilen, strlen(oidata));
	ASSERT_MEM_EQ(preq.oidata, oidata, preq.oilen);
	dualsig_hash(oidata, strlen(oidata), h);
	ASSERT_MEM_EQ(preq.hoi, h, 32);
	free(oidata);
	ASSERT_INT_EQ(X509_cmp(preq.cardholder, w.card.cert), 0);
	ASSERT_INT_EQ(sk_X509_num(preq.certs), 2);
	/* The merchant's own order hashes to the HOD the cardholder signed. */
	ASSERT_INT_EQ(payment_hod(OD, 24999, "EUR", preq.oi.od_salt, hod), 0);
	ASSERT_STR_EQ(preq.oi.hod, hod);

	/* Gateway, with the H(OIData), merchant and XID of the AuthReq. */
	if (payment_pi_open(preq.pi, preq.pilen, w.gw.cert, w.gw.key,
	        preq.dualsig, preq.siglen, preq.hoi, MERCHANT, preq.oi.xid,
	        &got, hpi, &cardholder, &certs, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "gateway: %s", err);
	assert_pi_eq(&got, &pi);
	ASSERT_MEM_EQ(hpi, preq.hpi, 32);
	ASSERT_INT_EQ(X509_cmp(cardholder, w.card.cert), 0);
	ASSERT_INT_EQ(sk_X509_num(certs), 2);
	ASSERT_INT_EQ(payment_pan_matches(&got, cardholder), 1);
	/* What binds order to payment: the merchant's HOD and amount. */
	ASSERT_STR_EQ(got.hod, preq.oi.hod);
	ASSERT_INT_EQ(got.amount, 24999);
	ASSERT_STR_EQ(got.currency, "EUR");

	/* Unwanted outputs may be NULL. */
	payment_pi_clear(&got);
	ASSERT_INT_EQ(
	    payment_pi_open(preq.pi, preq.pilen, w.gw.cert, w.gw.key,
	        preq.dualsig, preq.siglen, preq.hoi, MERCHANT, preq.oi.xid,
	        &got, NULL, NULL, NULL, err, sizeof(err)),
	    0);

	X509_free(cardholder);
	sk_X509_pop_free(certs, X509_free);
	payment_pi_clear(&got);
	payment_pi_clear(&pi);
	payment_preq_clear(&preq);
	ASSERT_TRUE(all_zero(&preq, sizeof(preq)));
	json_decref(body);
	json_decref(wire);
	world_free(&w);
}

/* The body with field key replaced by base64 of data. */
static void
body_set_b64(json_t *body, const char *key, const void *data, size_t len)
{
	char *b64 = base64_encode(data, len);

	ASSERT_INT_EQ(json_object_set_new(body, key, json_string(b64)), 0);
	free(b64);
}

static unsigned char *
body_get_b64(json_t *body, const char *key, size_t *len)
{
	const char *s = json_string_value(json_object_get(body, key));
	unsigned char *p;

	ASSERT_PTR_NOT_NULL(s);
	p = base64_decode(s, strlen(s), len);
	ASSERT_PTR_NOT_NULL(p);
	return p;
}

/* Any change to the OIData bytes, even one bit, fails at the merchant. */
static void
test_merchant_changed_oi(void)
{
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi;
	struct payment_preq preq;
	unsigned char *oidata;
	size_t oilen, i;
	json_t *body;
	char *at, err[256] = "";

	world_make(&w);
	purchase_fill(&oi, &pi, XID_A);
	body = preq_make(&w, &oi, &pi);
	oidata = body_get_b64(body, "oidata", &oilen);

	/* A change that still parses: the signature is what refuses it. */
	at = strstr((char *)oidata, "order-42");
	ASSERT_PTR_NOT_NULL(at);
	at[7] = '3';
	body_set_b64(body, "oidata", oidata, oilen);
	ASSERT_INT_EQ(
	    payment_preq_verify(body, MERCHANT, &preq, err, sizeof(err)),
	    PAYMENT_ERR_SIGNATURE);
	ASSERT_STR_CONTAINS(err, "dual signature");
	ASSERT_TRUE(all_zero(&preq, sizeof(preq)));
	at[7] = '2';

	for (i = 0; i < oilen; i++) {
		oidata[i] ^= 0x01;
		body_set_b64(body, "oidata", oidata, oilen);
		if (payment_preq_verify(
		        body, MERCHANT, &preq, err, sizeof(err)) == 0)
			unit_fail(__FILE__, __LINE__,
			    "OIData with byte %zu changed accepted", i);
		oidata[i] ^= 0x01;
	}
	body_set_b64(body, "oidata", oidata, oilen);
	ASSERT_INT_EQ(
	    payment_preq_verify(body, MERCHANT, &preq, err, sizeof(err)), 0);
	payment_preq_clear(&preq);
	/* One byte less. */
	body_set_b64(body, "oidata", oidata, oilen - 1);
	ASSERT_INT_EQ(
	    payment_preq_verify(body, MERCHANT, &preq, err, sizeof(err)), -1);
	/* Another H(PIData). */
	body_set_b64(body, "oidata", oidata, oilen);
	ASSERT_INT_EQ(json_object_set_new(body, "hpi",
	                  json_string("00000000000000000000000000000000"
	                              "00000000000000000000000000000000")),
	    0);
	ASSERT_INT_EQ(
	    payment_preq_verify(body, MERCHANT, &preq, err, sizeof(err)),
	    PAYMENT_ERR_SIGNATURE);
	ASSERT_STR_CONTAINS(err, "dual signature");
	free(oidata);
	json_decref(body);
	payment_pi_clear(&pi);
	world_free(&w);
}

/* How the last refused payment_pi_open() in gateway_ok() failed. */
static int gateway_last_rc;

/* What the gateway is given: the merchant's PReq and AuthReq data. */
struct authreq {
	json_t *body;
	struct payment_preq preq;
};

static void
authreq_make(struct authreq *a, const struct world *w, const char *xid,
    const char *pan, const char *nonce)
{
	struct payment_oi oi;
	struct payment_pi pi;
	char err[256] = "";

	purchase_fill(&oi, &pi, xid);
	copy(pi.pan, sizeof(pi.pan), pan);
	copy(pi.nonce, sizeof(pi.nonce), nonce);
	a->body = preq_make(w, &oi, &pi);
	if (payment_preq_verify(
	        a->body, MERCHANT, &a->preq, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "merchant: %s", err);
	payment_pi_clear(&pi);
}

static void
authreq_free(struct authreq *a)
{
	json_decref(a->body);
	payment_preq_clear(&a->preq);
}

/* The gateway opens pi/dualsig with the AuthReq's hoi, merchant and xid;
 * a refusal must leave nothing behind. */
static int
gateway_ok(const struct world *w, const struct ident *kex,
    const unsigned char *pi, size_t pilen, const unsigned char *sig,
    size_t siglen, const unsigned char hoi[32], const char *merchant,
    const char *xid, char *err, size_t errlen)
{
	static char sentinel;
	struct payment_pi got;
	unsigned char hpi[32];
	STACK_OF(X509) *certs = (STACK_OF(X509) *)(void *)&sentinel;
	X509 *cardholder = (X509 *)(void *)&sentinel;
	int rc;

	memset(hpi, 0xaa, sizeof(hpi));
	memset(&got, 0xaa, sizeof(got));
	rc = payment_pi_open(pi, pilen, kex->cert, kex->key, sig, siglen, hoi,
	    merchant, xid, &got, hpi, &cardholder, &certs, err, errlen);
	if (rc == 0) {
		ASSERT_INT_EQ(X509_cmp(cardholder, w->card.cert), 0);
		X509_free(cardholder);
		sk_X509_pop_free(certs, X509_free);
		payment_pi_clear(&got);
		return 1;
	}
	gateway_last_rc = rc;
	ASSERT_TRUE(rc == PAYMENT_ERR_MALFORMED ||
	    rc == PAYMENT_ERR_SIGNATURE || rc == PAYMENT_ERR_ENVELOPE);
	ASSERT_TRUE(err[0] != '\0');
	ASSERT_PTR_NULL(cardholder);
	ASSERT_PTR_NULL(certs);
	ASSERT_TRUE(all_zero(&got, sizeof(got)));
	ASSERT_TRUE(all_zero(hpi, sizeof(hpi)));
	return 0;
}

#define GW(a, hoi, merchant, xid)                                              \
	gateway_ok(&w, &w.gw, (a).preq.pi, (a).preq.pilen, (a).preq.dualsig,   \
	    (a).preq.siglen, hoi, merchant, xid, err, sizeof(err))

static void
test_gateway_swapped_pi(void)
{
	struct world w;
	struct authreq a, b;
	char err[256] = "";

	world_make(&w);
	authreq_make(&a, &w, XID_A, PAN, NONCE);
	authreq_make(&b, &w, XID_B, "5555555555554444",
	    "00000000000000000000000000000001");
	ASSERT_TRUE(GW(a, a.preq.hoi, MERCHANT, XID_A));
	ASSERT_TRUE(GW(b, b.preq.hoi, MERCHANT, XID_B));

	/* B's PI as baggage of A's authorization, with A's signature. */
	ASSERT_FALSE(
	    gateway_ok(&w, &w.gw, b.preq.pi, b.preq.pilen, a.preq.dualsig,
	        a.preq.siglen, a.preq.hoi, MERCHANT, XID_A, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "dual signature");
	ASSERT_INT_EQ(gateway_last_rc, PAYMENT_ERR_SIGNATURE);
	/* B's PI with B's own signature, under A's order. */
	ASSERT_FALSE(GW(b, a.preq.hoi, MERCHANT, XID_A));
	ASSERT_FALSE(GW(b, a.preq.hoi, MERCHANT, XID_B));
	ASSERT_FALSE(GW(b, b.preq.hoi, MERCHANT, XID_A));
	authreq_free(&a);
	authreq_free(&b);
	world_free(&w);
}

static void
test_gateway_other_hoi(void)
{
	struct world w;
	struct authreq a;
	struct payment_oi oi;
	struct payment_pi pi;
	unsigned char hoi[32];
	char *oidata, err[256] = "";

	world_make(&w);
	authreq_make(&a, &w, XID_A, PAN, NONCE);
	memcpy(hoi, a.preq.hoi, 32);
	hoi[31] ^= 0x80;
	ASSERT_FALSE(GW(a, hoi, MERCHANT, XID_A));
	ASSERT_STR_CONTAINS(err, "dual signature");

	/* The hash of an order the merchant changed after signing. */
	purchase_fill(&oi, &pi, XID_A);
	ASSERT_INT_EQ(payment_hod(OD, 2499, "EUR", OD_SALT, oi.hod), 0);
	oidata = payment_oi_bytes(&oi, err, sizeof(err));
	ASSERT_PTR_NOT_NULL(oidata);
	dualsig_hash(oidata, strlen(oidata), hoi);
	ASSERT_FALSE(GW(a, hoi, MERCHANT, XID_A));
	ASSERT_TRUE(GW(a, a.preq.hoi, MERCHANT, XID_A));
	free(oidata);
	payment_pi_clear(&pi);
	authreq_free(&a);
	world_free(&w);
}

static void
test_gateway_other_merchant_or_xid(void)
{
	struct world w;
	struct authreq a;
	char err[256] = "";

	world_make(&w);
	authreq_make(&a, &w, XID_A, PAN, NONCE);
	ASSERT_FALSE(GW(a, a.preq.hoi, "M-0002", XID_A));
	ASSERT_FALSE(GW(a, a.preq.hoi, "M-000", XID_A));
	ASSERT_FALSE(GW(a, a.preq.hoi, MERCHANT, XID_B));
	ASSERT_FALSE(GW(a, a.preq.hoi, "", XID_A));
	ASSERT_FALSE(GW(a, a.preq.hoi, MERCHANT, ""));
	ASSERT_FALSE(GW(a, a.preq.hoi, NULL, XID_A));
	ASSERT_FALSE(GW(a, a.preq.hoi, MERCHANT, NULL));
	ASSERT_FALSE(GW(a, NULL, MERCHANT, XID_A));
	ASSERT_TRUE(GW(a, a.preq.hoi, MERCHANT, XID_A));
	authreq_free(&a);
	world_free(&w);
}

/*
 * A cardholder who signs for one merchant and XID a PI whose head names
 * another (a wallet of its own making): the signature verifies, the head
 * does not.
 */
static void
test_gateway_head_mismatch(void)
{
	static const struct {
		const char *merchant, *xid;
	} heads[] = {
		{ "M-0002", XID_A },
		{ MERCHANT, XID_B },
	};
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi;
	unsigned char *sig, *sealed, hoi[32];
	size_t siglen, sealedlen, i;
	char *oidata, *pidata, err[256] = "";

	world_make(&w);
	for (i = 0; i < UNIT_N(heads); i++) {
		purchase_fill(&oi, &pi, XID_A);
		copy(pi.merchant, sizeof(pi.merchant), heads[i].merchant);
		copy(pi.xid, sizeof(pi.xid), heads[i].xid);
		oidata = payment_oi_bytes(&oi, err, sizeof(err));
		pidata = payment_pi_bytes(&pi, err, sizeof(err));
		ASSERT_PTR_NOT_NULL(oidata);
		ASSERT_PTR_NOT_NULL(pidata);
		/* payment_preq_new() refuses to sign this... */
		ASSERT_PTR_NULL(payment_preq_new(&oi, &pi, w.gw.cert,
		    w.card.cert, w.card.key, NULL, err, sizeof(err)));
		/* ... so sign it by hand. */
		ASSERT_INT_EQ(
		    dualsig_sign(pidata, strlen(pidata), oidata, strlen(oidata),
		        MERCHANT, XID_A, w.card.cert, w.card.key, NULL, &sig,
		        &siglen, err, sizeof(err)),
		    0);
		ASSERT_INT_EQ(cms_seal(pidata, strlen(pidata), w.gw.cert,
		                  &sealed, &sealedlen, err, sizeof(err)),
		    0);
		dualsig_hash(oidata, strlen(oidata), hoi);
		ASSERT_FALSE(gateway_ok(&w, &w.gw, sealed, sealedlen, sig,
		    siglen, hoi, MERCHANT, XID_A, err, sizeof(err)));
		ASSERT_STR_CONTAINS(err, "another transaction or merchant");
		free(sig);
		free(sealed);
		free(oidata);
		freezero_buf(pidata, strlen(pidata));
		payment_pi_clear(&pi);
	}
	world_free(&w);
}

static void
test_gateway_wrong_key(void)
{
	struct world w;
	struct authreq a;
	struct ident mixed;
	unsigned char *pi;
	char err[256] = "";

	world_make(&w);
	authreq_make(&a, &w, XID_A, PAN, NONCE);
	/* Another gateway's key-exchange key. */
	ASSERT_FALSE(
	    gateway_ok(&w, &w.gw2, a.preq.pi, a.preq.pilen, a.preq.dualsig,
	        a.preq.siglen, a.preq.hoi, MERCHANT, XID_A, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "envelope");
	ASSERT_INT_EQ(gateway_last_rc, PAYMENT_ERR_ENVELOPE);
	/* The right certificate with another key, and the reverse. */
	mixed.cert = w.gw.cert;
	mixed.key = w.gw2.key;
	ASSERT_FALSE(
	    gateway_ok(&w, &mixed, a.preq.pi, a.preq.pilen, a.preq.dualsig,
	        a.preq.siglen, a.preq.hoi, MERCHANT, XID_A, err, sizeof(err)));
	mixed.cert = w.gw2.cert;
	mixed.key = w.gw.key;
	ASSERT_FALSE(
	    gateway_ok(&w, &mixed, a.preq.pi, a.preq.pilen, a.preq.dualsig,
	        a.preq.siglen, a.preq.hoi, MERCHANT, XID_A, err, sizeof(err)));
	/* A flipped bit of the sealed PI. */
	pi = xmemdup(a.preq.pi, a.preq.pilen);
	pi[a.preq.pilen - 20] ^= 0x01;
	ASSERT_FALSE(gateway_ok(&w, &w.gw, pi, a.preq.pilen, a.preq.dualsig,
	    a.preq.siglen, a.preq.hoi, MERCHANT, XID_A, err, sizeof(err)));
	free(pi);
	ASSERT_TRUE(GW(a, a.preq.hoi, MERCHANT, XID_A));
	authreq_free(&a);
	world_free(&w);
}

/* A body made from the good one by setting key to a JSON value (NULL
 * removes it). */
static void
preq_refused(json_t *good, const char *key, json_t *value, const char *why)
{
	struct payment_preq preq;
	json_t *body = json_deep_copy(good);
	char err[256] = "";

	ASSERT_PTR_NOT_NULL(body);
	if (value == NULL)
		ASSERT_INT_EQ(json_object_del(body, key), 0);
	else
		ASSERT_INT_EQ(json_object_set_new(body, key, value), 0);
	memset(&preq, 0xaa, sizeof(preq));
	if (payment_preq_verify(body, MERCHANT, &preq, err, sizeof(err)) == 0)
		unit_fail(__FILE__, __LINE__, "PReq with %s accepted", why);
	if (strstr(err, "PReq") == NULL)
		unit_fail(__FILE__, __LINE__, "%s: reason \"%s\"", why, err);
	ASSERT_TRUE(all_zero(&preq, sizeof(preq)));
	json_decref(body);
}

static json_t *
b64_of_size(size_t n)
{
	unsigned char *p = xcalloc(1, n);
	char *s = base64_encode(p, n);
	json_t *j = json_string(s);

	free(p);
	free(s);
	return j;
}

static void
test_preq_malformed(void)
{
	static const char *const keys[] = { "dualsig", "hpi", "oidata", "pi" };
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi;
	struct payment_preq preq;
	json_t *good, *arr;
	char err[256] = "";
	size_t i;

	world_make(&w);
	purchase_fill(&oi, &pi, XID_A);
	good = preq_make(&w, &oi, &pi);

	preq_refused(good, "extra", json_string("x"), "an extra field");
	preq_refused(good, "rrpid", json_integer(1), "an extra field");
	for (i = 0; i < UNIT_N(keys); i++) {
		preq_refused(good, keys[i], NULL, keys[i]);
		preq_refused(good, keys[i], json_integer(5), keys[i]);
		preq_refused(good, keys[i], json_null(), keys[i]);
		preq_refused(good, keys[i], json_string(""), keys[i]);
		preq_refused(good, keys[i], json_string("!!!!"), keys[i]);
	}
	preq_refused(good, "oidata", json_string("e30"), "base64 unpadded");
	preq_refused(good, "oidata", json_string("e3 0="), "base64 space");
	preq_refused(good, "pi", json_string("AAAA\n"), "base64 newline");
	preq_refused(good, "hpi", json_string("00"), "a short hpi");
	preq_refused(good, "hpi",
	    json_string("ABCDEF0000000000000000000000000000000000000000000000"
	                "000000000000"),
	    "an upper-case hpi");
	preq_refused(
	    good, "oidata", b64_of_size(PAYMENT_MAX_DATA + 1), "a huge oidata");
	preq_refused(good, "pi", b64_of_size(PAYMENT_MAX_PI + 1), "a huge pi");
	preq_refused(good, "dualsig", b64_of_size(PAYMENT_MAX_DUALSIG + 1),
	    "a huge dualsig");
	/* At the limits, the sizes are fine (the pi is opaque here; a dual
	 * signature of zeros is not one). */
	{
		struct payment_preq ok;
		json_t *body = json_deep_copy(good);

		json_object_set_new(body, "pi", b64_of_size(PAYMENT_MAX_PI));
		ASSERT_INT_EQ(
		    payment_preq_verify(body, MERCHANT, &ok, err, sizeof(err)),
		    0);
		ASSERT_INT_EQ(ok.pilen, PAYMENT_MAX_PI);
		payment_preq_clear(&ok);
		json_decref(body);
	}
	preq_refused(good, "dualsig", b64_of_size(PAYMENT_MAX_DUALSIG),
	    "a dualsig of zeros");
	preq_refused(good, "oidata", b64_of_size(10), "an oidata of NULs");

	/* Not an object. */
	arr = json_array();
	ASSERT_INT_EQ(
	    payment_preq_verify(arr, MERCHANT, &preq, err, sizeof(err)), -1);
	ASSERT_INT_EQ(
	    payment_preq_verify(NULL, MERCHANT, &preq, err, sizeof(err)), -1);
	json_decref(arr);

	/* Another merchant's PReq. */
	ASSERT_INT_EQ(
	    payment_preq_verify(good, "M-0002", &preq, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "another merchant");
	ASSERT_INT_EQ(
	    payment_preq_verify(good, NULL, &preq, err, sizeof(err)), -1);
	ASSERT_INT_EQ(
	    payment_preq_verify(good, MERCHANT, &preq, err, sizeof(err)), 0);
	payment_preq_clear(&preq);
	json_decref(good);
	payment_pi_clear(&pi);
	world_free(&w);
}

/* The wallet refuses to sign an order and a PI that do not agree. */
static void
test_preq_new_refuses(void)
{
	static const struct field_edit edits[] = {
		{ PI_EDIT(xid, XID_B) },
		{ PI_EDIT(hod, OD_SALT OD_SALT) },
		{ PI_EDIT(merchant, "M-0002") },
		{ PI_EDIT(brand, "Mastercard") },
		{ PI_EDIT(lid_m, "order-43") },
	};
	static const char *const names[] = { "\"xid\"", "\"hod\"",
		"\"merchant\"", "\"brand\"", "\"lid_m\"" };
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi, pi0;
	char err[256];
	size_t i;

	world_make(&w);
	purchase_fill(&oi, &pi0, XID_A);
	for (i = 0; i < UNIT_N(edits); i++) {
		pi = pi0;
		field_apply(&pi, &edits[i]);
		err[0] = '\0';
		ASSERT_PTR_NULL(payment_preq_new(&oi, &pi, w.gw.cert,
		    w.card.cert, w.card.key, w.chain, err, sizeof(err)));
		ASSERT_STR_CONTAINS(err, names[i]);
	}
	/* Malformed halves. */
	pi = pi0;
	copy(pi.pan, sizeof(pi.pan), "4242424242424241");
	ASSERT_PTR_NULL(payment_preq_new(&oi, &pi, w.gw.cert, w.card.cert,
	    w.card.key, w.chain, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "\"pan\"");
	oi.chall_c[0] = 'X';
	ASSERT_PTR_NULL(payment_preq_new(&oi, &pi0, w.gw.cert, w.card.cert,
	    w.card.key, w.chain, err, sizeof(err)));
	ASSERT_STR_CONTAINS(err, "\"chall_c\"");
	oi.chall_c[0] = 'c';
	/* No gateway certificate or key. */
	ASSERT_PTR_NULL(payment_preq_new(&oi, &pi0, NULL, w.card.cert,
	    w.card.key, w.chain, err, sizeof(err)));
	ASSERT_PTR_NULL(payment_preq_new(&oi, &pi0, w.gw.cert, w.card.cert,
	    NULL, w.chain, err, sizeof(err)));
	/* A signing key that is not the certificate's. */
	ASSERT_PTR_NULL(payment_preq_new(&oi, &pi0, w.gw.cert, w.card.cert,
	    w.gw2.key, w.chain, err, sizeof(err)));
	payment_pi_clear(&pi);
	payment_pi_clear(&pi0);
	world_free(&w);
}

static void
test_pan_matches(void)
{
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi, other;
	struct ident twocn;
	X509_NAME *name;

	world_make(&w);
	purchase_fill(&oi, &pi, XID_A);
	ASSERT_INT_EQ(payment_pan_matches(&pi, w.card.cert), 1);
	/* The CVV is not part of the binding. */
	other = pi;
	other.cvv[0] = '\0';
	ASSERT_INT_EQ(payment_pan_matches(&other, w.card.cert), 1);

	other = pi;
	copy(other.pan, sizeof(other.pan), "5555555555554444");
	ASSERT_INT_EQ(payment_pan_matches(&other, w.card.cert), 0);
	other = pi;
	copy(other.expiry, sizeof(other.expiry), "2031-12");
	ASSERT_INT_EQ(payment_pan_matches(&other, w.card.cert), 0);
	other = pi;
	other.pan_secret[0] ^= 0x01;
	ASSERT_INT_EQ(payment_pan_matches(&other, w.card.cert), 0);
	other = pi;
	copy(other.pan, sizeof(other.pan), "4242424242424241");
	ASSERT_INT_EQ(payment_pan_matches(&other, w.card.cert), 0);
	/* Certificates that are not this card's. */
	ASSERT_INT_EQ(payment_pan_matches(&pi, w.gw.cert), 0);
	ASSERT_INT_EQ(payment_pan_matches(&pi, NULL), 0);
	/* A second CN naming the card is not a binding either. */
	twocn.key = NULL;
	twocn.cert = X509_dup(w.card.cert);
	ASSERT_PTR_NOT_NULL(twocn.cert);
	name = X509_get_subject_name(twocn.cert);
	ASSERT_TRUE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"other", -1, -1, 0));
	ASSERT_INT_EQ(payment_pan_matches(&pi, twocn.cert), 0);
	ident_free(&twocn);
	payment_pi_clear(&pi);
	payment_pi_clear(&other);
	world_free(&w);
}

/* The merchant gets no card number: not in the body, not in any part. */
static void
test_no_pan_at_merchant(void)
{
	static const char *const keys[] = { "dualsig", "hpi", "oidata", "pi" };
	struct world w;
	struct payment_oi oi;
	struct payment_pi pi;
	struct payment_preq preq;
	unsigned char *p;
	size_t len, i;
	json_t *body;
	char *text, err[256] = "";

	world_make(&w);
	purchase_fill(&oi, &pi, XID_A);
	body = preq_make(&w, &oi, &pi);
	text = dumps(body);
	ASSERT_FALSE(contains(text, strlen(text), PAN));
	ASSERT_FALSE(contains(text, strlen(text), SECRET_HEX));
	free(text);
	for (i = 0; i < UNIT_N(keys); i++) {
		if (strcmp(keys[i], "hpi") == 0)
			continue;
		p = body_get_b64(body, keys[i], &len);
		ASSERT_FALSE(contains(p, len, PAN));
		ASSERT_FALSE(contains(p, len, "2030-12"));
		ASSERT_FALSE(contains(p, len, SECRET_HEX));
		free(p);
	}
	ASSERT_INT_EQ(
	    payment_preq_verify(body, MERCHANT, &preq, err, sizeof(err)), 0);
	ASSERT_FALSE(contains(&preq.oi, sizeof(preq.oi), PAN));
	ASSERT_FALSE(contains(preq.pi, preq.pilen, PAN));
	/* Nor can the merchant open the PI with a key of its own. */
	ASSERT_FALSE(gateway_ok(&w, &w.gw2, preq.pi, preq.pilen, preq.dualsig,
	    preq.siglen, preq.hoi, MERCHANT, XID_A, err, sizeof(err)));
	payment_preq_clear(&preq);
	json_decref(body);
	payment_pi_clear(&pi);
	world_free(&w);
}

static void
test_pi_clear(void)
{
	struct payment_oi oi;
	struct payment_pi pi;

	purchase_fill(&oi, &pi, XID_A);
	ASSERT_FALSE(all_zero(&pi, sizeof(pi)));
	payment_pi_clear(&pi);
	ASSERT_TRUE(all_zero(&pi, sizeof(pi)));
	ASSERT_FALSE(contains(&pi, sizeof(pi), PAN));
}

static const struct unit_case cases[] = {
	{ "HOD of the documented bytes, as openssl dgst computes it",
	    test_hod_vector },
	{ "every HOD input changes the HOD", test_hod_inputs },
	{ "bad HOD inputs refused", test_hod_refused },
	{ "OIData bytes are the documented JSON and parse back",
	    test_oi_round_trip },
	{ "PIData bytes are the documented JSON and parse back",
	    test_pi_round_trip },
	{ "serializers refuse malformed fields", test_serializers_refuse },
	{ "OIData parsing is strict", test_oi_parse_strict },
	{ "PIData parsing is strict", test_pi_parse_strict },
	{ "wallet, merchant and gateway complete a purchase", test_purchase },
	{ "merchant: a changed OIData fails", test_merchant_changed_oi },
	{ "gateway: a PI swapped from another purchase fails",
	    test_gateway_swapped_pi },
	{ "gateway: another H(OIData) fails", test_gateway_other_hoi },
	{ "gateway: another merchant id or XID fails",
	    test_gateway_other_merchant_or_xid },
	{ "gateway: a PI head naming another merchant or XID fails",
	    test_gateway_head_mismatch },
	{ "gateway: the wrong key-exchange key fails", test_gateway_wrong_key },
	{ "merchant: malformed PReq bodies refused", test_preq_malformed },
	{ "wallet: an order and PI that disagree are not signed",
	    test_preq_new_refuses },
	{ "PAN blinding: the card matches only its certificate",
	    test_pan_matches },
	{ "the merchant never sees the card number", test_no_pan_at_merchant },
	{ "payment_pi_clear wipes everything", test_pi_clear },
};

int
main(void)
{
	return unit_main("payment", cases, UNIT_N(cases));
}
