/*
 * mer-drive: plays the cardholder's wallet against the real merchant daemon,
 * so the merchant can be tested (and attacked) before the wallet's `buy`
 * exists.
 *
 *	card		registers a card with the CA (register_card(),
 *			common/register.h), or reuses one kept in --card-dir
 *	shopping	GET /catalog, POST /orders: the merchant's prices and
 *			order description
 *	PInitReq	-> PInitRes, checked as a wallet must: signed by a
 *			merchant signature certificate of the brand, echoing
 *			our challenge and LID-C; the gateway's key-exchange
 *			certificate a gateway's of the brand; all with chain,
 *			validity and current CRLs (the brand's from the CA,
 *			crlfetch, and those the PInitRes carries)
 *	PReq		OIData and PIData, dual-signed, the PI sealed to the
 *			gateway (payment_preq_new); -> PRes, checked: signed by
 *			the same merchant, echoing XID, LID-M and Chall-C
 *	InqReq		(--inquire XID) -> InqRes
 *
 * One option selects an attack or a variant; the outcome is printed as one
 * line: "authorized CODE", "declined REASON", "unresolved REASON",
 * "initiated XID" (--order, --pinit-only) or "error CODE: reason". Exit
 * status: 0 authorized (or initiated), 1 anything else, 2 usage, 3 the
 * driver could not set itself up (files, CA, card registration).
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
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base64.h"
#include "crlfetch.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "msg.h"
#include "pan.h"
#include "payment.h"
#include "pki.h"
#include "register.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_SETUP = 3 };

static const char usage[] =
    "usage: mer-drive --merchant HOST:PORT --root ROOT.pem --ca HOST:PORT\n"
    "                 --brand BRAND [card] [order] [variant] [--save DIR]\n"
    "card:     --card PAN --expiry YYYY-MM [--cvv CVV] [--name NAME]\n"
    "          [--postcode CODE] [--card-dir DIR]\n"
    "          (--card-dir keeps the registered card and reuses it)\n"
    "order:    [--item SKU:QTY ...] (default: one of the first item)\n"
    "          [--delivery standard|express] [--customer USER:PASS]\n"
    "variant:  --repeat          send the same PReq twice: the same PRes\n"
    "          --second-preq     then a new PReq for the same XID: refused\n"
    "          --tamper-oi       alter the OIData after signing\n"
    "          --wrong-chall     an OI with another merchant challenge\n"
    "          --wrong-amount    an OI whose HOD covers another amount\n"
    "          --pinit-only      stop after PInitRes: \"initiated XID\"\n"
    "          --order ORDER     PInitReq for an existing order, then stop\n"
    "          --inquire XID     only an InqReq for XID\n"
    "--save DIR writes order, xid, the PInitRes, PReq and PRes (wire, body,\n"
    "sig.der) and the dual signature with the PI-TBS bytes it covers, for\n"
    "`openssl cms -verify`.\n";

struct drive {
	const char *root_file, *brand, *save_dir, *card_dir;
	char *mer_host, *ca_host;
	int mer_port, ca_port, timeout;
	const char *card_pan, *expiry, *cvv, *name, *postcode;
	const char *items[64];
	size_t nitems;
	const char *delivery, *customer, *order_id, *inquire;
	int repeat, second, tamper_oi, wrong_chall, wrong_amount, pinit_only;
	X509 *root;
	struct pki *pki; /* root + the brand's CAs and CRLs */
	struct pki *tls_pki; /* the merchant's and CA's TLS: no CRLs */
	SSL_CTX *ssl;
	/* The card. */
	X509 *card;
	EVP_PKEY *card_key;
	STACK_OF(X509) *card_chain;
	unsigned char pan_secret[PAN_SECRET_LEN];
	/* The order, as POST /orders answered. */
	json_t *order;
	/* From PInitRes. */
	X509 *mer_sig, *gw_kex;
	char merchant[65], xid[41], chall_m[41], chall_c[41];
};

static void drive_setup_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
drive_setup_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("mer-drive: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SETUP);
}

