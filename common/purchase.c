/*
 * The cardholder's purchase client (see purchase.h for the exchange).
 *
 * The merchant is reached over TLS checked to our root; everything SET says
 * is judged on the messages themselves: each signer's certificate with its
 * chain, SET role, usage, brand and the brand's current CRLs (pki_verify),
 * and every echo of what we sent. Nothing here talks to a person or keeps a
 * card: the wallet (cardholder/purchase.c) asks, shows and logs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include "base64.h"
#include "crlfetch.h"
#include "hex.h"
#include "http.h"
#include "msg.h"
#include "payment.h"
#include "pki.h"
#include "purchase.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

/* Our local id of the transaction (LID-C). */
#define PURCHASE_LID_C "wallet-1"

struct purchase_session {
	char *host, *ca_host, *brand, *save_dir;
	int port, ca_port, timeout;
	X509 *root;
	struct pki *pki; /* root + the brand's CAs and CRLs */
	struct pki *tls_pki; /* TLS servers: chain and time, no CRLs */
	SSL_CTX *ssl;
	int crls; /* the brand's CRLs were fetched */
	json_t *order; /* as POST /orders answered, checked */
	/* From PInitRes. */
	X509 *gw_kex;
	char merchant[65], xid[41], chall_m[41], chall_c[41], lid_m[65];
	/* The last message of purchase_send, and the last answer. */
	char *wire;
	size_t wirelen;
	unsigned char *reply;
	size_t replylen;
	char code[64];
	char *err;
	size_t errlen;
};

