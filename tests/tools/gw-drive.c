/*
 * gw-drive: plays the cardholder's wallet AND the merchant against the real
 * payment gateway, so the gateway can be tested (and attacked) before the
 * merchant daemon exists.
 *
 *	wallet		registers a card with the CA (register_card(),
 *			common/register.h), or reuses one kept in --card-dir;
 *			builds OIData and PIData, dual-signs them and seals
 *			the PI to the gateway (payment_preq_new)
 *	merchant	loads its enrollment folder (set-enroll output),
 *			fetches the gateway's certificates (PCertReq),
 *			verifies the PReq as a merchant does
 *			(payment_preq_verify) and sends the AuthReq, signed
 *			and sealed, over mutual TLS with its signature
 *			certificate
 *
 * One option selects an attack; the outcome is printed as one line:
 * "approved AUTHCODE", "declined REASON" or "error CODE: reason". Exit
 * status: 0 approved, 1 declined or refused, 2 usage, 3 the driver could
 * not set itself up (files, card registration).
 *
 * The gateway's TLS certificate is checked to the root (chain, time, host
 * name) without CRLs, as every party does for the CA: the SET checks are on
 * the messages, and the PCertRes carries the CRLs its certificates need.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "base64.h"
#include "cms.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "msg.h"
#include "pan.h"
#include "payment.h"
#include "pki.h"
#include "register.h"
#include "testcard.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

enum { EXIT_APPROVED = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_SETUP = 3 };

static const char usage[] =
    "usage: gw-drive --gateway HOST:PORT --root ROOT.pem --merchant DIR\n"
    "                --brand BRAND [card] [purchase] [attack] [--save DIR]\n"
    "card:     --ca HOST:PORT --card PAN --expiry YYYY-MM [--cvv CVV]\n"
    "          [--name NAME] [--postcode CODE] [--card-dir DIR]\n"
    "          (--card-dir keeps the registered card and reuses it)\n"
    "purchase: [--amount MINOR] [--currency EUR] [--order TEXT]\n"
    "attack:   --tamper-amount   the merchant asks for another amount\n"
    "          --tamper-order    the merchant changes the HOD\n"
    "          --swap-pi         the PI of another purchase\n"
    "          --replay-pi       the same PI in a new AuthReq\n"
    "          --pan OTHER       the PI carries another card number\n"
    "          --repeat          the same AuthReq bytes twice\n"
    "          --double          a second payment for an authorized XID\n"
    "          --stale           an AuthReq dated 15 minutes ago\n"
    "          --malformed       hostile input of every kind; PASS/FAIL "
    "lines\n"
    "other:    --resend FILE     send a saved AuthReq again (a retry)\n"
    "          --pcert-only      only fetch the gateway's certificates\n"
    "          --tls-merchant DIR  TLS client certificate from another\n"
    "                            merchant folder (the SET signature stays\n"
    "                            --merchant's)\n"
    "          --timeout SECONDS (default 30)\n"
    "--save DIR writes authreq.wire and authres.wire (the exact bytes).\n"
    "Prints \"approved AUTHCODE\", \"declined REASON\" or \"error CODE: "
    "reason\".\n";

struct drive {
	/* options */
	char *gw_host, *ca_host;
	int gw_port, ca_port, timeout;
	const char *root_file, *merchant_dir, *tls_dir, *brand;
	const char *card_pan, *expiry, *cvv, *name, *postcode, *card_dir;
	const char *other_pan, *order, *currency, *save_dir, *resend;
	long long amount;
	int tamper_amount, tamper_order, swap_pi, replay_pi, repeat, stale;
	int malformed, pcert_only, double_pay;
	/* the merchant */
	X509 *sig, *kex;
	EVP_PKEY *sigkey, *kexkey;
	STACK_OF(X509) *chain;
	char *kex_thumb;
	char merchant[65];
	SSL_CTX *ssl;
	struct pki *tls_pki;
	/* the gateway, from PCertRes */
	X509 *gw_sig, *gw_kex;
	/* the card */
	X509 *card;
	EVP_PKEY *card_key;
	STACK_OF(X509) *card_chain;
	unsigned char pan_secret[PAN_SECRET_LEN];
	/* results */
	int failures;
};

/* One purchase, as the wallet and the merchant hold it. */
struct purchase {
	struct payment_oi oi;
	struct payment_pi pi;
	struct payment_preq mp; /* the merchant's view of the PReq */
};

static void drive_setup_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2))) __attribute__((noreturn));

static void
drive_setup_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("gw-drive: setup: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SETUP);
}

static int
drive_hostport(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');

	if (colon == NULL || colon == s || atoi(colon + 1) <= 0)
		return -1;
	*host = xstrndup(s, (size_t)(colon - s));
	*port = atoi(colon + 1);
	return 0;
}

static int
drive_tls_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

static char *
drive_path(const char *dir, const char *file)
{
	return xasprintf("%s/%s", dir, file);
}