static char *
drive_path(const char *dir, const char *file)
{
	return xasprintf("%s/%s", dir, file);
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

static void
drive_save(struct drive *d, const char *file, const void *p, size_t len)
{
	if (d->save_dir == NULL || p == NULL)
		return;
	if (mkdir(d->save_dir, 0700) == -1 && errno != EEXIST)
		drive_setup_fail("%s: %s", d->save_dir, strerror(errno));
	drive_write(d->save_dir, file, p, len);
}

static void
drive_save_str(struct drive *d, const char *file, const char *s)
{
	char *line = xasprintf("%s\n", s);

	drive_save(d, file, line, strlen(line));
	free(line);
}

/* A received message, for a third party: NAME.wire, NAME.body (the signed
 * bytes) and NAME.sig.der (the detached CMS SignedData). */
static void
drive_save_msg(struct drive *d, const char *name, const void *wire, size_t len)
{
	json_t *outer;
	const char *s;
	unsigned char *raw;
	size_t n;
	char *file;

	if (d->save_dir == NULL)
		return;
	file = xasprintf("%s.wire", name);
	drive_save(d, file, wire, len);
	free(file);
	if ((outer = json_loadb(wire, len, 0, NULL)) == NULL)
		return;
	if ((s = json_string_value(json_object_get(outer, "body"))) != NULL &&
	    (raw = base64_decode(s, strlen(s), &n)) != NULL) {
		file = xasprintf("%s.body", name);
		drive_save(d, file, raw, n);
		free(file);
		free(raw);
	}
	if ((s = json_string_value(json_object_get(outer, "sig"))) != NULL &&
	    (raw = base64_decode(s, strlen(s), &n)) != NULL) {
		file = xasprintf("%s.sig.der", name);
		drive_save(d, file, raw, n);
		free(file);
		free(raw);
	}
	json_decref(outer);
}

static void
drive_hostport(const char *opt, const char *arg, char **host, int *port)
{
	const char *colon = strrchr(arg, ':');

	if (colon == NULL || colon == arg || atoi(colon + 1) <= 0) {
		fprintf(stderr, "mer-drive: %s wants HOST:PORT\n", opt);
		exit(EXIT_USAGE);
	}
	*host = xstrndup(arg, (size_t)(colon - arg));
	*port = atoi(colon + 1);
}

/* TLS servers (the merchant, the CA) are checked to our root: chain, time,
 * host name. The SET checks are on the messages. */
static int
drive_tls_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

static void
drive_setup(struct drive *d)
{
	char err[512];

	if ((d->root = setcert_read_cert(d->root_file, err, sizeof(err))) ==
	    NULL)
		drive_setup_fail("%s", err);
	d->pki = pki_new();
	d->tls_pki = pki_new();
	pki_add_trusted(d->pki, d->root);
	pki_add_trusted(d->tls_pki, d->root);
	pki_set_crl_check(d->tls_pki, 0);
	if ((d->ssl = tls_client_ctx(NULL, NULL, NULL, drive_tls_cb, d->tls_pki,
	         err, sizeof(err))) == NULL)
		drive_setup_fail("TLS: %s", err);
	/* A wallet checks the merchant and the gateway with the brand's
	 * current CRLs: it learns them from the CA. */
	if (crlfetch_refresh(d->pki, d->root, d->ssl, d->ca_host, d->ca_port,
	        d->brand, d->timeout, err, sizeof(err)) == -1)
		drive_setup_fail("CRLs of %s from the CA: %s", d->brand, err);
}

/* The registered card, kept in --card-dir as gw-drive keeps it: card.pem,
 * card.key (0600), card-chain.pem, pan-secret (0600, hex). */
static int
drive_card_load(struct drive *d)
{
	char err[256], *p, buf[2 * PAN_SECRET_LEN + 2];
	FILE *f;
	int ok;

	p = drive_path(d->card_dir, "card.pem");
	ok = access(p, F_OK) == 0;
	if (ok && (d->card = setcert_read_cert(p, err, sizeof(err))) == NULL)
		drive_setup_fail("%s", err);
	free(p);
	if (!ok)
		return -1;
	p = drive_path(d->card_dir, "card.key");
	if ((d->card_key = setcert_read_key(p, err, sizeof(err))) == NULL)
		drive_setup_fail("%s", err);
	free(p);
	p = drive_path(d->card_dir, "card-chain.pem");
	if ((d->card_chain = setcert_read_certs(p, err, sizeof(err))) == NULL)
		drive_setup_fail("%s", err);
	free(p);
	p = drive_path(d->card_dir, "pan-secret");
	if ((f = fopen(p, "r")) == NULL || fgets(buf, sizeof(buf), f) == NULL ||
	    hex_decode(buf, d->pan_secret, PAN_SECRET_LEN) == -1)
		drive_setup_fail("%s: cannot read", p);
	fclose(f);
	free(p);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static void
drive_card_save(struct drive *d)
{
	char err[256], *p, *hex;
	X509 **certs;
	size_t n, i;
	int fd;

	if (mkdir(d->card_dir, 0700) == -1 && errno != EEXIST)
		drive_setup_fail("%s: %s", d->card_dir, strerror(errno));
	p = drive_path(d->card_dir, "card.key");
	if (setcert_write_key(p, d->card_key, err, sizeof(err)) == -1)
		drive_setup_fail("%s", err);
	free(p);
	p = drive_path(d->card_dir, "card.pem");
	if (setcert_write_pem(p, &d->card, 1, err, sizeof(err)) == -1)
		drive_setup_fail("%s", err);
	free(p);
	n = (size_t)sk_X509_num(d->card_chain);
	certs = xcalloc(n + 1, sizeof(*certs));
	for (i = 0; i < n; i++)
		certs[i] = sk_X509_value(d->card_chain, (int)i);
	p = drive_path(d->card_dir, "card-chain.pem");
	if (setcert_write_pem(p, certs, n, err, sizeof(err)) == -1)
		drive_setup_fail("%s", err);
	free(p);
	free(certs);
	p = drive_path(d->card_dir, "pan-secret");
	hex = hex_encode(d->pan_secret, PAN_SECRET_LEN);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
	    close(fd) == -1)
		drive_setup_fail("%s: cannot write", p);
	freezero_buf(hex, strlen(hex));
	free(p);
}

/* The wallet's card: kept from an earlier run, or registered now. */
static void
drive_card(struct drive *d)
{
	struct register_params rp;
	struct register_result rr;
	char err[512];
	int rc;

	if (d->card_pan == NULL || d->expiry == NULL)
		drive_setup_fail("--card and --expiry are required");
	if (d->card_dir != NULL && drive_card_load(d) == 0)
		return;
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
	rc = register_card(&rp, &rr, err, sizeof(err));
	if (rc == 2)
		drive_setup_fail("the card registration was rejected: %s: %s",
		    rr.code, rr.reason);
	if (rc != 0)
		drive_setup_fail("card registration: %s", err);
	d->card = rr.cert;
	d->card_key = rr.key;
	d->card_chain = rr.chain;
	memcpy(d->pan_secret, rr.pan_secret, PAN_SECRET_LEN);
	rr.cert = NULL;
	rr.key = NULL;
	rr.chain = NULL;
	register_result_clear(&rr);
	if (d->card_dir != NULL)
		drive_card_save(d);
}

/* One HTTP request to the merchant; the JSON answer, or NULL after
 * printing the outcome line. */
static json_t *
drive_json(struct drive *d, const char *method, const char *path, json_t *in,
    int *status)
{
	struct http_resp r;
	char *body = NULL, err[512];
	json_t *out = NULL;

	if (in != NULL)
		body = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
	if (http_request(d->ssl, d->mer_host, d->mer_port, method, path,
	        body ? "application/json" : NULL, body, body ? strlen(body) : 0,
	        d->timeout, &r, err, sizeof(err)) == -1) {
		printf("error transport: %s %s: %s\n", method, path, err);
		free(body);
		return NULL;
	}
	free(body);
	*status = r.status;
	if ((out = json_loadb((const char *)r.body, r.len, 0, NULL)) == NULL)
		printf("error bad-reply: %s %s: HTTP %d, not JSON\n", method,
		    path, r.status);
	http_resp_clear(&r);
	return out;
}

/* GET /catalog and POST /orders: the merchant prices the basket. */
static int
drive_order(struct drive *d)
{
	json_t *cat, *req, *items, *customer = NULL;
	const char *code, *why;
	char *sku, *colon;
	size_t i;
	int status;

	if ((cat = drive_json(d, "GET", "/catalog", NULL, &status)) == NULL)
		return -1;
	if (status != 200 ||
	    json_array_size(json_object_get(cat, "items")) == 0) {
		printf("error bad-reply: GET /catalog: HTTP %d, no items\n",
		    status);
		json_decref(cat);
		return -1;
	}
	items = json_array();
	if (d->nitems == 0)
		json_array_append_new(items,
		    json_pack("{s:O, s:i}", "sku",
		        json_object_get(
		            json_array_get(json_object_get(cat, "items"), 0),
		            "sku"),
		        "qty", 1));
	for (i = 0; i < d->nitems; i++) {
		sku = xstrdup(d->items[i]);
		if ((colon = strrchr(sku, ':')) == NULL)
			drive_setup_fail("--item wants SKU:QTY");
		*colon = '\0';
		json_array_append_new(items,
		    json_pack(
		        "{s:s, s:i}", "sku", sku, "qty", atoi(colon + 1)));
		free(sku);
	}
	json_decref(cat);
	if (d->customer != NULL) {
		sku = xstrdup(d->customer);
		if ((colon = strchr(sku, ':')) == NULL)
			drive_setup_fail("--customer wants USER:PASS");
		*colon = '\0';
		customer = json_pack(
		    "{s:s, s:s}", "username", sku, "password", colon + 1);
		free(sku);
	}
	req = json_pack("{s:o, s:{s:s, s:s, s:s}, s:s}", "items", items,
	    "delivery", "name", d->name ? d->name : "Alice Smith", "address",
	    "1 Rue de la Paix, 75002 Paris", "method",
	    d->delivery ? d->delivery : "standard", "brand", d->brand);
	if (customer != NULL)
		json_object_set_new(req, "customer", customer);
	d->order = drive_json(d, "POST", "/orders", req, &status);
	json_decref(req);
	if (d->order == NULL)
		return -1;
	if (status != 200) {
		code = json_string_value(json_object_get(d->order, "error"));
		why = json_string_value(json_object_get(d->order, "reason"));
		printf("error %s: %s\n", code ? code : "?", why ? why : "");
		return -1;
	}
	drive_save_str(d, "order",
	    json_string_value(json_object_get(d->order, "order_id")));
	return 0;
}

/* POST /set: the answer, parsed and its signature verified (its signer is
 * judged by the caller), or -1 after printing the outcome line. */
static int
drive_set(struct drive *d, const char *wire, size_t len, const char *want,
    const char *save, struct msg *m, unsigned char **raw, size_t *rawlen)
{
	struct http_resp r;
	struct msg_error e;
	char err[512];
	const char *code, *why;

	memset(m, 0, sizeof(*m));
	if (http_request(d->ssl, d->mer_host, d->mer_port, "POST", "/set",
	        "application/json", wire, len, d->timeout, &r, err,
	        sizeof(err)) == -1) {
		printf("error transport: %s\n", err);
		return -1;
	}
	drive_save_msg(d, save, r.body, r.len);
	if (msg_parse(r.body, r.len, NULL, NULL, m, &e) == -1) {
		printf("error bad-reply: HTTP %d: %s: %s\n", r.status, e.code,
		    e.reason);
		http_resp_clear(&r);
		return -1;
	}
	if (raw != NULL) {
		*raw = xmemdup(r.body, r.len);
		*rawlen = r.len;
	}
	http_resp_clear(&r);
	if (strcmp(m->type, "Error") == 0) {
		code = json_string_value(json_object_get(m->json, "code"));
		why = json_string_value(json_object_get(m->json, "reason"));
		printf("error %s: %s\n", code ? code : "?", why ? why : "");
		return -1;
	}
	if (strcmp(m->type, want) != 0) {
		printf("error bad-reply: %s answered with %s\n", want, m->type);
		return -1;
	}
	return 0;
}

static const char *
drive_field(struct msg *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m->json, key));

	return s != NULL ? s : "";
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