static int purchase_fail(struct purchase_session *s, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
purchase_fail(
    struct purchase_session *s, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(s->code, sizeof(s->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
purchase_error_code(const struct purchase_session *s)
{
	return s->code;
}

/* Writes a file of the --save folder. */
static int
purchase_save(
    struct purchase_session *s, const char *file, const void *p, size_t len)
{
	char *path;
	FILE *f;
	int rc = 0;

	if (s->save_dir == NULL || p == NULL)
		return 0;
	if (mkdir(s->save_dir, 0700) == -1 && errno != EEXIST)
		return purchase_fail(
		    s, "local", "%s: %s", s->save_dir, strerror(errno));
	path = xasprintf("%s/%s", s->save_dir, file);
	if ((f = fopen(path, "w")) == NULL || fwrite(p, 1, len, f) != len) {
		rc = purchase_fail(s, "local", "%s: cannot write", path);
		if (f != NULL)
			fclose(f);
	} else if (fclose(f) != 0)
		rc = purchase_fail(s, "local", "%s: cannot write", path);
	free(path);
	return rc;
}

static int
purchase_save_line(struct purchase_session *s, const char *file, const char *v)
{
	char *line = xasprintf("%s\n", v);
	int rc = purchase_save(s, file, line, strlen(line));

	free(line);
	return rc;
}

/* One base64 field of a JSON object, decoded into NAME.EXT. */
static int
purchase_save_b64(struct purchase_session *s, json_t *o, const char *key,
    const char *name, const char *ext)
{
	const char *v = json_string_value(json_object_get(o, key));
	unsigned char *raw;
	char *file;
	size_t n;
	int rc;

	if (v == NULL || (raw = base64_decode(v, strlen(v), &n)) == NULL)
		return 0;
	file = xasprintf("%s.%s", name, ext);
	rc = purchase_save(s, file, raw, n);
	free(file);
	free(raw);
	return rc;
}

/* A received message, for a third party: NAME.wire, NAME.body (the signed
 * bytes) and NAME.sig.der (the detached CMS SignedData). */
static int
purchase_save_msg(
    struct purchase_session *s, const char *name, const void *wire, size_t len)
{
	json_t *outer;
	char *file;
	int rc;

	if (s->save_dir == NULL)
		return 0;
	file = xasprintf("%s.wire", name);
	rc = purchase_save(s, file, wire, len);
	free(file);
	if (rc == -1 || (outer = json_loadb(wire, len, 0, NULL)) == NULL)
		return rc;
	if (purchase_save_b64(s, outer, "body", name, "body") == -1 ||
	    purchase_save_b64(s, outer, "sig", name, "sig.der") == -1)
		rc = -1;
	json_decref(outer);
	return rc;
}

/* TLS servers (the merchant, the CA) are checked to our root: chain, time,
 * host name. The SET checks are on the messages. */
static int
purchase_tls_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

struct purchase_session *
purchase_session_new(const struct purchase_params *p, char *err, size_t errlen)
{
	struct purchase_session *s;
	X509 *root;

	err[0] = '\0';
	if (p->host == NULL || p->port <= 0 ||
	    (p->root_file == NULL && p->root == NULL)) {
		snprintf(err, errlen,
		    "a purchase needs the merchant and the root certificate");
		return NULL;
	}
	if (p->root_file != NULL) {
		if ((root = setcert_read_cert(p->root_file, err, errlen)) ==
		    NULL)
			return NULL;
	} else {
		root = p->root;
		X509_up_ref(root);
	}
	s = xcalloc(1, sizeof(*s));
	s->err = err;
	s->errlen = errlen;
	s->host = xstrdup(p->host);
	s->port = p->port;
	s->ca_host = p->ca_host ? xstrdup(p->ca_host) : NULL;
	s->ca_port = p->ca_port;
	s->brand = p->brand ? xstrdup(p->brand) : NULL;
	s->save_dir = p->save_dir ? xstrdup(p->save_dir) : NULL;
	s->timeout = p->timeout > 0 ? p->timeout : 30;
	s->root = root;
	s->pki = pki_new();
	s->tls_pki = pki_new();
	pki_add_trusted(s->pki, root);
	pki_add_trusted(s->tls_pki, root);
	pki_set_crl_check(s->tls_pki, 0);
	if ((s->ssl = tls_client_ctx(NULL, NULL, NULL, purchase_tls_cb,
	         s->tls_pki, err, errlen)) == NULL) {
		purchase_session_free(s);
		return NULL;
	}
	return s;
}

void
purchase_session_free(struct purchase_session *s)
{
	if (s == NULL)
		return;
	json_decref(s->order);
	X509_free(s->gw_kex);
	SSL_CTX_free(s->ssl);
	pki_free(s->pki);
	pki_free(s->tls_pki);
	X509_free(s->root);
	free(s->host);
	free(s->ca_host);
	free(s->brand);
	free(s->save_dir);
	free(s->wire);
	free(s->reply);
	free(s);
}

/* One HTTP request to the merchant's shop; its JSON answer, or NULL. */
static json_t *
purchase_json(struct purchase_session *s, const char *method, const char *path,
    json_t *in, int *status)
{
	struct http_resp r;
	char *body = NULL, err[512];
	json_t *out;

	if (in != NULL)
		body = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
	if (http_request(s->ssl, s->host, s->port, method, path,
	        body ? "application/json" : NULL, body, body ? strlen(body) : 0,
	        s->timeout, &r, err, sizeof(err)) == -1) {
		purchase_fail(s, "transport", "%s %s: %s", method, path, err);
		free(body);
		return NULL;
	}
	free(body);
	*status = r.status;
	if ((out = json_loadb((const char *)r.body, r.len, 0, NULL)) == NULL ||
	    !json_is_object(out)) {
		purchase_fail(s, "bad-reply",
		    "%s %s: HTTP %d, not a JSON object: is this a merchant?",
		    method, path, r.status);
		json_decref(out);
		out = NULL;
	}
	http_resp_clear(&r);
	return out;
}

/* A shop error {"error","reason"}: the merchant's code and words. */
static int
purchase_shop_error(
    struct purchase_session *s, const char *what, json_t *j, int status)
{
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *why = json_string_value(json_object_get(j, "reason"));

	if (code == NULL)
		return purchase_fail(s, "bad-reply",
		    "%s: HTTP %d without a reason: is this a merchant?", what,
		    status);
	return purchase_fail(s, code, "%s", why ? why : code);
}

/* Every item has a SKU, a name and an integer price. */
static int
purchase_catalog_ok(json_t *cat)
{
	json_t *v;
	size_t i;

	if (json_string_value(json_object_get(cat, "currency")) == NULL ||
	    json_array_size(json_object_get(cat, "items")) == 0)
		return 0;
	json_array_foreach(json_object_get(cat, "items"), i, v)
	{
		if (!json_is_string(json_object_get(v, "sku")) ||
		    !json_is_string(json_object_get(v, "name")) ||
		    !json_is_integer(json_object_get(v, "price")))
			return 0;
	}
	return 1;
}

json_t *
purchase_catalog(struct purchase_session *s)
{
	json_t *cat;
	int status;

	if ((cat = purchase_json(s, "GET", "/catalog", NULL, &status)) == NULL)
		return NULL;
	if (status != 200)
		purchase_shop_error(s, "GET /catalog", cat, status);
	else if (!purchase_catalog_ok(cat))
		purchase_fail(
		    s, "bad-reply", "GET /catalog: no items with prices");
	else
		return cat;
	json_decref(cat);
	return NULL;
}

static long long
purchase_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The merchant's order adds up: what the cardholder is shown is what the
 * HOD covers (the amount), line by line. */
static int
purchase_order_ok(struct purchase_session *s, json_t *o)
{
	json_t *items = json_object_get(o, "items"), *v;
	long long sum = 0, qty, unit, line, amount, dprice;
	const char *brand = json_string_value(json_object_get(o, "brand"));
	size_t i;

	if (json_string_value(json_object_get(o, "order_id")) == NULL ||
	    json_string_value(json_object_get(o, "od")) == NULL ||
	    json_string_value(json_object_get(o, "currency")) == NULL ||
	    json_array_size(items) == 0)
		return 0;
	if (s->brand != NULL && (brand == NULL || strcmp(brand, s->brand) != 0))
		return 0;
	json_array_foreach(items, i, v)
	{
		qty = purchase_int(v, "qty");
		unit = purchase_int(v, "unit_price");
		line = purchase_int(v, "line_total");
		if (qty < 1 || unit < 0 || unit > PAYMENT_MAX_AMOUNT ||
		    qty > 1000 || line != qty * unit ||
		    json_string_value(json_object_get(v, "sku")) == NULL)
			return 0;
		sum += line;
	}
	dprice = purchase_int(json_object_get(o, "delivery"), "price");
	amount = purchase_int(o, "amount");
	return dprice >= 0 && dprice <= PAYMENT_MAX_AMOUNT && amount >= 1 &&
	    amount <= PAYMENT_MAX_AMOUNT && sum + dprice == amount;
}

int
purchase_order(struct purchase_session *s, const struct purchase_basket *b)
{
	json_t *req, *items, *o;
	size_t i;
	int status;

	items = json_array();
	for (i = 0; i < b->nitems; i++)
		json_array_append_new(items,
		    json_pack("{s:s, s:I}", "sku", b->items[i].sku, "qty",
		        (json_int_t)b->items[i].qty));
	req = json_pack("{s:o, s:{s:s, s:s, s:s}, s:s}", "items", items,
	    "delivery", "name", b->name, "address", b->address, "method",
	    b->method ? b->method : "standard", "brand",
	    s->brand ? s->brand : "");
	if (req == NULL)
		return purchase_fail(s, "local", "the order is incomplete");
	if (b->username != NULL)
		json_object_set_new(req, "customer",
		    json_pack("{s:s, s:s}", "username", b->username, "password",
		        b->password ? b->password : ""));
	o = purchase_json(s, "POST", "/orders", req, &status);
	json_decref(req);
	if (o == NULL)
		return -1;
	if (status != 200) {
		purchase_shop_error(s, "POST /orders", o, status);
		json_decref(o);
		return -1;
	}
	if (!purchase_order_ok(s, o)) {
		json_decref(o);
		return purchase_fail(s, "bad-reply",
		    "the merchant's order does not add up (lines, delivery, "
		    "total) or is not for %s",
		    s->brand ? s->brand : "our brand");
	}
	json_decref(s->order);
	s->order = o;
	return purchase_save_line(
	    s, "order", json_string_value(json_object_get(o, "order_id")));
}

const json_t *
purchase_order_get(const struct purchase_session *s)
{
	return s->order;
}

const char *
purchase_xid(const struct purchase_session *s)
{
	return s->xid;
}

const char *
purchase_merchant(const struct purchase_session *s)
{
	return s->merchant;
}

const unsigned char *
purchase_reply(const struct purchase_session *s, size_t *len)
{
	*len = s->replylen;
	return s->reply;
}

/* The brand's CA certificates and current CRLs, once per session. */
static int
purchase_crls(struct purchase_session *s)
{
	char err[512];

	if (s->crls)
		return 0;
	if (s->brand == NULL || s->ca_host == NULL)
		return purchase_fail(s, "local",
		    "the brand and its CA are needed to check the merchant");
	/* The merchant and the gateway are checked with the brand's current
	 * CRLs: a wallet learns them from the CA. */
	if (crlfetch_refresh(s->pki, s->root, s->ssl, s->ca_host, s->ca_port,
	        s->brand, s->timeout, err, sizeof(err)) == -1)
		return purchase_fail(s, "transport",
		    "the current CRLs of %s from the CA: %s", s->brand, err);
	s->crls = 1;
	return 0;
}

/* POST /set: the answer, parsed and its signature verified (its signer is
 * judged by the caller); a SET Error becomes the merchant's code. */
static int
purchase_set(struct purchase_session *s, const char *wire, size_t len,
    const char *want, const char *save, struct msg *m)
{
	struct http_resp r;
	struct msg_error e;
	char err[512];
	const char *code, *why;
	int rc;

	memset(m, 0, sizeof(*m));
	if (http_request(s->ssl, s->host, s->port, "POST", "/set",
	        "application/json", wire, len, s->timeout, &r, err,
	        sizeof(err)) == -1)
		return purchase_fail(s, "transport", "%s", err);
	rc = purchase_save_msg(s, save, r.body, r.len);
	free(s->reply);
	s->reply = xmemdup(r.body, r.len);
	s->replylen = r.len;
	if (rc == 0 && msg_parse(r.body, r.len, NULL, NULL, m, &e) == -1)
		rc = purchase_fail(s, "bad-reply", "HTTP %d: %s: %s", r.status,
		    e.code, e.reason);
	http_resp_clear(&r);
	if (rc == -1)
		return -1;
	if (strcmp(m->type, "Error") == 0) {
		code = json_string_value(json_object_get(m->json, "code"));
		why = json_string_value(json_object_get(m->json, "reason"));
		return purchase_fail(
		    s, code ? code : "?", "%s", why ? why : "");
	}
	if (strcmp(m->type, want) != 0)
		return purchase_fail(
		    s, "bad-reply", "%s answered with %s", want, m->type);
	return 0;
}

static const char *
purchase_field(struct msg *m, const char *key)
{
	const char *v = json_string_value(json_object_get(m->json, key));

	return v != NULL ? v : "";
}

static X509 *
purchase_b64_cert(json_t *v)
{
	const char *str = json_string_value(v);
	unsigned char *der;
	size_t n;
	X509 *x;

	if (str == NULL || (der = base64_decode(str, strlen(str), &n)) == NULL)
		return NULL;
	x = setcert_from_der(der, n);
	free(der);
	return x;
}

/* The merchant's signature on an answer: a merchant of the brand, and
 * (when we know it) the merchant of the PInitRes. */
static int
purchase_check_merchant(struct purchase_session *s, struct msg *m)
{
	char err[512], cn[128];

	if (m->signer == NULL ||
	    pki_verify(s->pki, m->signer, m->certs, SETCERT_MER, SETCERT_SIGN,
	        s->brand, NULL, err, sizeof(err)) != PKI_OK)
		return purchase_fail(s, "bad-reply",
		    "%s is not signed by a merchant of %s: %s", m->type,
		    s->brand, m->signer ? err : "unsigned");
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(m->signer),
	        NID_commonName, cn, sizeof(cn)) <= 0 ||
	    (s->merchant[0] != '\0' && strcmp(cn, s->merchant) != 0))
		return purchase_fail(s, "bad-reply",
		    "%s is signed by merchant %s, not %s", m->type, cn,
		    s->merchant);
	return 0;
}

/* The gateway's certificates the PInitRes hands over. */
static int
purchase_check_gateway(struct purchase_session *s, json_t *gw)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	X509 *sig = NULL, *x;
	X509_CRL *crl;
	unsigned char *der;
	size_t len, i;
	json_t *v;
	const char *str;
	char err[512], cn1[128], cn2[128];
	int rc = -1;

	json_array_foreach(json_object_get(gw, "ca_certs"), i, v)
	{
		if ((x = purchase_b64_cert(v)) == NULL)
			continue;
		pki_add_ca(s->pki, x);
		sk_X509_push(cas, x);
	}
	json_array_foreach(json_object_get(gw, "crls"), i, v)
	{
		str = json_string_value(v);
		if (str == NULL ||
		    (der = base64_decode(str, strlen(str), &len)) == NULL)
			continue;
		/* Older than what crlfetch gave us: not taken, fine. */
		if ((crl = setcert_crl_from_der(der, len)) != NULL)
			pki_set_crl(s->pki, crl, err, sizeof(err));
		X509_CRL_free(crl);
		free(der);
	}
	X509_free(s->gw_kex);
	s->gw_kex = purchase_b64_cert(json_object_get(gw, "kex_cert"));
	sig = purchase_b64_cert(json_object_get(gw, "sig_cert"));
	if (s->gw_kex == NULL || sig == NULL) {
		purchase_fail(s, "bad-reply",
		    "PInitRes without the gateway's certificates");
		goto done;
	}
	if (pki_verify(s->pki, s->gw_kex, cas, SETCERT_PGWY, SETCERT_KEYEX,
	        s->brand, NULL, err, sizeof(err)) != PKI_OK ||
	    pki_verify(s->pki, sig, cas, SETCERT_PGWY, SETCERT_SIGN, s->brand,
	        NULL, err, sizeof(err)) != PKI_OK) {
		purchase_fail(s, "bad-reply",
		    "the gateway's certificates do not verify: %s", err);
		goto done;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(sig),
	        NID_commonName, cn1, sizeof(cn1)) <= 0 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(s->gw_kex),
	        NID_commonName, cn2, sizeof(cn2)) <= 0 ||
	    strcmp(cn1, cn2) != 0) {
		purchase_fail(s, "bad-reply",
		    "the gateway's two certificates name different gateways");
		goto done;
	}
	rc = 0;