/* The merchant's enrollment folder: keys, certificates, chain. */
static void
drive_load_merchant(struct drive *d)
{
	char err[256], *p;
	X509 *tls_cert = NULL;
	EVP_PKEY *tls_key = NULL;
	STACK_OF(X509) *tls_chain = NULL;

#define DRIVE_LOAD(dst, fn, dir, file)                                         \
	do {                                                                   \
		p = drive_path(dir, file);                                     \
		if ((dst = fn(p, err, sizeof(err))) == NULL)                   \
			drive_setup_fail("%s", err);                           \
		free(p);                                                       \
	} while (0)
	DRIVE_LOAD(d->sig, setcert_read_cert, d->merchant_dir, "sig.pem");
	DRIVE_LOAD(d->sigkey, setcert_read_key, d->merchant_dir, "sig.key");
	DRIVE_LOAD(d->kex, setcert_read_cert, d->merchant_dir, "kex.pem");
	DRIVE_LOAD(d->kexkey, setcert_read_key, d->merchant_dir, "kex.key");
	DRIVE_LOAD(d->chain, setcert_read_certs, d->merchant_dir, "chain.pem");
	if (d->tls_dir != NULL) {
		DRIVE_LOAD(tls_cert, setcert_read_cert, d->tls_dir, "sig.pem");
		DRIVE_LOAD(tls_key, setcert_read_key, d->tls_dir, "sig.key");
		DRIVE_LOAD(
		    tls_chain, setcert_read_certs, d->tls_dir, "chain.pem");
	}
#undef DRIVE_LOAD
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(d->sig),
	        NID_commonName, d->merchant, sizeof(d->merchant)) <= 0)
		drive_setup_fail("the merchant certificate has no CN");
	d->kex_thumb = setcert_thumbprint(d->kex);
	d->tls_pki = pki_new();
	if (pki_load_certs(d->tls_pki, d->root_file, 1, err, sizeof(err)) == -1)
		drive_setup_fail("%s", err);
	pki_set_crl_check(d->tls_pki, 0);
	d->ssl = tls_client_ctx(tls_cert ? tls_cert : d->sig,
	    tls_key ? tls_key : d->sigkey, tls_chain ? tls_chain : d->chain,
	    drive_tls_verify_cb, d->tls_pki, err, sizeof(err));
	if (d->ssl == NULL)
		drive_setup_fail("TLS: %s", err);
	X509_free(tls_cert);
	EVP_PKEY_free(tls_key);
	sk_X509_pop_free(tls_chain, X509_free);
}

static void
drive_write(const char *dir, const char *file, const void *p, size_t len)
{
	char *path = drive_path(dir, file);
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0)
		drive_setup_fail("%s: cannot write", path);
	free(path);
}

/* The wallet's card: kept from an earlier run, or registered now. */
static void
drive_card(struct drive *d)
{
	struct register_params rp;
	struct register_result rr;
	char err[512];

	if (d->card_pan == NULL || d->expiry == NULL)
		drive_setup_fail("--card and --expiry are required");
	memset(&rp, 0, sizeof(rp));
	rp.host = d->ca_host;
	rp.port = d->ca_port;
	rp.root_file = d->root_file;
	rp.brand = d->brand;
	rp.pan = d->card_pan;
	rp.expiry = d->expiry;
	rp.cvv = d->cvv;
	rp.name = d->name;
	rp.postcode = d->postcode;
	rp.timeout = d->timeout;
	if (testcard_get(&rp, d->card_dir, &rr, err, sizeof(err)) == -1)
		drive_setup_fail("card: %s", err);
	d->card = rr.cert;
	d->card_key = rr.key;
	d->card_chain = rr.chain;
	memcpy(d->pan_secret, rr.pan_secret, PAN_SECRET_LEN);
	rr.cert = NULL;
	rr.key = NULL;
	rr.chain = NULL;
	register_result_clear(&rr);
}

/* POST /set. 0 with the response, or -1 with the reason. */
static int
drive_post(struct drive *d, const char *wire, size_t len, struct http_resp *r,
    char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	return http_request(d->ssl, d->gw_host, d->gw_port, "POST", "/set",
	    "application/json", wire, len, d->timeout, r, err, errlen);
}

static int
drive_kex_cb(const char *thumbprint, X509 **cert, EVP_PKEY **key, void *arg)
{
	struct drive *d = arg;

	if (strcmp(thumbprint, d->kex_thumb) != 0)
		return -1;
	*cert = d->kex;
	*key = d->kexkey;
	return 0;
}

static X509 *
drive_b64_cert(json_t *v)
{
	const char *s = json_string_value(v);
	unsigned char *der;
	size_t n;
	X509 *x;

	if (s == NULL || (der = base64_decode(s, strlen(s), &n)) == NULL)
		return NULL;
	x = setcert_from_der(der, n);
	free(der);
	return x;
}

/* Prints the outcome of an Error reply; returns EXIT_REFUSED. */
static int
drive_error(struct msg *m)
{
	const char *code = json_string_value(json_object_get(m->json, "code"));
	const char *why = json_string_value(json_object_get(m->json, "reason"));

	printf("error %s: %s\n", code ? code : "?", why ? why : "");
	return EXIT_REFUSED;
}

/*
 * PCertReq: the gateway's signature and key-exchange certificates for the
 * brand, checked as the merchant must: the response is signed by the
 * signature certificate, both are the gateway's (role pgwy) for this
 * brand, chained to our root, with the CRLs the response carries.
 */