/* The merchant's signature on a response: a merchant of the brand, and
 * the same merchant as the PInitRes. */
static int
drive_check_merchant(struct drive *d, struct msg *m)
{
	char err[512], cn[128];

	if (m->signer == NULL ||
	    pki_verify(d->pki, m->signer, m->certs, SETCERT_MER, SETCERT_SIGN,
	        d->brand, NULL, err, sizeof(err)) != PKI_OK) {
		printf("error bad-reply: %s is not signed by a merchant of "
		       "%s: %s\n",
		    m->type, d->brand, m->signer ? err : "unsigned");
		return -1;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(m->signer),
	        NID_commonName, cn, sizeof(cn)) <= 0 ||
	    (d->merchant[0] != '\0' && strcmp(cn, d->merchant) != 0)) {
		printf("error bad-reply: %s is signed by merchant %s, not "
		       "%s\n",
		    m->type, cn, d->merchant);
		return -1;
	}
	return 0;
}

/* The gateway's certificates the PInitRes hands over. */
static int
drive_check_gateway(struct drive *d, json_t *gw)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	X509 *sig = NULL, *x;
	X509_CRL *crl;
	unsigned char *der;
	size_t len, i;
	json_t *v;
	char err[512], cn1[128], cn2[128];
	int rc = -1;

	json_array_foreach(json_object_get(gw, "ca_certs"), i, v)
	{
		if ((x = drive_b64_cert(v)) == NULL)
			continue;
		pki_add_ca(d->pki, x);
		sk_X509_push(cas, x);
	}
	json_array_foreach(json_object_get(gw, "crls"), i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL ||
		    (der = base64_decode(s, strlen(s), &len)) == NULL)
			continue;
		/* Older than what crlfetch gave us: not taken, fine. */
		if ((crl = setcert_crl_from_der(der, len)) != NULL)
			pki_set_crl(d->pki, crl, err, sizeof(err));
		X509_CRL_free(crl);
		free(der);
	}
	d->gw_kex = drive_b64_cert(json_object_get(gw, "kex_cert"));
	sig = drive_b64_cert(json_object_get(gw, "sig_cert"));
	if (d->gw_kex == NULL || sig == NULL) {
		printf("error bad-reply: PInitRes without the gateway's "
		       "certificates\n");
		goto done;
	}
	if (pki_verify(d->pki, d->gw_kex, cas, SETCERT_PGWY, SETCERT_KEYEX,
	        d->brand, NULL, err, sizeof(err)) != PKI_OK ||
	    pki_verify(d->pki, sig, cas, SETCERT_PGWY, SETCERT_SIGN, d->brand,
	        NULL, err, sizeof(err)) != PKI_OK) {
		printf("error bad-reply: the gateway's certificates do not "
		       "verify: %s\n",
		    err);
		goto done;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(sig),
	        NID_commonName, cn1, sizeof(cn1)) <= 0 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(d->gw_kex),
	        NID_commonName, cn2, sizeof(cn2)) <= 0 ||
	    strcmp(cn1, cn2) != 0) {
		printf("error bad-reply: the gateway's two certificates name "
		       "different gateways\n");
		goto done;
	}
	rc = 0;