done:
	if (rc == -1) {
		X509_free(s->gw_kex);
		s->gw_kex = NULL;
	}
	X509_free(sig);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

static void
purchase_random(char *dst, size_t size, size_t nbytes)
{
	char *r = hex_random(nbytes);

	snprintf(dst, size, "%s", r);
	free(r);
}

int
purchase_init(struct purchase_session *s, const char *order_id)
{
	struct msg m;
	json_t *body;
	char *wire = NULL, err[512];
	size_t len;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (order_id == NULL && s->order != NULL)
		order_id =
		    json_string_value(json_object_get(s->order, "order_id"));
	if (order_id == NULL)
		return purchase_fail(s, "local", "no order to pay");
	if (purchase_crls(s) == -1)
		return -1;
	s->merchant[0] = s->xid[0] = '\0';
	snprintf(s->lid_m, sizeof(s->lid_m), "%s", order_id);
	purchase_random(s->chall_c, sizeof(s->chall_c), 20);
	body = json_pack("{s:s, s:s, s:s, s:s}", "order_id", order_id, "brand",
	    s->brand, "lid_c", PURCHASE_LID_C, "chall_c", s->chall_c);
	if (msg_build("PInitReq", NULL, body, NULL, NULL, NULL, NULL, &wire,
	        &len, err, sizeof(err)) == -1) {
		purchase_fail(s, "local", "PInitReq: %s", err);
		goto done;
	}
	if (purchase_set(s, wire, len, "PInitRes", "pinitres", &m) == -1)
		goto done;
	snprintf(s->merchant, sizeof(s->merchant), "%s",
	    purchase_field(&m, "merchant"));
	if (purchase_check_merchant(s, &m) == -1)
		goto done;
	if (strcmp(purchase_field(&m, "chall_c"), s->chall_c) != 0 ||
	    strcmp(purchase_field(&m, "lid_c"), PURCHASE_LID_C) != 0 ||
	    strcmp(purchase_field(&m, "lid_m"), order_id) != 0 ||
	    strcmp(purchase_field(&m, "brand"), s->brand) != 0) {
		purchase_fail(s, "bad-reply",
		    "PInitRes does not echo our challenge, LID-C, the order "
		    "or the brand");
		goto done;
	}
	snprintf(s->xid, sizeof(s->xid), "%s", purchase_field(&m, "xid"));
	snprintf(s->chall_m, sizeof(s->chall_m), "%s",
	    purchase_field(&m, "chall_m"));
	if (strlen(s->xid) != 40 || strlen(s->chall_m) != 40) {
		purchase_fail(
		    s, "bad-reply", "PInitRes: XID or Chall-M malformed");
		goto done;
	}
	if (purchase_check_gateway(s, json_object_get(m.json, "gateway")) ==
	        -1 ||
	    purchase_save_line(s, "xid", s->xid) == -1)
		goto done;
	rc = 0;
done:
	if (rc == -1)
		s->xid[0] = '\0';
	msg_clear(&m);
	json_decref(body);
	free(wire);
	return rc;
}

