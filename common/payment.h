/*
 * The cryptographic core of SET's purchase messages (Book 3, PReq), shared
 * by the wallet (builds a PReq), the merchant (verifies its half) and the
 * payment gateway (opens and verifies the payment instruction).
 *
 * Everything a party hashes or signs is bytes serialized once, compact JSON
 * with sorted keys; a receiver hashes the bytes it received, then parses
 * them. "hex" is lower-case hexadecimal throughout. Money is an integer
 * count of minor units plus an ISO 4217 currency.
 *
 * HODInput  {"amount":<int>,"currency":"EUR","od":"<order description>",
 *            "od_salt":"<32 hex>"}; HOD = hex SHA-256 of those bytes.
 * OIData    {"brand","chall_c","chall_m","hod","lid_c","lid_m","merchant",
 *            "od_salt","xid"}, all strings: what the merchant sees.
 * PIData    {"head":{"amount","brand","currency","hod","lid_m","merchant",
 *            "xid"},"pan":{"cvv"?,"expiry","nonce","pan","pan_secret"}}:
 *            what only the gateway sees; "cvv" is omitted when not given.
 * PReq body {"dualsig":"<base64 CMS>","hpi":"<hex SHA-256 of PIData>",
 *            "oidata":"<base64 OIData>","pi":"<base64 sealed PIData>"}
 *
 * The dual signature is dualsig_sign() over PIData and OIData for the
 * merchant id and XID (dualsig.h); the PI travels as cms_seal() of the
 * PIData bytes to the gateway's key-exchange certificate (cms.h).
 *
 * Formats: xid, chall_c, chall_m 40 hex; hod 64 hex; od_salt, nonce 32 hex;
 * pan_secret 64 hex (PAN_SECRET_LEN bytes); lid_c, lid_m, merchant 1-64 of
 * [A-Za-z0-9._-]; brand 1-32 of [A-Za-z0-9]; currency 3 upper-case
 * letters; amount 1..PAYMENT_MAX_AMOUNT; pan 13-19 digits, Luhn-valid;
 * expiry YYYY-MM; cvv 3-4 digits.
 *
 * Functions returning int give 0 (or -1 with a reason in err, which never
 * holds card data). Nothing passed in is taken over. Card data: PIData bytes
 * (payment_pi_bytes) and struct payment_pi hold the card number: wipe them
 * with freezero_buf() and payment_pi_clear(). jansson's own temporary copies
 * are freed without being wiped.
 */
#ifndef PAYMENT_H
#define PAYMENT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pan.h"

#define PAYMENT_MAX_AMOUNT 1000000000000LL

/*
 * How payment_preq_verify() and payment_pi_open() fail, so a receiver can
 * name the problem in its Error: anything malformed, a dual signature that
 * does not verify, a sealed PI that does not open.
 */
#define PAYMENT_ERR_MALFORMED (-1)
#define PAYMENT_ERR_SIGNATURE (-2)
#define PAYMENT_ERR_ENVELOPE (-3)

/* The largest OIData or PIData text accepted, and the largest sealed PI and
 * dual signature in a PReq (sizes once base64-decoded). */
#define PAYMENT_MAX_DATA 4096
#define PAYMENT_MAX_PI 16384
#define PAYMENT_MAX_DUALSIG 16384

/*
 * HOD of an order: out gets 64 hex chars + NUL. -1 on bad input (amount
 * out of 1..MAX, currency not 3 upper-case letters, salt not 32 hex, od
 * NULL or not UTF-8).
 */
int payment_hod(const char *od, long long amount, const char *currency,
    const char *od_salt, char out[65]);

/* Order information: every field a NUL-terminated string. */
struct payment_oi {
	char xid[41], lid_c[65], lid_m[65], chall_c[41], chall_m[41], hod[65],
	    od_salt[33], brand[33], merchant[65];
};

/* Payment instruction. */
struct payment_pi {
	/* head */
	char xid[41], lid_m[65], hod[65], merchant[65], brand[33], currency[4];
	long long amount;
	/* PANData (secret: wipe with payment_pi_clear) */
	char pan[20], expiry[8], cvv[5] /* "" when absent */, nonce[33];
	unsigned char pan_secret[PAN_SECRET_LEN];
};

/* OPENSSL_cleanse the whole struct. */
void payment_pi_clear(struct payment_pi *);

/*
 * Serializations (xmalloc'd, NUL-terminated; free() them, freezero_buf()
 * the PI bytes). Every field is validated first: NULL + reason when one is
 * malformed.
 */
char *payment_oi_bytes(const struct payment_oi *, char *err, size_t errlen);
char *payment_pi_bytes(const struct payment_pi *, char *err, size_t errlen);