static int
drive_pcert(struct drive *d)
{
	struct http_resp r;
	struct msg m;
	struct msg_error e;
	struct pki *pki = pki_new();
	json_t *body = json_pack("{s:s}", "brand", d->brand), *v;
	STACK_OF(X509) *cas = sk_X509_new_null();
	char *wire = NULL, err[512], cn1[128], cn2[128];
	unsigned char *der;
	size_t len, i;
	X509 *x;
	X509_CRL *crl;
	int rc = EXIT_REFUSED;

	memset(&m, 0, sizeof(m));
	if (msg_build("PCertReq", NULL, body, d->sig, d->sigkey, d->chain, NULL,
	        &wire, &len, err, sizeof(err)) == -1)
		drive_setup_fail("PCertReq: %s", err);
	if (drive_post(d, wire, len, &r, err, sizeof(err)) == -1) {
		printf("error transport: PCertReq: %s\n", err);
		goto done;
	}
	if (msg_parse(r.body, r.len, NULL, NULL, &m, &e) == -1) {
		printf("error bad-reply: PCertReq: HTTP %d: %s\n", r.status,
		    e.reason);
		http_resp_clear(&r);
		goto done;
	}
	http_resp_clear(&r);
	if (strcmp(m.type, "Error") == 0) {
		rc = drive_error(&m);
		goto done;
	}
	if (strcmp(m.type, "PCertRes") != 0) {
		printf("error bad-reply: PCertReq answered by %s\n", m.type);
		goto done;
	}
	if (pki_load_certs(pki, d->root_file, 1, err, sizeof(err)) == -1)
		drive_setup_fail("%s", err);
	json_array_foreach(json_object_get(m.json, "ca_certs"), i, v)
	{
		if ((x = drive_b64_cert(v)) == NULL)
			continue;
		pki_add_ca(pki, x);
		sk_X509_push(cas, x);
	}
	json_array_foreach(json_object_get(m.json, "crls"), i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL ||
		    (der = base64_decode(s, strlen(s), &len)) == NULL)
			continue;
		if ((crl = setcert_crl_from_der(der, len)) != NULL &&
		    pki_set_crl(pki, crl, err, sizeof(err)) == -1)
			fprintf(stderr, "gw-drive: PCertRes CRL: %s\n", err);
		X509_CRL_free(crl);
		free(der);
	}
	d->gw_sig = drive_b64_cert(json_object_get(m.json, "sig_cert"));
	d->gw_kex = drive_b64_cert(json_object_get(m.json, "kex_cert"));
	if (d->gw_sig == NULL || d->gw_kex == NULL) {
		printf("error bad-reply: PCertRes without certificates\n");
		goto done;
	}
	if (X509_cmp(m.signer, d->gw_sig) != 0) {
		printf("error bad-reply: PCertRes not signed by the gateway "
		       "certificate it carries\n");
		goto done;
	}
	if (pki_verify(pki, d->gw_sig, cas, SETCERT_PGWY, SETCERT_SIGN,
	        d->brand, NULL, err, sizeof(err)) != PKI_OK ||
	    pki_verify(pki, d->gw_kex, cas, SETCERT_PGWY, SETCERT_KEYEX,
	        d->brand, NULL, err, sizeof(err)) != PKI_OK) {
		printf("error bad-reply: the gateway's certificates do not "
		       "verify: %s\n",
		    err);
		goto done;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(d->gw_sig),
	        NID_commonName, cn1, sizeof(cn1)) <= 0 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(d->gw_kex),
	        NID_commonName, cn2, sizeof(cn2)) <= 0 ||
	    strcmp(cn1, cn2) != 0) {
		printf("error bad-reply: the gateway's two certificates name "
		       "different gateways\n");
		goto done;
	}
	rc = EXIT_APPROVED;
done:
	msg_clear(&m);
	json_decref(body);
	free(wire);
	sk_X509_pop_free(cas, X509_free);
	pki_free(pki);
	return rc;
}

/*
 * A purchase: the order, the wallet's PReq, the merchant's check of it.
 * xid NULL: a new transaction.
 */
static void
drive_purchase(
    struct drive *d, const char *pan, const char *xid, struct purchase *p)
{
	char err[256], *s;
	json_t *preq;

	memset(p, 0, sizeof(*p));
#define DRIVE_HEX(dst, n)                                                      \
	do {                                                                   \
		s = hex_random(n);                                             \
		snprintf(dst, sizeof(dst), "%s", s);                           \
		free(s);                                                       \
	} while (0)
	DRIVE_HEX(p->oi.xid, 20);
	if (xid != NULL)
		snprintf(p->oi.xid, sizeof(p->oi.xid), "%s", xid);
	DRIVE_HEX(p->oi.chall_c, 20);
	DRIVE_HEX(p->oi.chall_m, 20);
	DRIVE_HEX(p->oi.od_salt, 16);
	DRIVE_HEX(p->pi.nonce, 16);
	s = hex_random(4);
	snprintf(p->oi.lid_m, sizeof(p->oi.lid_m), "order-%s", s);
	free(s);
#undef DRIVE_HEX
	snprintf(p->oi.lid_c, sizeof(p->oi.lid_c), "wallet-1");
	snprintf(p->oi.brand, sizeof(p->oi.brand), "%s", d->brand);
	snprintf(p->oi.merchant, sizeof(p->oi.merchant), "%s", d->merchant);
	if (payment_hod(d->order, d->amount, d->currency, p->oi.od_salt,
	        p->oi.hod) == -1)
		drive_setup_fail("bad --amount, --currency or --order");
	memcpy(p->pi.xid, p->oi.xid, sizeof(p->pi.xid));
	memcpy(p->pi.lid_m, p->oi.lid_m, sizeof(p->pi.lid_m));
	memcpy(p->pi.hod, p->oi.hod, sizeof(p->pi.hod));
	memcpy(p->pi.merchant, p->oi.merchant, sizeof(p->pi.merchant));
	memcpy(p->pi.brand, p->oi.brand, sizeof(p->pi.brand));
	snprintf(p->pi.currency, sizeof(p->pi.currency), "%s", d->currency);
	p->pi.amount = d->amount;
	snprintf(p->pi.pan, sizeof(p->pi.pan), "%s", pan);
	snprintf(p->pi.expiry, sizeof(p->pi.expiry), "%s", d->expiry);
	snprintf(p->pi.cvv, sizeof(p->pi.cvv), "%s", d->cvv ? d->cvv : "");
	memcpy(p->pi.pan_secret, d->pan_secret, PAN_SECRET_LEN);

