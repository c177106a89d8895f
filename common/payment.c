/*
 * SET's purchase request (Book 3, PReq) at the byte level: the order
 * description hash (HOD), the order information (OIData) and the payment
 * instruction (PIData), serialized once and parsed strictly, and the three
 * steps of a purchase that touch them: the wallet dual-signs both halves and
 * seals the PI to the gateway; the merchant verifies its half holding only
 * H(PIData); the gateway opens the PI and verifies the same signature holding
 * only H(OIData). Which business checks follow (certificates, order, replay)
 * is the caller's, as payment.h says.
 *
 * Both halves are described by one field table each, so the serializer, the
 * validator and the parser cannot disagree on a field's name or format.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base64.h"
#include "cms.h"
#include "dualsig.h"
#include "errbuf.h"
#include "hex.h"
#include "pan.h"
#include "payment.h"
#include "xmalloc.h"

/* What a field holds; the size of its array sets its length limits. */
enum payment_kind {
	PAYMENT_HEX, /* exactly size - 1 lower-case hex digits */
	PAYMENT_IDENT, /* 1 to size - 1 of [A-Za-z0-9._-] */
	PAYMENT_BRAND, /* 1 to size - 1 of [A-Za-z0-9] */
	PAYMENT_CURRENCY, /* 3 upper-case letters */
	PAYMENT_PAN, /* 13-19 digits, Luhn */
	PAYMENT_EXPIRY, /* YYYY-MM */
	PAYMENT_CVV, /* 3-4 digits, or "" and then left out */
	PAYMENT_AMOUNT, /* long long, 1..PAYMENT_MAX_AMOUNT */
	PAYMENT_SECRET /* PAN_SECRET_LEN bytes, as 64 hex digits */
};

struct payment_field {
	const char *key;
	enum payment_kind kind;
	size_t off, size;
};

#define PAYMENT_SIZE(t, f) sizeof(((struct t *)0)->f)
/* One table row: the JSON key is the struct member's name. */
#define PAYMENT_F(t, f, k) #f, k, offsetof(struct t, f), PAYMENT_SIZE(t, f)

static const struct payment_field payment_oi_fields[] = {
	{ PAYMENT_F(payment_oi, brand, PAYMENT_BRAND) },
	{ PAYMENT_F(payment_oi, chall_c, PAYMENT_HEX) },
	{ PAYMENT_F(payment_oi, chall_m, PAYMENT_HEX) },
	{ PAYMENT_F(payment_oi, hod, PAYMENT_HEX) },
	{ PAYMENT_F(payment_oi, lid_c, PAYMENT_IDENT) },
	{ PAYMENT_F(payment_oi, lid_m, PAYMENT_IDENT) },
	{ PAYMENT_F(payment_oi, merchant, PAYMENT_IDENT) },
	{ PAYMENT_F(payment_oi, od_salt, PAYMENT_HEX) },
	{ PAYMENT_F(payment_oi, xid, PAYMENT_HEX) },
};

/* PIHead: binds the payment to the order, the amount, the merchant and the
 * transaction. */
static const struct payment_field payment_head_fields[] = {
	{ PAYMENT_F(payment_pi, amount, PAYMENT_AMOUNT) },
	{ PAYMENT_F(payment_pi, brand, PAYMENT_BRAND) },
	{ PAYMENT_F(payment_pi, currency, PAYMENT_CURRENCY) },
	{ PAYMENT_F(payment_pi, hod, PAYMENT_HEX) },
	{ PAYMENT_F(payment_pi, lid_m, PAYMENT_IDENT) },
	{ PAYMENT_F(payment_pi, merchant, PAYMENT_IDENT) },
	{ PAYMENT_F(payment_pi, xid, PAYMENT_HEX) },
};

/* PANData: the card, and PANSecret to prove it belongs to the certificate. */
static const struct payment_field payment_pan_fields[] = {
	{ PAYMENT_F(payment_pi, cvv, PAYMENT_CVV) },
	{ PAYMENT_F(payment_pi, expiry, PAYMENT_EXPIRY) },
	{ PAYMENT_F(payment_pi, nonce, PAYMENT_HEX) },
	{ PAYMENT_F(payment_pi, pan, PAYMENT_PAN) },
	{ PAYMENT_F(payment_pi, pan_secret, PAYMENT_SECRET) },
};