json_t *
purchase_preq_body(
    struct purchase_session *s, const struct purchase_card *c, unsigned variant)
{
	struct payment_oi oi;
	struct payment_pi pi;
	const char *od, *cur;
	long long amount;
	char err[512];
	json_t *body;

	if (s->order == NULL || s->xid[0] == '\0' || s->gw_kex == NULL) {
		purchase_fail(s, "local", "no order placed and initiated");
		return NULL;
	}
	od = json_string_value(json_object_get(s->order, "od"));
	cur = json_string_value(json_object_get(s->order, "currency"));
	amount = json_integer_value(json_object_get(s->order, "amount"));
	memset(&oi, 0, sizeof(oi));
	memset(&pi, 0, sizeof(pi));
	if (variant & PURCHASE_WRONG_AMOUNT)
		amount += 100;
	snprintf(oi.xid, sizeof(oi.xid), "%s", s->xid);
	snprintf(oi.lid_c, sizeof(oi.lid_c), "%s", PURCHASE_LID_C);
	snprintf(oi.lid_m, sizeof(oi.lid_m), "%s", s->lid_m);
	snprintf(oi.chall_c, sizeof(oi.chall_c), "%s", s->chall_c);
	if (variant & PURCHASE_WRONG_CHALL)
		purchase_random(oi.chall_m, sizeof(oi.chall_m), 20);
	else
		snprintf(oi.chall_m, sizeof(oi.chall_m), "%s", s->chall_m);
	purchase_random(oi.od_salt, sizeof(oi.od_salt), 16);
	snprintf(oi.brand, sizeof(oi.brand), "%s", s->brand);
	snprintf(oi.merchant, sizeof(oi.merchant), "%s", s->merchant);
	if (payment_hod(od, amount, cur, oi.od_salt, oi.hod) == -1) {
		purchase_fail(s, "bad-reply",
		    "the order's description, amount or currency is unusable");
		return NULL;
	}
	memcpy(pi.xid, oi.xid, sizeof(pi.xid));
	memcpy(pi.lid_m, oi.lid_m, sizeof(pi.lid_m));
	memcpy(pi.hod, oi.hod, sizeof(pi.hod));
	memcpy(pi.merchant, oi.merchant, sizeof(pi.merchant));
	memcpy(pi.brand, oi.brand, sizeof(pi.brand));
	snprintf(pi.currency, sizeof(pi.currency), "%s", cur);
	pi.amount = amount;
	snprintf(pi.pan, sizeof(pi.pan), "%s", c->pan);
	snprintf(pi.expiry, sizeof(pi.expiry), "%s", c->expiry);
	snprintf(pi.cvv, sizeof(pi.cvv), "%s", c->cvv ? c->cvv : "");
	purchase_random(pi.nonce, sizeof(pi.nonce), 16);
	memcpy(pi.pan_secret, c->pan_secret, PAN_SECRET_LEN);
	body = payment_preq_new(
	    &oi, &pi, s->gw_kex, c->cert, c->key, c->chain, err, sizeof(err));
	payment_pi_clear(&pi);
	if (body == NULL)
		purchase_fail(s, "local", "PReq: %s", err);
	return body;
}