	/* The wallet. */
	if ((preq = payment_preq_new(&p->oi, &p->pi, d->gw_kex, d->card,
	         d->card_key, d->card_chain, err, sizeof(err))) == NULL)
		drive_setup_fail("wallet: %s", err);
	/* The merchant: its half of the dual signature. */
	if (payment_preq_verify(preq, d->merchant, &p->mp, err, sizeof(err)) !=
	    0)
		drive_setup_fail("merchant: the PReq does not verify: %s", err);
	json_decref(preq);
}

static void
purchase_clear(struct purchase *p)
{
	payment_pi_clear(&p->pi);
	payment_preq_clear(&p->mp);
}

/* The AuthReq body the merchant sends for a purchase. */
static json_t *
drive_authreq_body(struct drive *d, struct purchase *p, struct purchase *pi_of)
{
	char *hoi = hex_encode(p->mp.hoi, 32);
	char *pi = base64_encode(pi_of->mp.pi, pi_of->mp.pilen);
	char *sig = base64_encode(p->mp.dualsig, p->mp.siglen);
	unsigned char *der;
	size_t len;
	char *kex, hod[65];
	long long amount = d->amount;
	json_t *body;

	der = setcert_der(d->kex, &len);
	kex = base64_encode(der, len);
	free(der);
	memcpy(hod, p->oi.hod, sizeof(hod));
	if (d->tamper_amount)
		amount += 100;
	if (d->tamper_order &&
	    payment_hod("another order, changed by the merchant", d->amount,
	        d->currency, p->oi.od_salt, hod) == -1)
		drive_setup_fail("cannot compute a tampered HOD");
	body = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "xid", p->oi.xid, "lid_m", p->oi.lid_m, "hod", hod, "amount",
	    (json_int_t)amount, "currency", d->currency, "brand", d->brand,
	    "hoi", hoi, "pi", pi, "dualsig", sig, "merchant_kex", kex);
	free(hoi);
	free(pi);
	free(sig);
	free(kex);
	return body;
}

/*
 * A sealed, signed message dated `date`: msg_build() always dates a message
 * now, so an old one is put together here the way msg.h describes.
 */
static char *
drive_forge(struct drive *d, const char *type, json_t *body, const char *date,
    size_t *len)
{
	json_t *b = json_deep_copy(body), *inner, *outer;
	char *bytes, *innertext, *b64, *sig64, *thumb, *wire, err[256];
	char *rrpid = hex_random(20);
	unsigned char *sig, *der;
	size_t siglen, derlen;

	json_object_set_new(b, "msg", json_string(type));
	json_object_set_new(b, "rrpid", json_string(rrpid));
	json_object_set_new(b, "date", json_string(date));
	bytes = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	if (cms_sign(bytes, strlen(bytes), msg_type_nid(type), d->sig,
	        d->sigkey, d->chain, 1, &sig, &siglen, err, sizeof(err)) == -1)
		drive_setup_fail("forge: %s", err);
	b64 = base64_encode(bytes, strlen(bytes));
	sig64 = base64_encode(sig, siglen);
	inner = json_pack("{s:s, s:s}", "body", b64, "sig", sig64);
	innertext = json_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS);
	if (cms_seal(innertext, strlen(innertext), d->gw_kex, &der, &derlen,
	        err, sizeof(err)) == -1)
		drive_setup_fail("forge: %s", err);
	free(b64);
	b64 = base64_encode(der, derlen);
	thumb = setcert_thumbprint(d->gw_kex);
	outer = json_pack("{s:i, s:s, s:s, s:s, s:s}", "set", 1, "type", type,
	    "rrpid", rrpid, "to", thumb, "sealed", b64);
	wire = json_dumps(outer, JSON_COMPACT | JSON_SORT_KEYS);
	*len = strlen(wire);
	json_decref(b);
	json_decref(inner);
	json_decref(outer);
	free(bytes);
	free(innertext);
	free(b64);
	free(sig64);
	free(thumb);
	free(rrpid);
	free(sig);
	free(der);
	return wire;
}