#define PAYMENT_NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static int
payment_all(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

#define PAYMENT_LOWER "abcdefghijklmnopqrstuvwxyz"
#define PAYMENT_UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define PAYMENT_DIGITS "0123456789"

static int
payment_is_hex(const char *s, size_t n)
{
	return strlen(s) == n && payment_all(s, n, PAYMENT_DIGITS "abcdef");
}

static int
payment_currency_ok(const char *s)
{
	return strlen(s) == 3 && payment_all(s, 3, PAYMENT_UPPER);
}

/* 1 if the string s fits field f (any kind but AMOUNT and SECRET). */
static int
payment_str_ok(const struct payment_field *f, const char *s)
{
	size_t n = strlen(s);

	switch (f->kind) {
	case PAYMENT_HEX:
		return payment_is_hex(s, f->size - 1);
	case PAYMENT_IDENT:
		return n >= 1 && n < f->size &&
		    payment_all(
		        s, n, PAYMENT_LOWER PAYMENT_UPPER PAYMENT_DIGITS "._-");
	case PAYMENT_BRAND:
		return n >= 1 && n < f->size &&
		    payment_all(
		        s, n, PAYMENT_LOWER PAYMENT_UPPER PAYMENT_DIGITS);
	case PAYMENT_CURRENCY:
		return payment_currency_ok(s);
	case PAYMENT_PAN:
		return n < f->size && pan_luhn_ok(s, n);
	case PAYMENT_EXPIRY:
		return pan_expiry_ok(s);
	case PAYMENT_CVV:
		return (n == 3 || n == 4) && payment_all(s, n, PAYMENT_DIGITS);
	default:
		return 0;
	}
}

static int
payment_amount_ok(long long amount)
{
	return amount >= 1 && amount <= PAYMENT_MAX_AMOUNT;
}

/* "<what>: "<key>" must be ...": names the field, never its value. */
static void
payment_field_error(
    const char *what, const struct payment_field *f, char *err, size_t errlen)
{
	switch (f->kind) {
	case PAYMENT_HEX:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be %zu lower-case hex digits", what,
		    f->key, f->size - 1);
		break;
	case PAYMENT_IDENT:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be 1-%zu of A-Z a-z 0-9 . _ -", what,
		    f->key, f->size - 1);
		break;
	case PAYMENT_BRAND:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be 1-%zu letters or digits", what, f->key,
		    f->size - 1);
		break;
	case PAYMENT_CURRENCY:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be 3 upper-case letters (ISO 4217)", what,
		    f->key);
		break;
	case PAYMENT_PAN:
		errbuf_set(err, errlen,
		    "%s: \"%s\" is not a card number (13-19 digits, Luhn)",
		    what, f->key);
		break;
	case PAYMENT_EXPIRY:
		errbuf_set(
		    err, errlen, "%s: \"%s\" must be YYYY-MM", what, f->key);
		break;
	case PAYMENT_CVV:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be 3 or 4 digits, or left out", what,
		    f->key);
		break;
	case PAYMENT_AMOUNT:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be an integer from 1 to %lld (minor "
		    "units)",
		    what, f->key, PAYMENT_MAX_AMOUNT);
		break;
	case PAYMENT_SECRET:
		errbuf_set(err, errlen,
		    "%s: \"%s\" must be %d lower-case hex digits", what, f->key,
		    2 * PAN_SECRET_LEN);
		break;
	}
}

/* Validates the struct fields in table f before they are serialized. */
static int
payment_fields_check(const void *base, const struct payment_field *f, size_t n,
    const char *what, char *err, size_t errlen)
{
	const char *p;
	long long amount;
	size_t i;

	for (i = 0; i < n; i++) {
		p = (const char *)base + f[i].off;
		if (f[i].kind == PAYMENT_SECRET)
			continue;
		if (f[i].kind == PAYMENT_AMOUNT) {
			memcpy(&amount, p, sizeof(amount));
			if (!payment_amount_ok(amount))
				goto bad;
			continue;
		}
		if (memchr(p, '\0', f[i].size) == NULL)
			goto bad;
		if (f[i].kind == PAYMENT_CVV && *p == '\0')
			continue;
		if (!payment_str_ok(&f[i], p))
			goto bad;
	}
	return 0;
bad:
	payment_field_error(what, &f[i], err, errlen);
	return -1;
}