done:
	X509_free(sig);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

static void
drive_random(char *dst, size_t size, size_t nbytes)
{
	char *s = hex_random(nbytes);

	snprintf(dst, size, "%s", s);
	free(s);
}

/* PInitReq -> PInitRes, checked. */
static int
drive_pinit(struct drive *d, const char *order_id)
{
	struct msg m;
	json_t *body;
	char *wire = NULL, err[512];
	size_t len;
	int rc = -1;

	drive_random(d->chall_c, sizeof(d->chall_c), 20);
	body = json_pack("{s:s, s:s, s:s, s:s}", "order_id", order_id, "brand",
	    d->brand, "lid_c", "wallet-1", "chall_c", d->chall_c);
	if (msg_build("PInitReq", NULL, body, NULL, NULL, NULL, NULL, &wire,
	        &len, err, sizeof(err)) == -1)
		drive_setup_fail("PInitReq: %s", err);
	if (drive_set(d, wire, len, "PInitRes", "pinitres", &m, NULL, NULL) ==
	    -1)
		goto done;
	snprintf(d->merchant, sizeof(d->merchant), "%s",
	    drive_field(&m, "merchant"));
	if (drive_check_merchant(d, &m) == -1)
		goto done;
	if (strcmp(drive_field(&m, "chall_c"), d->chall_c) != 0 ||
	    strcmp(drive_field(&m, "lid_c"), "wallet-1") != 0 ||
	    strcmp(drive_field(&m, "lid_m"), order_id) != 0 ||
	    strcmp(drive_field(&m, "brand"), d->brand) != 0) {
		printf("error bad-reply: PInitRes does not echo our "
		       "challenge, LID-C, the order or the brand\n");
		goto done;
	}
	snprintf(d->xid, sizeof(d->xid), "%s", drive_field(&m, "xid"));
	snprintf(
	    d->chall_m, sizeof(d->chall_m), "%s", drive_field(&m, "chall_m"));
	if (strlen(d->xid) != 40 || strlen(d->chall_m) != 40) {
		printf("error bad-reply: PInitRes: XID or Chall-M malformed\n");
		goto done;
	}
	if (drive_check_gateway(d, json_object_get(m.json, "gateway")) == -1)
		goto done;
	X509_up_ref(m.signer);
	d->mer_sig = m.signer;
	drive_save_str(d, "xid", d->xid);
	rc = 0;
done:
	msg_clear(&m);
	json_decref(body);
	free(wire);
	return rc;
}