/* Builds a signed AuthReq sealed to the gateway: a fresh RRPID. */
static char *
drive_authreq(struct drive *d, json_t *body, size_t *len)
{
	char *wire, err[256], *date;
	time_t then;
	struct tm tm;
	char buf[32];

	if (d->stale) {
		then = time(NULL) - 15 * 60;
		gmtime_r(&then, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		date = buf;
		return drive_forge(d, "AuthReq", body, date, len);
	}
	if (msg_build("AuthReq", NULL, body, d->sig, d->sigkey, d->chain,
	        d->gw_kex, &wire, len, err, sizeof(err)) == -1)
		drive_setup_fail("AuthReq: %s", err);
	return wire;
}

/*
 * Sends an AuthReq and reads the answer as the merchant does: an AuthRes
 * must be sealed to our key-exchange certificate and signed by the
 * gateway's signature certificate (from PCertRes). Prints the outcome line
 * unless quiet; *reply (optional) gets the raw reply bytes.
 */
static int
drive_send(struct drive *d, const char *wire, size_t len, const char *xid,
    int quiet, char **reply, size_t *replylen)
{
	struct http_resp r;
	struct msg m;
	struct msg_error e;
	char err[512], line[1024];
	const char *status, *code, *token, *why;
	int rc = EXIT_REFUSED;

	memset(&m, 0, sizeof(m));
	if (reply != NULL)
		*reply = NULL;
	if (drive_post(d, wire, len, &r, err, sizeof(err)) == -1) {
		snprintf(line, sizeof(line), "error transport: %s", err);
		goto done;
	}
	if (reply != NULL) {
		*reply = xmemdup(r.body, r.len + 1);
		*replylen = r.len;
	}
	if (msg_parse(r.body, r.len, drive_kex_cb, d, &m, &e) == -1) {
		snprintf(line, sizeof(line), "error bad-reply: HTTP %d: %s: %s",
		    r.status, e.code, e.reason);
		http_resp_clear(&r);
		goto done;
	}
	http_resp_clear(&r);
	if (strcmp(m.type, "Error") == 0) {
		code = json_string_value(json_object_get(m.json, "code"));
		why = json_string_value(json_object_get(m.json, "reason"));
		snprintf(line, sizeof(line), "error %s: %s", code ? code : "?",
		    why ? why : "");
		goto done;
	}
	if (strcmp(m.type, "AuthRes") != 0 || !m.sealed ||
	    X509_cmp(m.signer, d->gw_sig) != 0) {
		snprintf(line, sizeof(line),
		    "error bad-reply: %s, not an AuthRes sealed to us and "
		    "signed by the gateway",
		    m.type);
		goto done;
	}
	status = json_string_value(json_object_get(m.json, "status"));
	if (xid != NULL &&
	    (json_string_value(json_object_get(m.json, "xid")) == NULL ||
	        strcmp(json_string_value(json_object_get(m.json, "xid")),
	            xid) != 0)) {
		snprintf(line, sizeof(line),
		    "error bad-reply: the AuthRes names another XID");
		goto done;
	}
	if (status != NULL && strcmp(status, "approved") == 0) {
		code = json_string_value(json_object_get(m.json, "auth_code"));
		token =
		    json_string_value(json_object_get(m.json, "capture_token"));
		if (code == NULL || token == NULL) {
			snprintf(line, sizeof(line),
			    "error bad-reply: approved without an "
			    "authorization code and capture token");
			goto done;
		}
		snprintf(line, sizeof(line), "approved %s", code);
		rc = EXIT_APPROVED;
	} else if (status != NULL && strcmp(status, "declined") == 0) {
		code = json_string_value(json_object_get(m.json, "reason"));
		snprintf(line, sizeof(line), "declined %s", code ? code : "?");
	} else
		snprintf(line, sizeof(line), "error bad-reply: status %s",
		    status ? status : "missing");
done:
	if (!quiet)
		printf("%s\n", line);
	else
		fprintf(stderr, "gw-drive: %s\n", line);
	msg_clear(&m);
	return rc;
}

/* --malformed: hostile input of every kind; each must be an Error. */
static void
drive_expect(struct drive *d, const char *what, const void *body, size_t len,
    const char *want)
{
	struct http_resp r;
	struct msg m;
	struct msg_error e;
	char err[512];
	const char *code = NULL;

	memset(&m, 0, sizeof(m));
	if (http_request(d->ssl, d->gw_host, d->gw_port, "POST", "/set",
	        "application/json", body, len, d->timeout, &r, err,
	        sizeof(err)) == -1) {
		printf("FAIL: gateway: %s\n    no answer: %s\n", what, err);
		d->failures++;
		return;
	}
	if (msg_parse(r.body, r.len, drive_kex_cb, d, &m, &e) == 0 &&
	    strcmp(m.type, "Error") == 0)
		code = json_string_value(json_object_get(m.json, "code"));
	if (r.status >= 400 && code != NULL && strcmp(code, want) == 0)
		printf("PASS: gateway: %s\n", what);
	else {
		printf("FAIL: gateway: %s\n    HTTP %d, code %s (wanted %s)\n",
		    what, r.status, code ? code : "-", want);
		d->failures++;
	}
	http_resp_clear(&r);
	msg_clear(&m);
}

static void
drive_expect_authreq(struct drive *d, const char *what, json_t *body,
    const char *field, json_t *value, const char *want)
{
	json_t *b = json_deep_copy(body);
	char *wire;
	size_t len;

	if (value != NULL)
		json_object_set_new(b, field, value);
	else
		json_object_del(b, field);
	wire = drive_authreq(d, b, &len);
	drive_expect(d, what, wire, len, want);
	free(wire);
	json_decref(b);
}

static int
drive_malformed(struct drive *d, struct purchase *p)
{
	json_t *body = drive_authreq_body(d, p, p);
	char *wire, err[256], *big, *thumb;
	size_t len;
	X509 *save;

	drive_expect(
	    d, "not JSON is refused", "hello, gateway", 14, "malformed");
	drive_expect(d, "a JSON array is refused", "[1,2]", 5, "malformed");
	drive_expect(d, "an unknown message type is refused",
	    "{\"set\":1,\"type\":\"Nonsense\",\"rrpid\":"
	    "\"00112233445566778899\"}",
	    strlen("{\"set\":1,\"type\":\"Nonsense\",\"rrpid\":"
	           "\"00112233445566778899\"}"),
	    "malformed");
	drive_expect(d, "a signed type without a signature is refused",
	    "{\"set\":1,\"type\":\"AuthReq\",\"rrpid\":"
	    "\"00112233445566778899\",\"body\":\"e30=\"}",
	    strlen("{\"set\":1,\"type\":\"AuthReq\",\"rrpid\":"
	           "\"00112233445566778899\",\"body\":\"e30=\"}"),
	    "bad-signature");
	drive_expect(d, "bad base64 in a sealed envelope is refused",
	    "{\"set\":1,\"type\":\"AuthReq\",\"rrpid\":"
	    "\"00112233445566778899\",\"to\":\"00\",\"sealed\":\"@@@\"}",
	    strlen(
	        "{\"set\":1,\"type\":\"AuthReq\",\"rrpid\":"
	        "\"00112233445566778899\",\"to\":\"00\",\"sealed\":\"@@@\"}"),
	    "unknown-recipient");
	thumb = setcert_thumbprint(d->gw_kex);
	big = xasprintf("{\"set\":1,\"type\":\"AuthReq\",\"rrpid\":"
	                "\"00112233445566778899\",\"to\":\"%s\","
	                "\"sealed\":\"AAAAAAAA\"}",
	    thumb);
	free(thumb);
	drive_expect(d, "CMS that does not parse is refused", big, strlen(big),
	    "bad-envelope");
	free(big);

	/* Unsealed: signed, but not in the envelope. */
	if (msg_build("AuthReq", NULL, body, d->sig, d->sigkey, d->chain, NULL,
	        &wire, &len, err, sizeof(err)) == -1)
		drive_setup_fail("%s", err);
	drive_expect(d, "an AuthReq that is not sealed is refused", wire, len,
	    "malformed");
	free(wire);
	/* Sealed to the merchant's own key: not ours. */
	save = d->gw_kex;
	d->gw_kex = d->kex;
	wire = drive_authreq(d, body, &len);
	d->gw_kex = save;
	drive_expect(d, "an AuthReq sealed to someone else is refused", wire,
	    len, "unknown-recipient");
	free(wire);

	drive_expect_authreq(
	    d, "a missing xid is refused", body, "xid", NULL, "malformed");
	drive_expect_authreq(d, "an amount as a string is refused", body,
	    "amount", json_string("1999"), "malformed");
	drive_expect_authreq(d, "a fractional amount is refused", body,
	    "amount", json_real(19.99), "malformed");
	drive_expect_authreq(d, "a negative amount is refused", body, "amount",
	    json_integer(-5), "malformed");
	drive_expect_authreq(d, "a lower-case currency is refused", body,
	    "currency", json_string("eur"), "malformed");
	drive_expect_authreq(d, "bad base64 in pi is refused", body, "pi",
	    json_string("!!!!"), "malformed");
	drive_expect_authreq(d, "a PI that is not CMS is refused", body, "pi",
	    json_string("AAAAAAAAAAAA"), "bad-pi");
	drive_expect_authreq(d, "a dual signature that is not CMS is refused",
	    body, "dualsig", json_string("AAAAAAAAAAAA"), "bad-dual-signature");
	drive_expect_authreq(d, "a hoi that is not hex is refused", body, "hoi",
	    json_string("zz"), "malformed");
	drive_expect_authreq(d, "a wrong hoi breaks the dual signature", body,
	    "hoi",
	    json_string("00000000000000000000000000000000"
	                "00000000000000000000000000000000"),
	    "bad-dual-signature");
	drive_expect_authreq(d,
	    "a merchant_kex that is not a certificate is "
	    "refused",
	    body, "merchant_kex", json_string("AAAA"), "malformed");
	drive_expect_authreq(d, "an unknown field is refused", body, "extra",
	    json_string("x"), "malformed");
	drive_expect_authreq(d, "an unknown brand is refused", body, "brand",
	    json_string("Nobrand"), "unknown-brand");
	{
		unsigned char *der;
		char *b64;

		/* The merchant's signature certificate as its key-exchange
		 * one: wrong usage. */
		der = setcert_der(d->sig, &len);
		b64 = base64_encode(der, len);
		drive_expect_authreq(d,
		    "a signature certificate as merchant_kex is refused", body,
		    "merchant_kex", json_string(b64), "bad-merchant-kex");
		free(b64);
		free(der);
	}
	json_decref(body);
	return d->failures ? EXIT_REFUSED : EXIT_APPROVED;
}

static void
drive_save(struct drive *d, const char *file, const char *p, size_t len)
{
	if (d->save_dir == NULL || p == NULL)
		return;
	if (mkdir(d->save_dir, 0700) == -1 && errno != EEXIST)
		drive_setup_fail("%s: %s", d->save_dir, strerror(errno));
	drive_write(d->save_dir, file, p, len);
}

/* The attack or the plain purchase; returns the exit status. */
static int
drive_run(struct drive *d)
{
	struct purchase p, other;
	json_t *body;
	char *wire, *wire2, *reply = NULL, *reply2 = NULL;
	size_t len, len2, rlen = 0, rlen2 = 0;
	int rc;

	drive_purchase(d, d->other_pan ? d->other_pan : d->card_pan, NULL, &p);
	if (d->malformed) {
		rc = drive_malformed(d, &p);
		purchase_clear(&p);
		return rc;
	}
	if (d->swap_pi)
		drive_purchase(d, d->card_pan, NULL, &other);
	body = drive_authreq_body(d, &p, d->swap_pi ? &other : &p);
	wire = drive_authreq(d, body, &len);
	drive_save(d, "authreq.wire", wire, len);
	if (d->replay_pi) {
		/* The first AuthReq is honest; the second, with a new RRPID,
		 * carries the same PI. */
		if (drive_send(d, wire, len, p.oi.xid, 1, NULL, NULL) != 0)
			fprintf(stderr,
			    "gw-drive: the first AuthReq was not "
			    "approved\n");
		wire2 = drive_authreq(d, body, &len2);
		free(wire);
		wire = wire2;
		len = len2;
	}
	if (d->double_pay) {
		/* The first AuthReq is honest; the second is a new payment
		 * instruction for the same transaction. */
		if (drive_send(d, wire, len, p.oi.xid, 1, NULL, NULL) != 0)
			fprintf(stderr,
			    "gw-drive: the first AuthReq was not "
			    "approved\n");
		drive_purchase(d, d->card_pan, p.oi.xid, &other);
		json_decref(body);
		body = drive_authreq_body(d, &other, &other);
		free(wire);
		wire = drive_authreq(d, body, &len);
	}
	if (d->repeat) {
		drive_send(d, wire, len, p.oi.xid, 1, &reply, &rlen);
		rc = drive_send(d, wire, len, p.oi.xid, 0, &reply2, &rlen2);
		if (reply == NULL || reply2 == NULL || rlen != rlen2 ||
		    memcmp(reply, reply2, rlen) != 0) {
			printf("error repeat-differs: the same AuthReq got two "
			       "different answers\n");
			rc = EXIT_REFUSED;
		}
		free(reply);
		reply = reply2;
		rlen = rlen2;
	} else
		rc = drive_send(d, wire, len, p.oi.xid, 0, &reply, &rlen);
	drive_save(d, "authres.wire", reply, rlen);
	free(reply);
	free(wire);
	json_decref(body);
	purchase_clear(&p);
	if (d->swap_pi || d->double_pay)
		purchase_clear(&other);
	return rc;
}

/* --resend FILE: the merchant's retry, the same bytes and RRPID. */
static int
drive_resend(struct drive *d)
{
	FILE *f = fopen(d->resend, "r");
	char *wire = NULL, *reply = NULL;
	size_t cap = 0, len = 0, rlen = 0, n;
	int rc;

	if (f == NULL)
		drive_setup_fail("%s: %s", d->resend, strerror(errno));
	do {
		cap += 65536;
		wire = xrealloc(wire, cap + 1);
		n = fread(wire + len, 1, cap - len, f);
		len += n;
	} while (n > 0 && len == cap);
	fclose(f);
	wire[len] = '\0';
	rc = drive_send(d, wire, len, NULL, 0, &reply, &rlen);
	drive_save(d, "authres.wire", reply, rlen);
	free(reply);
	free(wire);
	return rc;
}

int
main(int argc, char **argv)
{
	enum {
		O_GATEWAY = 0x100,
		O_ROOT,
		O_MERCHANT,
		O_BRAND,
		O_CA,
		O_CARD,
		O_EXPIRY,
		O_CVV,
		O_NAME,
		O_POSTCODE,
		O_CARD_DIR,
		O_AMOUNT,
		O_CURRENCY,
		O_ORDER,
		O_TAMPER_AMOUNT,
		O_TAMPER_ORDER,
		O_SWAP_PI,
		O_REPLAY_PI,
		O_PAN,
		O_REPEAT,
		O_DOUBLE,
		O_STALE,
		O_MALFORMED,
		O_RESEND,
		O_PCERT_ONLY,
		O_TLS_MERCHANT,
		O_SAVE,
		O_TIMEOUT
	};
	static const struct option longopts[] = {
		{ "gateway", 1, NULL, O_GATEWAY }, { "root", 1, NULL, O_ROOT },
		{ "merchant", 1, NULL, O_MERCHANT },
		{ "brand", 1, NULL, O_BRAND }, { "ca", 1, NULL, O_CA },
		{ "card", 1, NULL, O_CARD }, { "expiry", 1, NULL, O_EXPIRY },
		{ "cvv", 1, NULL, O_CVV }, { "name", 1, NULL, O_NAME },
		{ "postcode", 1, NULL, O_POSTCODE },
		{ "card-dir", 1, NULL, O_CARD_DIR },
		{ "amount", 1, NULL, O_AMOUNT },
		{ "currency", 1, NULL, O_CURRENCY },
		{ "order", 1, NULL, O_ORDER },
		{ "tamper-amount", 0, NULL, O_TAMPER_AMOUNT },
		{ "tamper-order", 0, NULL, O_TAMPER_ORDER },
		{ "swap-pi", 0, NULL, O_SWAP_PI },
		{ "replay-pi", 0, NULL, O_REPLAY_PI },
		{ "pan", 1, NULL, O_PAN }, { "repeat", 0, NULL, O_REPEAT },
		{ "double", 0, NULL, O_DOUBLE }, { "stale", 0, NULL, O_STALE },
		{ "malformed", 0, NULL, O_MALFORMED },
		{ "resend", 1, NULL, O_RESEND },
		{ "pcert-only", 0, NULL, O_PCERT_ONLY },
		{ "tls-merchant", 1, NULL, O_TLS_MERCHANT },
		{ "save", 1, NULL, O_SAVE }, { "timeout", 1, NULL, O_TIMEOUT },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct drive d;
	char *end;
	int c, rc, attacks;

	memset(&d, 0, sizeof(d));
	d.amount = 1999;
	d.currency = "EUR";
	d.order = "1 x SET: Secure Electronic Transaction, Books 1-3";
	d.timeout = 30;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_GATEWAY:
			if (drive_hostport(optarg, &d.gw_host, &d.gw_port) ==
			    -1)
				goto usage;
			break;
		case O_CA:
			if (drive_hostport(optarg, &d.ca_host, &d.ca_port) ==
			    -1)
				goto usage;
			break;
		case O_ROOT:
			d.root_file = optarg;
			break;
		case O_MERCHANT:
			d.merchant_dir = optarg;
			break;
		case O_TLS_MERCHANT:
			d.tls_dir = optarg;
			break;
		case O_BRAND:
			d.brand = optarg;
			break;
		case O_CARD:
			d.card_pan = optarg;
			break;
		case O_EXPIRY:
			d.expiry = optarg;
			break;
		case O_CVV:
			d.cvv = optarg;
			break;
		case O_NAME:
			d.name = optarg;
			break;
		case O_POSTCODE:
			d.postcode = optarg;
			break;
		case O_CARD_DIR:
			d.card_dir = optarg;
			break;
		case O_AMOUNT:
			d.amount = strtoll(optarg, &end, 10);
			if (*end != '\0' || d.amount < 1)
				goto usage;
			break;
		case O_CURRENCY:
			d.currency = optarg;
			break;
		case O_ORDER:
			d.order = optarg;
			break;
		case O_TAMPER_AMOUNT:
			d.tamper_amount = 1;
			break;
		case O_TAMPER_ORDER:
			d.tamper_order = 1;
			break;
		case O_SWAP_PI:
			d.swap_pi = 1;
			break;
		case O_REPLAY_PI:
			d.replay_pi = 1;
			break;
		case O_PAN:
			d.other_pan = optarg;
			break;
		case O_REPEAT:
			d.repeat = 1;
			break;
		case O_DOUBLE:
			d.double_pay = 1;
			break;
		case O_STALE:
			d.stale = 1;
			break;
		case O_MALFORMED:
			d.malformed = 1;
			break;
		case O_RESEND:
			d.resend = optarg;
			break;
		case O_PCERT_ONLY:
			d.pcert_only = 1;
			break;
		case O_SAVE:
			d.save_dir = optarg;
			break;
		case O_TIMEOUT:
			d.timeout = atoi(optarg);
			if (d.timeout <= 0)
				goto usage;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			goto usage;
		}
	}
	attacks = d.tamper_amount + d.tamper_order + d.swap_pi + d.replay_pi +
	    (d.other_pan != NULL) + d.repeat + d.double_pay + d.stale +
	    d.malformed + (d.resend != NULL) + d.pcert_only;
	if (optind != argc || d.gw_host == NULL || d.root_file == NULL ||
	    d.merchant_dir == NULL || d.brand == NULL || attacks > 1)
		goto usage;
	log_init("gw-drive", 1, getenv("SET_VERBOSE") != NULL);

	drive_load_merchant(&d);
	if ((rc = drive_pcert(&d)) != EXIT_APPROVED || d.pcert_only) {
		if (rc == EXIT_APPROVED)
			printf("pcert %s\n", d.brand);
		goto done;
	}
	if (d.resend != NULL) {
		rc = drive_resend(&d);
		goto done;
	}
	drive_card(&d);
	rc = drive_run(&d);
done:
	X509_free(d.sig);
	X509_free(d.kex);
	EVP_PKEY_free(d.sigkey);
	EVP_PKEY_free(d.kexkey);
	sk_X509_pop_free(d.chain, X509_free);
	free(d.kex_thumb);
	SSL_CTX_free(d.ssl);
	pki_free(d.tls_pki);
	X509_free(d.gw_sig);
	X509_free(d.gw_kex);
	X509_free(d.card);
	EVP_PKEY_free(d.card_key);
	sk_X509_pop_free(d.card_chain, X509_free);
	OPENSSL_cleanse(d.pan_secret, sizeof(d.pan_secret));
	free(d.gw_host);
	free(d.ca_host);
	return rc;
usage:
	fputs(usage, stderr);
	return EXIT_USAGE;
}