/* A new JSON object of the (checked) struct fields in table f. */
static json_t *
payment_fields_pack(const void *base, const struct payment_field *f, size_t n)
{
	json_t *o = json_object();
	const char *p;
	long long amount;
	char *hex;
	size_t i;

	for (i = 0; i < n; i++) {
		p = (const char *)base + f[i].off;
		switch (f[i].kind) {
		case PAYMENT_AMOUNT:
			memcpy(&amount, p, sizeof(amount));
			json_object_set_new(o, f[i].key, json_integer(amount));
			break;
		case PAYMENT_SECRET:
			hex = hex_encode(p, f[i].size);
			json_object_set_new(o, f[i].key, json_string(hex));
			freezero_buf(hex, strlen(hex));
			break;
		case PAYMENT_CVV:
			if (*p == '\0')
				break;
			/* FALLTHROUGH */
		default:
			json_object_set_new(o, f[i].key, json_string(p));
			break;
		}
	}
	return o;
}

static const struct payment_field *
payment_field_find(const struct payment_field *f, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(f[i].key, key) == 0)
			return &f[i];
	return NULL;
}

/* Parses one received value v into the struct field f. */
static int
payment_field_parse(json_t *v, const struct payment_field *f, void *base,
    const char *what, char *err, size_t errlen)
{
	char *p = (char *)base + f->off;
	const char *s;
	long long amount;

	if (f->kind == PAYMENT_AMOUNT) {
		/* A JSON real (1999.0, 2e3) is not an amount: money is an
		 * integer count of minor units. */
		if (!json_is_integer(v) ||
		    !payment_amount_ok(amount = json_integer_value(v)))
			goto bad;
		memcpy(p, &amount, sizeof(amount));
		return 0;
	}
	if (!json_is_string(v) ||
	    strlen(s = json_string_value(v)) != json_string_length(v))
		goto bad;
	if (f->kind == PAYMENT_SECRET) {
		if (!payment_is_hex(s, 2 * f->size) ||
		    hex_decode(s, p, f->size) == -1)
			goto bad;
		return 0;
	}
	if (strlen(s) >= f->size || !payment_str_ok(f, s))
		goto bad;
	memcpy(p, s, strlen(s) + 1);
	return 0;
bad:
	payment_field_error(what, f, err, errlen);
	return -1;
}

/*
 * Parses the JSON object o into the struct fields of table f: exactly these
 * keys (only "cvv" may be left out). secret: o is part of PIData, whose
 * unknown keys are not repeated in the reason (a key could be a PAN).
 */
static int
payment_fields_parse(json_t *o, const struct payment_field *f, size_t n,
    void *base, const char *what, int secret, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(o)) {
		errbuf_set(err, errlen, "%s is not a JSON object", what);
		return -1;
	}
	json_object_foreach(o, key, v)
	{
		if (payment_field_find(f, n, key) != NULL)
			continue;
		/* Echo the key only when it is harmless to print. */
		if (!secret && strlen(key) <= 32 &&
		    payment_all(key, strlen(key),
		        PAYMENT_LOWER PAYMENT_UPPER PAYMENT_DIGITS "._-"))
			errbuf_set(
			    err, errlen, "%s: unknown field \"%s\"", what, key);
		else
			errbuf_set(err, errlen, "%s: an unknown field", what);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((v = json_object_get(o, f[i].key)) == NULL) {
			if (f[i].kind == PAYMENT_CVV)
				continue;
			errbuf_set(err, errlen,
			    "%s: the field \"%s\" is missing", what, f[i].key);
			return -1;
		}
		if (payment_field_parse(v, &f[i], base, what, err, errlen) ==
		    -1)
			return -1;
	}
	return 0;
}

/* Serializes once, compact with sorted keys; xmalloc'd. The intermediate
 * text is wiped: it may hold card data. */