/* The PI-TBS bytes the dual signature covers, for `openssl cms`. */
static int
purchase_save_dualsig(struct purchase_session *s, json_t *body)
{
	const char *oid = json_string_value(json_object_get(body, "oidata"));
	unsigned char *raw;
	char *hoi, *tbs;
	size_t n;
	json_t *t;
	int rc;

	if (s->save_dir == NULL || oid == NULL ||
	    (raw = base64_decode(oid, strlen(oid), &n)) == NULL)
		return 0;
	hoi = hex_sha256(raw, n);
	free(raw);
	t = json_pack("{s:s, s:O, s:s, s:s}", "hoi", hoi, "hpi",
	    json_object_get(body, "hpi"), "merchant", s->merchant, "xid",
	    s->xid);
	tbs = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
	rc = purchase_save(s, "preq.tbs", tbs, strlen(tbs));
	if (rc == 0)
		rc = purchase_save_b64(
		    s, body, "dualsig", "preq", "dualsig.der");
	free(tbs);
	free(hoi);
	json_decref(t);
	return rc;
}

/* A PRes or InqRes: signed by the merchant, echoing XID and challenge. */
static int
purchase_outcome(struct purchase_session *s, struct msg *m, const char *chall_c,
    struct purchase_result *res)
{
	if (purchase_check_merchant(s, m) == -1)
		return -1;
	if (strcmp(purchase_field(m, "xid"), s->xid) != 0 ||
	    strcmp(purchase_field(m, "chall_c"), chall_c) != 0)
		return purchase_fail(s, "bad-reply",
		    "%s does not echo the XID and our challenge", m->type);
	if (purchase_field(m, "status")[0] == '\0')
		return purchase_fail(
		    s, "bad-reply", "%s without a status", m->type);
	snprintf(res->xid, sizeof(res->xid), "%s", s->xid);
	X509_NAME_get_text_by_NID(X509_get_subject_name(m->signer),
	    NID_commonName, res->merchant, sizeof(res->merchant));
	snprintf(res->status, sizeof(res->status), "%s",
	    purchase_field(m, "status"));
	snprintf(res->auth_code, sizeof(res->auth_code), "%s",
	    purchase_field(m, "auth_code"));
	snprintf(res->reason, sizeof(res->reason), "%s",
	    purchase_field(m, "reason"));
	return 0;
}