/* The PReq body: OI and PI for the order, dual-signed, PI sealed. */
static json_t *
drive_preq_body(struct drive *d, struct payment_oi *oi)
{
	struct payment_pi pi;
	const char *od = json_string_value(json_object_get(d->order, "od"));
	const char *cur =
	    json_string_value(json_object_get(d->order, "currency"));
	long long amount =
	    json_integer_value(json_object_get(d->order, "amount"));
	char err[512];
	json_t *body;

	memset(oi, 0, sizeof(*oi));
	memset(&pi, 0, sizeof(pi));
	if (d->wrong_amount)
		amount += 100;
	snprintf(oi->xid, sizeof(oi->xid), "%s", d->xid);
	snprintf(oi->lid_c, sizeof(oi->lid_c), "wallet-1");
	snprintf(oi->lid_m, sizeof(oi->lid_m), "%s",
	    json_string_value(json_object_get(d->order, "order_id")));
	snprintf(oi->chall_c, sizeof(oi->chall_c), "%s", d->chall_c);
	if (d->wrong_chall)
		drive_random(oi->chall_m, sizeof(oi->chall_m), 20);
	else
		snprintf(oi->chall_m, sizeof(oi->chall_m), "%s", d->chall_m);
	drive_random(oi->od_salt, sizeof(oi->od_salt), 16);
	snprintf(oi->brand, sizeof(oi->brand), "%s", d->brand);
	snprintf(oi->merchant, sizeof(oi->merchant), "%s", d->merchant);
	if (od == NULL || cur == NULL ||
	    payment_hod(od, amount, cur, oi->od_salt, oi->hod) == -1)
		drive_setup_fail("the order has no usable od/amount/currency");
	memcpy(pi.xid, oi->xid, sizeof(pi.xid));
	memcpy(pi.lid_m, oi->lid_m, sizeof(pi.lid_m));
	memcpy(pi.hod, oi->hod, sizeof(pi.hod));
	memcpy(pi.merchant, oi->merchant, sizeof(pi.merchant));
	memcpy(pi.brand, oi->brand, sizeof(pi.brand));
	snprintf(pi.currency, sizeof(pi.currency), "%s", cur);
	pi.amount = amount;
	snprintf(pi.pan, sizeof(pi.pan), "%s", d->card_pan);
	snprintf(pi.expiry, sizeof(pi.expiry), "%s", d->expiry);
	snprintf(pi.cvv, sizeof(pi.cvv), "%s", d->cvv ? d->cvv : "");
	drive_random(pi.nonce, sizeof(pi.nonce), 16);
	memcpy(pi.pan_secret, d->pan_secret, PAN_SECRET_LEN);
	body = payment_preq_new(oi, &pi, d->gw_kex, d->card, d->card_key,
	    d->card_chain, err, sizeof(err));
	payment_pi_clear(&pi);
	if (body == NULL)
		drive_setup_fail("wallet: %s", err);
	return body;
}