static char *
payment_dump(json_t *o, const char *what, char *err, size_t errlen)
{
	char *s, *out;

	if ((s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		errbuf_set(err, errlen, "%s: cannot serialize", what);
		return NULL;
	}
	out = xstrdup(s);
	OPENSSL_cleanse(s, strlen(s));
	free(s);
	return out;
}

/*
 * Loads received bytes as one JSON object (no duplicate keys, nothing after
 * it), at most PAYMENT_MAX_DATA bytes. jansson's reason quotes the text near
 * the error, which in PIData may be the card number: secret leaves it out.
 */
static json_t *
payment_load(const void *bytes, size_t len, const char *what, int secret,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;

	if (bytes == NULL || len == 0) {
		errbuf_set(err, errlen, "%s is empty", what);
		return NULL;
	}
	if (len > PAYMENT_MAX_DATA) {
		errbuf_set(err, errlen, "%s is %zu bytes; the limit is %d",
		    what, len, PAYMENT_MAX_DATA);
		return NULL;
	}
	if ((o = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (secret)
			errbuf_set(err, errlen, "%s is not JSON (column %d)",
			    what, jerr.column);
		else
			errbuf_set(err, errlen,
			    "%s is not JSON: %s (column %d)", what, jerr.text,
			    jerr.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		errbuf_set(err, errlen, "%s is not a JSON object", what);
		json_decref(o);
		return NULL;
	}
	return o;
}

int
payment_hod(const char *od, long long amount, const char *currency,
    const char *od_salt, char out[65])
{
	json_t *o;
	char *s, *hex;

	if (od == NULL || currency == NULL || od_salt == NULL ||
	    !payment_amount_ok(amount) || !payment_currency_ok(currency) ||
	    !payment_is_hex(od_salt, 32))
		return -1;
	/* json_pack refuses an order description that is not UTF-8. */
	if ((o = json_pack("{s:I, s:s, s:s, s:s}", "amount", (json_int_t)amount,
	         "currency", currency, "od", od, "od_salt", od_salt)) == NULL)
		return -1;
	s = payment_dump(o, "HODInput", NULL, 0);
	json_decref(o);
	if (s == NULL)
		return -1;
	hex = hex_sha256(s, strlen(s));
	memcpy(out, hex, 65);
	free(hex);
	free(s);
	return 0;
}

void
payment_pi_clear(struct payment_pi *pi)
{
	OPENSSL_cleanse(pi, sizeof(*pi));
}

char *
payment_oi_bytes(const struct payment_oi *oi, char *err, size_t errlen)
{
	json_t *o;
	char *s;

	if (payment_fields_check(oi, payment_oi_fields,
	        PAYMENT_NFIELDS(payment_oi_fields), "OIData", err,
	        errlen) == -1)
		return NULL;
	o = payment_fields_pack(
	    oi, payment_oi_fields, PAYMENT_NFIELDS(payment_oi_fields));
	s = payment_dump(o, "OIData", err, errlen);
	json_decref(o);
	return s;
}

char *
payment_pi_bytes(const struct payment_pi *pi, char *err, size_t errlen)
{
	json_t *o;
	char *s;

	if (payment_fields_check(pi, payment_head_fields,
	        PAYMENT_NFIELDS(payment_head_fields), "PIHead", err,
	        errlen) == -1 ||
	    payment_fields_check(pi, payment_pan_fields,
	        PAYMENT_NFIELDS(payment_pan_fields), "PANData", err,
	        errlen) == -1)
		return NULL;
	o = json_pack("{s:o, s:o}", "head",
	    payment_fields_pack(
	        pi, payment_head_fields, PAYMENT_NFIELDS(payment_head_fields)),
	    "pan",
	    payment_fields_pack(
	        pi, payment_pan_fields, PAYMENT_NFIELDS(payment_pan_fields)));
	s = payment_dump(o, "PIData", err, errlen);
	json_decref(o);
	return s;
}

int
payment_oi_parse(const void *bytes, size_t len, struct payment_oi *out,
    char *err, size_t errlen)
{
	json_t *o;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((o = payment_load(bytes, len, "OIData", 0, err, errlen)) == NULL)
		goto done;
	if (payment_fields_parse(o, payment_oi_fields,
	        PAYMENT_NFIELDS(payment_oi_fields), out, "OIData", 0, err,
	        errlen) == -1)
		goto done;
	rc = 0;
done:
	if (rc == -1)
		memset(out, 0, sizeof(*out));
	json_decref(o);
	return rc;
}

int
payment_pi_parse(const void *bytes, size_t len, struct payment_pi *out,
    char *err, size_t errlen)
{
	json_t *o;
	const char *key;
	json_t *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((o = payment_load(bytes, len, "PIData", 1, err, errlen)) == NULL)
		goto done;
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "head") != 0 && strcmp(key, "pan") != 0) {
			errbuf_set(err, errlen,
			    "PIData: only \"head\" and \"pan\" are allowed");
			goto done;
		}
	}
	if (json_object_get(o, "head") == NULL ||
	    json_object_get(o, "pan") == NULL) {
		errbuf_set(
		    err, errlen, "PIData: \"head\" or \"pan\" is missing");
		goto done;
	}
	if (payment_fields_parse(json_object_get(o, "head"),
	        payment_head_fields, PAYMENT_NFIELDS(payment_head_fields), out,
	        "PIHead", 1, err, errlen) == -1 ||
	    payment_fields_parse(json_object_get(o, "pan"), payment_pan_fields,
	        PAYMENT_NFIELDS(payment_pan_fields), out, "PANData", 1, err,
	        errlen) == -1)
		goto done;
	rc = 0;
done:
	if (rc != 0)
		payment_pi_clear(out);
	json_decref(o);
	return rc;
}