/*
 * Strict parsers of received bytes (at most PAYMENT_MAX_DATA): a JSON
 * object with exactly these keys (unknown or duplicate keys refused), the
 * right types and formats; -1 + reason otherwise. On failure *out is all
 * zero.
 */
int payment_oi_parse(const void *bytes, size_t len, struct payment_oi *out,
    char *err, size_t errlen);
int payment_pi_parse(const void *bytes, size_t len, struct payment_pi *out,
    char *err, size_t errlen);

/*
 * Wallet: builds the PReq body (a new JSON object: caller json_decref's
 * it), or NULL + reason. Checks oi/pi agree (xid, hod, merchant, brand,
 * lid_m) before signing anything. gateway_kex is the gateway's key-exchange
 * certificate, which the caller has checked with its pki; cert, key and
 * chain (may be NULL) are the cardholder's, as for dualsig_sign(). All
 * borrowed.
 */
json_t *payment_preq_new(const struct payment_oi *oi,
    const struct payment_pi *pi, X509 *gateway_kex, X509 *cert, EVP_PKEY *key,
    STACK_OF(X509) *chain, char *err, size_t errlen);

/* Merchant: what it holds of a PReq. Owned; release with payment_preq_clear. */
struct payment_preq {
	unsigned char *oidata; /* the OIData bytes as received */
	size_t oilen;
	struct payment_oi oi; /* parsed */
	unsigned char hpi[32];
	unsigned char hoi[32]; /* SHA-256 of oidata, for the AuthReq */
	unsigned char *pi; /* the sealed PI: opaque baggage for the gateway */
	size_t pilen;
	unsigned char *dualsig;
	size_t siglen;
	/* From the dual signature; caller checks them with its pki. */
	X509 *cardholder;
	STACK_OF(X509) *certs;
};

/*
 * Decodes a PReq body (borrowed; strict: exactly those four fields, base64
 * valid, hpi 64 hex, sizes bounded: oidata <= PAYMENT_MAX_DATA, pi <=
 * PAYMENT_MAX_PI, dualsig <= PAYMENT_MAX_DUALSIG), parses OIData, requires
 * oi.merchant == merchant_id, and verifies the dual signature with
 * dualsig_verify_oi(oidata, hpi, merchant_id, oi.xid). It does NOT judge the
 * cardholder certificate (chain, role, CRLs) nor compare the OI with the
 * merchant's order (xid, challenges, hod): the caller does. On success out
 * owns its buffers and certificates; on failure out is all zero. Returns 0,
 * PAYMENT_ERR_SIGNATURE or PAYMENT_ERR_MALFORMED.
 */
int payment_preq_verify(json_t *body, const char *merchant_id,
    struct payment_preq *out, char *err, size_t errlen);

/* Frees what out holds and zeroes it. */
void payment_preq_clear(struct payment_preq *);

/*
 * Gateway: opens the sealed PI with its key-exchange certificate and key,
 * verifies the dual signature with dualsig_verify_pi(PIData bytes, hoi,
 * merchant_id, xid) where hoi, merchant_id and xid come from the merchant's
 * authorization request, parses PIData, and requires pi.head xid == xid and
 * merchant == merchant_id. The caller then checks the cardholder
 * certificate (pki), payment_pan_matches(), that the merchant's HOD and
 * amount equal the PI's, and that this PI was never seen before. *hpi gets
 * SHA-256 of the PIData bytes (a stable identity of the payment instruction
 * for replay detection). On success *cardholder (X509_free) and *certs
 * (sk_X509_pop_free(..., X509_free)) are the signer and the certificates the
 * signature carried; hpi, cardholder and certs may be NULL if unwanted. On
 * failure *out, *hpi are zero and *cardholder, *certs NULL. Returns 0,
 * PAYMENT_ERR_ENVELOPE, PAYMENT_ERR_SIGNATURE or PAYMENT_ERR_MALFORMED.
 */
int payment_pi_open(const unsigned char *pi, size_t pilen, X509 *kex_cert,
    EVP_PKEY *kex_key, const unsigned char *dualsig, size_t siglen,
    const unsigned char hoi[32], const char *merchant_id, const char *xid,
    struct payment_pi *out, unsigned char hpi[32], X509 **cardholder,
    STACK_OF(X509) **certs, char *err, size_t errlen);

/*
 * PAN blinding check: the certificate's subject has exactly one CN and it
 * equals pan_cert_hash(pi->pan_secret, pi->pan, pi->expiry). 1 or 0.
 */
int payment_pan_matches(const struct payment_pi *pi, X509 *cardholder);

#endif