static int
purchase_exchange(
    struct purchase_session *s, const char *save, struct purchase_result *res)
{
	struct msg m;
	int rc;

	memset(res, 0, sizeof(*res));
	if (s->wire == NULL)
		return purchase_fail(s, "local", "no PReq to send");
	rc = purchase_set(s, s->wire, s->wirelen, "PRes", save, &m);
	if (rc == 0)
		rc = purchase_outcome(s, &m, s->chall_c, res);
	msg_clear(&m);
	return rc;
}

int
purchase_send(
    struct purchase_session *s, json_t *body, struct purchase_result *res)
{
	char err[512];

	memset(res, 0, sizeof(*res));
	if (purchase_save_dualsig(s, body) == -1)
		return -1;
	free(s->wire);
	s->wire = NULL;
	if (msg_build("PReq", NULL, body, NULL, NULL, NULL, NULL, &s->wire,
	        &s->wirelen, err, sizeof(err)) == -1)
		return purchase_fail(s, "local", "PReq: %s", err);
	if (purchase_save(s, "preq.wire", s->wire, s->wirelen) == -1)
		return -1;
	return purchase_exchange(s, "pres", res);
}

int
purchase_resend(struct purchase_session *s, struct purchase_result *res)
{
	return purchase_exchange(s, "pres2", res);
}