/* The fields both halves carry must agree, or the wallet signs nothing. */
static int
payment_agree(const struct payment_oi *oi, const struct payment_pi *pi,
    char *err, size_t errlen)
{
	const char *what = NULL;

	if (strncmp(oi->xid, pi->xid, sizeof(oi->xid)) != 0)
		what = "xid";
	else if (strncmp(oi->hod, pi->hod, sizeof(oi->hod)) != 0)
		what = "hod";
	else if (strncmp(oi->merchant, pi->merchant, sizeof(oi->merchant)) != 0)
		what = "merchant";
	else if (strncmp(oi->brand, pi->brand, sizeof(oi->brand)) != 0)
		what = "brand";
	else if (strncmp(oi->lid_m, pi->lid_m, sizeof(oi->lid_m)) != 0)
		what = "lid_m";
	if (what == NULL)
		return 0;
	errbuf_set(err, errlen,
	    "PReq: the order and the payment instruction differ in \"%s\"",
	    what);
	return -1;
}

json_t *
payment_preq_new(const struct payment_oi *oi, const struct payment_pi *pi,
    X509 *gateway_kex, X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    char *err, size_t errlen)
{
	char *oidata = NULL, *pidata = NULL, *hpi = NULL;
	char *oi64 = NULL, *pi64 = NULL, *sig64 = NULL;
	unsigned char *sig = NULL, *sealed = NULL;
	size_t siglen = 0, sealedlen = 0;
	json_t *body = NULL;

	if (gateway_kex == NULL || cert == NULL || key == NULL) {
		errbuf_set(err, errlen,
		    "PReq: no gateway certificate or cardholder key");
		goto done;
	}
	if ((oidata = payment_oi_bytes(oi, err, errlen)) == NULL ||
	    (pidata = payment_pi_bytes(pi, err, errlen)) == NULL ||
	    payment_agree(oi, pi, err, errlen) == -1)
		goto done;
	if (dualsig_sign(pidata, strlen(pidata), oidata, strlen(oidata),
	        oi->merchant, oi->xid, cert, key, chain, &sig, &siglen, err,
	        errlen) == -1)
		goto done;
	if (cms_seal(pidata, strlen(pidata), gateway_kex, &sealed, &sealedlen,
	        err, errlen) == -1)
		goto done;
	/* What the merchant's verifier accepts, the wallet must not exceed. */
	if (sealedlen > PAYMENT_MAX_PI || siglen > PAYMENT_MAX_DUALSIG) {
		errbuf_set(err, errlen,
		    "PReq: the sealed PI (%zu bytes) or the dual signature "
		    "(%zu bytes) is too large",
		    sealedlen, siglen);
		goto done;
	}
	hpi = hex_sha256(pidata, strlen(pidata));
	oi64 = base64_encode(oidata, strlen(oidata));
	pi64 = base64_encode(sealed, sealedlen);
	sig64 = base64_encode(sig, siglen);
	body = json_pack("{s:s, s:s, s:s, s:s}", "dualsig", sig64, "hpi", hpi,
	    "oidata", oi64, "pi", pi64);
	if (body == NULL)
		errbuf_set(err, errlen, "PReq: cannot build the body");
done:
	free(oidata);
	if (pidata != NULL)
		freezero_buf(pidata, strlen(pidata));
	free(hpi);
	free(oi64);
	free(pi64);
	free(sig64);
	free(sig);
	free(sealed);
	return body;
}