/* Alters one byte of the signed OIData: "wallet-1" becomes "wallet-2". */
static void
drive_tamper(json_t *body)
{
	const char *s = json_string_value(json_object_get(body, "oidata"));
	unsigned char *raw;
	size_t n;
	char *p, *b64;

	if (s == NULL || (raw = base64_decode(s, strlen(s), &n)) == NULL)
		drive_setup_fail("--tamper-oi: no OIData");
	raw = xrealloc(raw, n + 1);
	raw[n] = '\0';
	if ((p = strstr((char *)raw, "wallet-1")) == NULL)
		drive_setup_fail("--tamper-oi: LID-C not found");
	p[7] = '2';
	b64 = base64_encode(raw, n);
	json_object_set_new(body, "oidata", json_string(b64));
	free(b64);
	free(raw);
}

/* The PI-TBS bytes the dual signature covers, for `openssl cms`. */
static void
drive_save_dualsig(struct drive *d, json_t *body, const struct payment_oi *oi)
{
	const char *oid = json_string_value(json_object_get(body, "oidata"));
	const char *sig = json_string_value(json_object_get(body, "dualsig"));
	unsigned char *raw;
	char *hoi, *tbs;
	size_t n;
	json_t *t;

	if (d->save_dir == NULL || oid == NULL || sig == NULL)
		return;
	raw = base64_decode(oid, strlen(oid), &n);
	hoi = hex_sha256(raw, n);
	free(raw);
	t = json_pack("{s:s, s:O, s:s, s:s}", "hoi", hoi, "hpi",
	    json_object_get(body, "hpi"), "merchant", oi->merchant, "xid",
	    oi->xid);
	tbs = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
	drive_save(d, "preq.tbs", tbs, strlen(tbs));
	raw = base64_decode(sig, strlen(sig), &n);
	drive_save(d, "preq.dualsig.der", raw, n);
	free(raw);
	free(tbs);
	free(hoi);
	json_decref(t);
}

/* Prints the outcome of a PRes or InqRes; returns the exit status. */
static int
drive_outcome(struct drive *d, struct msg *m, const char *chall_c)
{
	const char *status = drive_field(m, "status");

	if (drive_check_merchant(d, m) == -1)
		return EXIT_REFUSED;
	if (strcmp(drive_field(m, "xid"), d->xid) != 0 ||
	    strcmp(drive_field(m, "chall_c"), chall_c) != 0) {
		printf("error bad-reply: %s does not echo the XID and our "
		       "challenge\n",
		    m->type);
		return EXIT_REFUSED;
	}
	if (strcmp(status, "authorized") == 0) {
		printf("authorized %s\n", drive_field(m, "auth_code"));
		return EXIT_OK;
	}
	if (strcmp(status, "declined") == 0 ||
	    strcmp(status, "unresolved") == 0)
		printf("%s %s\n", status, drive_field(m, "reason"));
	else
		printf("%s\n", status);
	return EXIT_REFUSED;
}