int
purchase_pay(struct purchase_session *s, const struct purchase_card *c,
    struct purchase_result *res)
{
	json_t *body;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((body = purchase_preq_body(s, c, 0)) == NULL)
		return -1;
	rc = purchase_send(s, body, res);
	json_decref(body);
	return rc;
}

int
purchase_inquire(struct purchase_session *s, const char *xid,
    const char *merchant, struct purchase_result *res)
{
	struct msg m;
	json_t *body;
	char *wire = NULL, err[512], chall[41];
	size_t len;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	if (xid == NULL || strlen(xid) != 40 ||
	    strspn(xid, "0123456789abcdef") != 40)
		return purchase_fail(s, "local",
		    "an XID is 40 lower-case hexadecimal characters");
	if (purchase_crls(s) == -1)
		return -1;
	snprintf(s->xid, sizeof(s->xid), "%s", xid);
	snprintf(
	    s->merchant, sizeof(s->merchant), "%s", merchant ? merchant : "");
	purchase_random(chall, sizeof(chall), 20);
	body = json_pack("{s:s, s:s}", "xid", xid, "chall_c", chall);
	if (msg_build("InqReq", NULL, body, NULL, NULL, NULL, NULL, &wire, &len,
	        err, sizeof(err)) == -1)
		purchase_fail(s, "local", "InqReq: %s", err);
	else if (purchase_set(s, wire, len, "InqRes", "inqres", &m) == 0)
		rc = purchase_outcome(s, &m, chall, res);
	msg_clear(&m);
	json_decref(body);
	free(wire);
	return rc;
}