/* A base64 string member decoded, 1..max bytes; xmalloc'd. */
static unsigned char *
payment_b64(json_t *body, const char *key, size_t max, size_t *len, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(body, key);
	unsigned char *p;
	size_t n;

	if (!json_is_string(v)) {
		errbuf_set(err, errlen,
		    "PReq: \"%s\" is missing or not a string", key);
		return NULL;
	}
	n = json_string_length(v);
	if (n > 4 * ((max + 2) / 3)) {
		errbuf_set(err, errlen, "PReq: \"%s\" is larger than %zu bytes",
		    key, max);
		return NULL;
	}
	if ((p = base64_decode(json_string_value(v), n, len)) == NULL) {
		errbuf_set(
		    err, errlen, "PReq: \"%s\" is not valid base64", key);
		return NULL;
	}
	if (*len == 0 || *len > max) {
		errbuf_set(err, errlen, "PReq: \"%s\" must hold 1-%zu bytes",
		    key, max);
		free(p);
		return NULL;
	}
	return p;
}

int
payment_preq_verify(json_t *body, const char *merchant_id,
    struct payment_preq *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "dualsig", "hpi", "oidata", "pi" };
	const char *key, *hpi;
	char why[256];
	json_t *v;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (merchant_id == NULL) {
		errbuf_set(err, errlen, "PReq: no merchant id");
		goto done;
	}
	if (!json_is_object(body)) {
		errbuf_set(err, errlen, "PReq: the body is not a JSON object");
		goto done;
	}
	json_object_foreach(body, key, v)
	{
		for (i = 0; i < PAYMENT_NFIELDS(keys); i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == PAYMENT_NFIELDS(keys)) {
			errbuf_set(err, errlen,
			    "PReq: only \"dualsig\", \"hpi\", \"oidata\" and "
			    "\"pi\" are allowed");
			goto done;
		}
	}
	hpi = json_string_value(json_object_get(body, "hpi"));
	if (hpi == NULL || !payment_is_hex(hpi, 64) ||
	    hex_decode(hpi, out->hpi, sizeof(out->hpi)) == -1) {
		errbuf_set(err, errlen,
		    "PReq: \"hpi\" must be 64 lower-case hex digits");
		goto done;
	}
	if ((out->oidata = payment_b64(body, "oidata", PAYMENT_MAX_DATA,
	         &out->oilen, err, errlen)) == NULL ||
	    (out->pi = payment_b64(body, "pi", PAYMENT_MAX_PI, &out->pilen, err,
	         errlen)) == NULL ||
	    (out->dualsig = payment_b64(body, "dualsig", PAYMENT_MAX_DUALSIG,
	         &out->siglen, err, errlen)) == NULL)
		goto done;
	if (payment_oi_parse(
	        out->oidata, out->oilen, &out->oi, why, sizeof(why)) == -1) {
		errbuf_set(err, errlen, "PReq: %s", why);
		goto done;
	}
	if (strcmp(out->oi.merchant, merchant_id) != 0) {
		errbuf_set(
		    err, errlen, "PReq: the order is for another merchant");
		goto done;
	}
	if (dualsig_verify_oi(out->dualsig, out->siglen, out->oidata,
	        out->oilen, out->hpi, merchant_id, out->oi.xid,
	        &out->cardholder, &out->certs, why, sizeof(why)) == -1) {
		errbuf_set(err, errlen,
		    "PReq: the dual signature does not verify: %s", why);
		rc = PAYMENT_ERR_SIGNATURE;
		goto done;
	}
	dualsig_hash(out->oidata, out->oilen, out->hoi);
	rc = 0;