static int
drive_inquire(struct drive *d)
{
	struct msg m;
	json_t *body;
	char *wire = NULL, err[512], chall[41];
	size_t len;
	int rc = EXIT_REFUSED;

	snprintf(d->xid, sizeof(d->xid), "%s", d->inquire);
	drive_random(chall, sizeof(chall), 20);
	body = json_pack("{s:s, s:s}", "xid", d->inquire, "chall_c", chall);
	if (msg_build("InqReq", NULL, body, NULL, NULL, NULL, NULL, &wire, &len,
	        err, sizeof(err)) == -1)
		drive_setup_fail("InqReq: %s", err);
	if (drive_set(d, wire, len, "InqRes", "inqres", &m, NULL, NULL) == 0)
		rc = drive_outcome(d, &m, chall);
	msg_clear(&m);
	json_decref(body);
	free(wire);
	return rc;
}

/* The whole purchase. */
static int
drive_purchase(struct drive *d)
{
	struct payment_oi oi;
	struct msg m, m2;
	json_t *body = NULL, *body2 = NULL;
	char *wire = NULL, *wire2 = NULL, err[512];
	unsigned char *raw = NULL, *raw2 = NULL;
	size_t len, len2, rawlen, rawlen2;
	int rc = EXIT_REFUSED;

	memset(&m, 0, sizeof(m));
	memset(&m2, 0, sizeof(m2));
	if (d->order_id != NULL) {
		if (drive_pinit(d, d->order_id) == -1)
			return EXIT_REFUSED;
		printf("initiated %s\n", d->xid);
		return EXIT_OK;
	}
	drive_card(d);
	if (drive_order(d) == -1)
		return EXIT_REFUSED;
	if (drive_pinit(d,
	        json_string_value(json_object_get(d->order, "order_id"))) == -1)
		return EXIT_REFUSED;
	if (d->pinit_only) {
		printf("initiated %s\n", d->xid);
		return EXIT_OK;
	}
	body = drive_preq_body(d, &oi);
	if (d->tamper_oi)
		drive_tamper(body);
	drive_save_dualsig(d, body, &oi);
	if (msg_build("PReq", NULL, body, NULL, NULL, NULL, NULL, &wire, &len,
	        err, sizeof(err)) == -1)
		drive_setup_fail("PReq: %s", err);
	drive_save(d, "preq.wire", wire, len);
	if (drive_set(d, wire, len, "PRes", "pres", &m, &raw, &rawlen) == -1)
		goto done;
	if (d->repeat) {
		/* The same PReq again: the stored PRes, byte for byte. */
		if (drive_set(d, wire, len, "PRes", "pres2", &m2, &raw2,
		        &rawlen2) == -1)
			goto done;
		if (rawlen != rawlen2 || memcmp(raw, raw2, rawlen) != 0) {
			printf("error repeat-differs: the repeated PReq got "
			       "another PRes\n");
			goto done;
		}
	}
	if (d->second) {
		/* Another PReq for the same XID (a new RRPID, a new salt):
		 * a PReq produces at most one purchase. */
		rc = drive_outcome(d, &m, d->chall_c);
		fprintf(stderr, "mer-drive: first PReq: %s\n",
		    rc == EXIT_OK ? "authorized" : "not authorized");
		body2 = drive_preq_body(d, &oi);
		if (msg_build("PReq", NULL, body2, NULL, NULL, NULL, NULL,
		        &wire2, &len2, err, sizeof(err)) == -1)
			drive_setup_fail("PReq: %s", err);
		msg_clear(&m2);
		rc = EXIT_REFUSED;
		if (drive_set(
		        d, wire2, len2, "PRes", "pres2", &m2, NULL, NULL) == 0)
			printf("error accepted: a second PReq for XID %s was "
			       "answered with a PRes\n",
			    d->xid);
		goto done;
	}
	rc = drive_outcome(d, &m, d->chall_c);
done:
	msg_clear(&m);
	msg_clear(&m2);
	json_decref(body);
	json_decref(body2);
	free(wire);
	free(wire2);
	free(raw);
	free(raw2);
	return rc;
}