done:
	if (rc != 0)
		payment_preq_clear(out);
	return rc;
}

void
payment_preq_clear(struct payment_preq *p)
{
	free(p->oidata);
	free(p->pi);
	free(p->dualsig);
	X509_free(p->cardholder);
	sk_X509_pop_free(p->certs, X509_free);
	memset(p, 0, sizeof(*p));
}

int
payment_pi_open(const unsigned char *pi, size_t pilen, X509 *kex_cert,
    EVP_PKEY *kex_key, const unsigned char *dualsig, size_t siglen,
    const unsigned char hoi[32], const char *merchant_id, const char *xid,
    struct payment_pi *out, unsigned char hpi[32], X509 **cardholder,
    STACK_OF(X509) **certs, char *err, size_t errlen)
{
	unsigned char *pidata = NULL;
	size_t pidatalen = 0;
	X509 *signer = NULL;
	STACK_OF(X509) *sk = NULL;
	char why[256];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (hpi != NULL)
		memset(hpi, 0, 32);
	if (cardholder != NULL)
		*cardholder = NULL;
	if (certs != NULL)
		*certs = NULL;
	if (pi == NULL || dualsig == NULL || hoi == NULL ||
	    merchant_id == NULL || xid == NULL) {
		errbuf_set(err, errlen,
		    "PI: no PI, dual signature, H(OIData), merchant or XID");
		goto done;
	}
	if (pilen > PAYMENT_MAX_PI || siglen > PAYMENT_MAX_DUALSIG) {
		errbuf_set(err, errlen,
		    "PI: the sealed PI or the dual signature is too large");
		goto done;
	}
	if (cms_open(pi, pilen, kex_cert, kex_key, &pidata, &pidatalen, why,
	        sizeof(why)) == -1) {
		errbuf_set(
		    err, errlen, "PI: the envelope does not open: %s", why);
		rc = PAYMENT_ERR_ENVELOPE;
		goto done;
	}
	/* Verify the bytes as they came out of the envelope, then parse. */
	if (dualsig_verify_pi(dualsig, siglen, pidata, pidatalen, hoi,
	        merchant_id, xid, &signer, &sk, why, sizeof(why)) == -1) {
		errbuf_set(err, errlen,
		    "PI: the dual signature does not verify: %s", why);
		rc = PAYMENT_ERR_SIGNATURE;
		goto done;
	}
	if (payment_pi_parse(pidata, pidatalen, out, err, errlen) == -1)
		goto done;
	/* The signature binds the AuthReq's merchant and XID to these bytes;
	 * the head must name the same ones. */
	if (strcmp(out->xid, xid) != 0 ||
	    strcmp(out->merchant, merchant_id) != 0) {
		errbuf_set(err, errlen,
		    "PI: the payment instruction names another transaction or "
		    "merchant");
		goto done;
	}
	if (hpi != NULL)
		dualsig_hash(pidata, pidatalen, hpi);
	if (cardholder != NULL) {
		*cardholder = signer;
		signer = NULL;
	}
	if (certs != NULL) {
		*certs = sk;
		sk = NULL;
	}
	rc = 0;
done:
	if (rc != 0)
		payment_pi_clear(out);
	if (pidata != NULL)
		freezero_buf(pidata, pidatalen);
	X509_free(signer);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

int
payment_pan_matches(const struct payment_pi *pi, X509 *cardholder)
{
	X509_NAME *name;
	const ASN1_STRING *cn;
	char want[65];
	int i, ok;

	if (pi == NULL || cardholder == NULL ||
	    (name = X509_get_subject_name(cardholder)) == NULL)
		return 0;
	/* Exactly one CN: a second one could hide the first. */
	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return 0;
	cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if (cn == NULL || ASN1_STRING_length(cn) != 64)
		return 0;
	if (memchr(pi->pan, '\0', sizeof(pi->pan)) == NULL ||
	    memchr(pi->expiry, '\0', sizeof(pi->expiry)) == NULL ||
	    pan_cert_hash(pi->pan_secret, pi->pan, pi->expiry, want) == -1)
		return 0;
	ok = CRYPTO_memcmp(ASN1_STRING_get0_data(cn), want, 64) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