enum {
	O_MERCHANT = 256,
	O_ROOT,
	O_CA,
	O_BRAND,
	O_CARD,
	O_EXPIRY,
	O_CVV,
	O_NAME,
	O_POSTCODE,
	O_CARD_DIR,
	O_ITEM,
	O_DELIVERY,
	O_CUSTOMER,
	O_REPEAT,
	O_SECOND,
	O_TAMPER,
	O_WRONG_CHALL,
	O_WRONG_AMOUNT,
	O_PINIT_ONLY,
	O_ORDER,
	O_INQUIRE,
	O_SAVE,
	O_TIMEOUT
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "merchant", 1, NULL,
		                                      O_MERCHANT },
		{ "root", 1, NULL, O_ROOT }, { "ca", 1, NULL, O_CA },
		{ "brand", 1, NULL, O_BRAND }, { "card", 1, NULL, O_CARD },
		{ "expiry", 1, NULL, O_EXPIRY }, { "cvv", 1, NULL, O_CVV },
		{ "name", 1, NULL, O_NAME },
		{ "postcode", 1, NULL, O_POSTCODE },
		{ "card-dir", 1, NULL, O_CARD_DIR },
		{ "item", 1, NULL, O_ITEM },
		{ "delivery", 1, NULL, O_DELIVERY },
		{ "customer", 1, NULL, O_CUSTOMER },
		{ "repeat", 0, NULL, O_REPEAT },
		{ "second-preq", 0, NULL, O_SECOND },
		{ "tamper-oi", 0, NULL, O_TAMPER },
		{ "wrong-chall", 0, NULL, O_WRONG_CHALL },
		{ "wrong-amount", 0, NULL, O_WRONG_AMOUNT },
		{ "pinit-only", 0, NULL, O_PINIT_ONLY },
		{ "order", 1, NULL, O_ORDER },
		{ "inquire", 1, NULL, O_INQUIRE }, { "save", 1, NULL, O_SAVE },
		{ "timeout", 1, NULL, O_TIMEOUT }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct drive d;
	int c, rc;

	memset(&d, 0, sizeof(d));
	d.timeout = 20;
	log_init("mer-drive", 1, 0);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MERCHANT:
			drive_hostport(
			    "--merchant", optarg, &d.mer_host, &d.mer_port);
			break;
		case O_ROOT:
			d.root_file = optarg;
			break;
		case O_CA:
			drive_hostport("--ca", optarg, &d.ca_host, &d.ca_port);
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
		case O_ITEM:
			if (d.nitems == sizeof(d.items) / sizeof(d.items[0])) {
				fputs(usage, stderr);
				rc = EXIT_USAGE;
				goto done;
			}
			d.items[d.nitems++] = optarg;
			break;
		case O_DELIVERY:
			d.delivery = optarg;
			break;
		case O_CUSTOMER:
			d.customer = optarg;
			break;
		case O_REPEAT:
			d.repeat = 1;
			break;
		case O_SECOND:
			d.second = 1;
			break;
		case O_TAMPER:
			d.tamper_oi = 1;
			break;
		case O_WRONG_CHALL:
			d.wrong_chall = 1;
			break;
		case O_WRONG_AMOUNT:
			d.wrong_amount = 1;
			break;
		case O_PINIT_ONLY:
			d.pinit_only = 1;
			break;
		case O_ORDER:
			d.order_id = optarg;
			break;
		case O_INQUIRE:
			d.inquire = optarg;
			break;
		case O_SAVE:
			d.save_dir = optarg;
			break;
		case O_TIMEOUT:
			d.timeout = atoi(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			rc = EXIT_OK;
			goto done;
		default:
			fputs(usage, stderr);
			rc = EXIT_USAGE;
			goto done;
		}
	}
	if (optind != argc || d.mer_host == NULL || d.root_file == NULL ||
	    d.ca_host == NULL || d.brand == NULL || d.timeout < 1) {
		fputs(usage, stderr);
		rc = EXIT_USAGE;
		goto done;
	}
	drive_setup(&d);
	rc = d.inquire != NULL ? drive_inquire(&d) : drive_purchase(&d);
done:
	json_decref(d.order);
	X509_free(d.mer_sig);
	X509_free(d.gw_kex);
	X509_free(d.card);
	EVP_PKEY_free(d.card_key);
	sk_X509_pop_free(d.card_chain, X509_free);
	OPENSSL_cleanse(d.pan_secret, sizeof(d.pan_secret));
	SSL_CTX_free(d.ssl);
	pki_free(d.pki);
	pki_free(d.tls_pki);
	X509_free(d.root);
	free(d.mer_host);
	free(d.ca_host);
	return rc;
}
