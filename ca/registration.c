/*
 * Cardholder registration at the Cardholder CA (SET Book 2):
 *
 *	CardCInitReq -> CardCInitRes	the CCA's certificates, key-exchange
 *					certificate, current CRLs and the BCI
 *	RegFormReq -> RegFormRes	the card number, sealed to the CCA ->
 *					the form this card's issuer requires
 *	CertReq -> CertRes		sealed; the card details, a fresh
 *					signature key, and CardSecret
 *
 * For a CertReq the CA asks the card's issuer (chosen by BIN from the issuers
 * table of ca.json, over mutual TLS) whether the details are right. Only
 * then does it issue a certificate, and that certificate never holds the card
 * number: its subject CN is a keyed hash of PANSecret, the card number and
 * its expiry (pan_cert_hash), where PANSecret = CardSecret XOR NonceCCA. The
 * CA returns NonceCCA; the wallet computes PANSecret; later the gateway,
 * given the card number and PANSecret inside a payment instruction, can
 * prove that the card belongs to the certificate that signed it.
 *
 * The CA keeps no card number: requests and certificates are recorded under
 * the masked number, the CVV is forwarded to the issuer and forgotten, and
 * every buffer that held card data is wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ca.h"
#include "errbuf.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "msg.h"
#include "pan.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

/* The brand's Cardholder CA, from the request's "brand". */
static struct ca_authority *
cca_for(struct ca *ca, const struct msg *m, struct msg_error *e)
{
	const char *brand;
	struct ca_authority *a;

	if (msg_ident(m, "brand", &brand, e) == -1)
		return NULL;
	if ((a = ca_find(ca, brand, SETCERT_CCA)) == NULL)
		msg_fail(
		    e, "unknown-brand", "this CA has no brand \"%s\"", brand);
	return a;
}

char *
registration_init(struct ca *ca, struct msg *m, int *status, size_t *len)
{
	struct msg_error e;
	struct ca_authority *a;
	json_t *body;
	char *wire;

	memset(&e, 0, sizeof(e));
	if ((a = cca_for(ca, m, &e)) == NULL)
		return reply_error(&e, m->rrpid, NULL, status, len);
	body = json_object();
	reply_ca_material(ca, a, body);
	wire = reply_signed(a, "CardCInitRes", m->rrpid, body, status, len);
	json_decref(body);
	return wire;
}

/* Reads and checks the card number; fills e when it is not one. */
static int
read_pan(const struct msg *m, const char **pan, struct msg_error *e)
{
	if (msg_str(m, "pan", NULL, 19, pan, e) == -1)
		return -1;
	if (!pan_luhn_ok(*pan, strlen(*pan)))
		return msg_fail(e, "malformed",
		    "%s: \"pan\" is not a card "
		    "number (13-19 digits with a valid check digit)",
		    m->type);
	return 0;
}

/* The issuer of a card, or an Error: a sealed request must also have been
 * sealed to this brand's Cardholder CA. */
static const struct ca_issuer *
issuer_of(struct ca *ca, const struct msg *m, struct ca_authority *opened_by,
    struct ca_authority **ap, const char **pan, struct msg_error *e)
{
	struct ca_authority *a;
	const struct ca_issuer *is;
	char masked[32];

	if (!m->sealed || opened_by == NULL) {
		msg_fail(e, "malformed",
		    "%s carries a card number and must be "
		    "sealed to the Cardholder CA's key-exchange certificate",
		    m->type);
		return NULL;
	}
	if ((a = cca_for(ca, m, e)) == NULL)
		return NULL;
	*ap = a;
	if (a != opened_by) {
		msg_fail(e, "malformed",
		    "this %s for brand %s was sealed to "
		    "another CA (%s)",
		    m->type, a->brand, opened_by->name);
		return NULL;
	}
	if (read_pan(m, pan, e) == -1)
		return NULL;
	if ((is = ca_issuer_for(ca, a->brand, *pan)) == NULL) {
		pan_mask(*pan, masked, sizeof(masked));
		msg_fail(e, "unknown-card",
		    "no %s issuer known to this CA "
		    "handles card %s",
		    a->brand, masked);
	}
	return is;
}

static json_t *
form_fields(unsigned fields)
{
	static const char *const names[] = { "name", "postcode", "expiry",
		"cvv" };
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < 4; i++)
		if (fields & (1u << i))
			json_array_append_new(list, json_string(names[i]));
	return list;
}

char *
registration_form(struct ca *ca, struct msg *m, struct ca_authority *opened_by,
    int *status, size_t *len)
{
	struct msg_error e;
	struct ca_authority *a = NULL;
	const struct ca_issuer *is;
	const char *pan;
	json_t *body;
	char *wire, *form_id;

	memset(&e, 0, sizeof(e));
	if ((is = issuer_of(ca, m, opened_by, &a, &pan, &e)) == NULL)
		return reply_error(&e, m->rrpid, a, status, len);
	form_id = hex_random(16);
	body = json_pack("{s:s, s:s, s:s, s:o, s:s}", "brand", a->brand,
	    "issuer", is->name, "form_id", form_id, "fields",
	    form_fields(is->fields), "policy",
	    "Your card details go to your card issuer for checking and are "
	    "not kept by the certificate authority. Your certificate will "
	    "not contain your card number.");
	wire = reply_signed(a, "RegFormRes", m->rrpid, body, status, len);
	json_decref(body);
	free(form_id);
	return wire;
}

/* The card details of a cardholder CertReq. */
struct cardreq {
	const char *pan, *expiry, *cvv, *name, *postcode;
	unsigned char secret[PAN_SECRET_LEN]; /* CardSecret */
	unsigned char *csr;
	size_t csrlen;
	X509_REQ *req;
	char masked[32];
};

static void
cardreq_clear(struct cardreq *r)
{
	OPENSSL_cleanse(r->secret, sizeof(r->secret));
	free(r->csr);
	X509_REQ_free(r->req);
}

static int
cardreq_read(const struct msg *m, const struct ca_issuer *is, struct cardreq *r,
    struct msg_error *e)
{
	const char *secret_hex;
	char err[256];
	size_t n;

	pan_mask(r->pan, r->masked, sizeof(r->masked));
	if (msg_str(m, "expiry", NULL, 7, &r->expiry, e) == -1)
		return -1;
	if (!pan_expiry_ok(r->expiry))
		return msg_fail(e, "malformed",
		    "CertReq: \"expiry\" must be "
		    "YYYY-MM");
	if (msg_str(m, "cvv", (is->fields & ISSUER_FIELD_CVV) ? NULL : "", 4,
	        &r->cvv, e) == -1 ||
	    msg_str(m, "name", (is->fields & ISSUER_FIELD_NAME) ? NULL : "",
	        128, &r->name, e) == -1 ||
	    msg_str(m, "postcode",
	        (is->fields & ISSUER_FIELD_POSTCODE) ? NULL : "", 16,
	        &r->postcode, e) == -1 ||
	    msg_str(m, "card_secret", NULL, 2 * PAN_SECRET_LEN, &secret_hex,
	        e) == -1 ||
	    msg_bytes(m, "sig_csr", 8192, &r->csr, &r->csrlen, e) == -1)
		return -1;
	n = strlen(r->cvv);
	if ((is->fields & ISSUER_FIELD_CVV) &&
	    (n < 3 || strspn(r->cvv, "0123456789") != n))
		return msg_fail(e, "malformed",
		    "CertReq: \"cvv\" must be 3 "
		    "or 4 digits");
	if ((is->fields & ISSUER_FIELD_NAME) && r->name[0] == '\0')
		return msg_fail(e, "malformed", "CertReq: \"name\" is empty");
	if (hex_decode(secret_hex, r->secret, sizeof(r->secret)) == -1)
		return msg_fail(e, "malformed",
		    "CertReq: \"card_secret\" must "
		    "be %d hex digits",
		    2 * PAN_SECRET_LEN);
	if (issue_check_csr(r->csr, r->csrlen, &r->req, err, sizeof(err)))
		return msg_fail(e, "bad-csr", "%s", err);
	if (!reply_signed_with(m, X509_REQ_get0_pubkey(r->req)))
		return msg_fail(e, "bad-signature",
		    "CertReq must be signed "
		    "with the key of its certificate request (proof of "
		    "possession)");
	return 0;
}

static int
issuer_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct ca *ca = arg;

	return pki_verify(ca->pki, leaf, chain, 0, SETCERT_TLS_SERVER, NULL,
	           NULL, err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/* The TLS client context towards issuers: our TLS certificate, mutual. */
static SSL_CTX *
issuer_ssl(struct ca *ca, char *err, size_t errlen)
{
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;

	if (ca->issuer_ssl != NULL)
		return ca->issuer_ssl;
	if (ca_load_tls(ca, &cert, &key, &chain, err, errlen) == -1)
		return NULL;
	ca->issuer_ssl =
	    tls_client_ctx(cert, key, chain, issuer_verify_cb, ca, err, errlen);
	X509_free(cert);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return ca->issuer_ssl;
}

/*
 * Asks the issuer. Returns 1 verified, 0 refused (code and reason filled),
 * -1 the issuer could not be asked (reason filled).
 *
 * The call blocks the daemon for at most issuer_timeout seconds; the CA's
 * other requests wait meanwhile.
 */
static int
ask_issuer(struct ca *ca, const struct ca_issuer *is, const struct cardreq *r,
    char *code, size_t codelen, char *reason, size_t reasonlen)
{
	struct http_resp resp;
	json_t *req, *res = NULL;
	char *body, *id = hex_random(16), err[256];
	const char *result, *why, *msg;
	SSL_CTX *ssl;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	if ((ssl = issuer_ssl(ca, err, sizeof(err))) == NULL) {
		errbuf_set(
		    reason, reasonlen, "the CA cannot set up TLS: %s", err);
		free(id);
		return -1;
	}
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "request_id", id,
	    "pan", r->pan, "expiry", r->expiry, "cvv", r->cvv, "name", r->name,
	    "postcode", r->postcode);
	if ((is->fields & ISSUER_FIELD_CVV) == 0)
		json_object_del(req, "cvv");
	if ((is->fields & ISSUER_FIELD_NAME) == 0)
		json_object_del(req, "name");
	if ((is->fields & ISSUER_FIELD_POSTCODE) == 0)
		json_object_del(req, "postcode");
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (http_request(ssl, is->address, is->port, "POST", "/v1/verify-card",
	        "application/json", body, strlen(body),
	        (int)ca->set.issuer_timeout, &resp, err, sizeof(err)) == -1) {
		errbuf_set(reason, reasonlen,
		    "the card issuer %s cannot be reached: %s", is->name, err);
		goto done;
	}
	res = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	result = json_string_value(json_object_get(res, "result"));
	if (resp.status != 200 || result == NULL) {
		snprintf(reason, reasonlen,
		    "the card issuer %s answered HTTP "
		    "%d without a result",
		    is->name, resp.status);
		goto done;
	}
	if (strcmp(result, "verified") == 0)
		rc = 1;
	else if (strcmp(result, "refused") == 0) {
		why = json_string_value(json_object_get(res, "reason"));
		msg = json_string_value(json_object_get(res, "message"));
		snprintf(code, codelen, "%s", why ? why : "refused");
		snprintf(reason, reasonlen, "%s",
		    msg ? msg : "the card issuer refused the card details");
		rc = 0;
	} else
		snprintf(reason, reasonlen,
		    "the card issuer %s answered "
		    "\"%s\"",
		    is->name, result);
done:
	log_info("issuer %s on card %s: %s", is->name, r->masked,
	    rc == 1       ? "verified"
	        : rc == 0 ? code
	                  : "no answer");
	json_decref(res);
	http_resp_clear(&resp);
	freezero_buf(body, strlen(body));
	free(id);
	return rc;
}

/* The last second of the card's expiry month, UTC. */
static time_t
card_expiry_end(const char *expiry)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(expiry) - 1900;
	tm.tm_mon = atoi(expiry + 5); /* the month after, 0-based */
	tm.tm_mday = 1;
	return timegm(&tm) - 1;
}

static X509 *
make_cert(struct ca *ca, struct ca_authority *a, struct cardreq *r,
    const unsigned char nonce[PAN_SECRET_LEN], char *err, size_t errlen)
{
	unsigned char pansecret[PAN_SECRET_LEN];
	char cn[65];
	struct setcert_spec s;
	time_t now = time(NULL), end;
	size_t i;
	X509 *x = NULL;

	for (i = 0; i < PAN_SECRET_LEN; i++)
		pansecret[i] = r->secret[i] ^ nonce[i];
	if (pan_cert_hash(pansecret, r->pan, r->expiry, cn) == -1) {
		snprintf(err, errlen, "cannot compute the card's hash");
		goto done;
	}
	/* A cardholder certificate never outlives the card. */
	end = now + (time_t)ca->set.days_cardholder * 86400;
	if (card_expiry_end(r->expiry) < end)
		end = card_expiry_end(r->expiry);
	memset(&s, 0, sizeof(s));
	s.pubkey = X509_REQ_get0_pubkey(r->req);
	s.issuer = a->cert;
	s.issuer_key = a->key;
	s.cn = cn;
	s.o = a->brand;
	s.ou = "cardholder";
	s.types = SETCERT_CARD;
	s.usage = SETCERT_SIGN;
	s.pathlen = -1;
	s.not_before = now - 300;
	s.not_after = end;
	x = setcert_issue(&s, err, errlen);
done:
	OPENSSL_cleanse(pansecret, sizeof(pansecret));
	return x;
}

/* Records the request (and its outcome) under the masked card number. */
static int
record(struct ca *ca, const char *id, struct ca_authority *a, struct cardreq *r,
    const char *status, const char *reason)
{
	sqlite3_stmt *st;
	char *keyhash = reply_key_hash(X509_REQ_get0_pubkey(r->req));
	int rc = -1;

	st = store_prepare(ca->store,
	    "INSERT INTO requests (id, role, "
	    "entity_id, brand, name, sig_csr, kex_csr, sig_key, status, "
	    "reason, created_at, decided_at, decided_by) VALUES (?, "
	    "'cardholder', ?, ?, ?, ?, x'', ?, ?, ?, ?, ?, ?)");
	if (st != NULL && keyhash != NULL) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->masked, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a->brand, -1, SQLITE_STATIC);
		sqlite3_bind_text(
		    st, 4, r->name[0] ? r->name : r->masked, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, r->csr, (int)r->csrlen, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, keyhash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, status, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)time(NULL));
		sqlite3_bind_int64(st, 10, (sqlite3_int64)time(NULL));
		sqlite3_bind_text(st, 11, ca->who, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	free(keyhash);
	return rc;
}

char *
registration_certreq(struct ca *ca, struct msg *m,
    struct ca_authority *opened_by, const unsigned char *wire, size_t wirelen,
    int *status, size_t *len)
{
	struct cardreq r;
	struct msg_error e;
	struct ca_authority *a = NULL;
	const struct ca_issuer *is;
	unsigned char nonce[PAN_SECRET_LEN];
	char code[64] = "", reason[256] = "", err[256], *id = NULL;
	char *reply = NULL, *nonce_hex = NULL;
	json_t *body = NULL;
	X509 *x = NULL;
	int verdict;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	if ((is = issuer_of(ca, m, opened_by, &a, &r.pan, &e)) == NULL ||
	    cardreq_read(m, is, &r, &e) == -1) {
		reply = reply_error(&e, m->rrpid, a, status, len);
		goto done;
	}
	/* Asked before anything is written: a refusal or a silent issuer
	 * leaves no trace but the log line. */
	verdict =
	    ask_issuer(ca, is, &r, code, sizeof(code), reason, sizeof(reason));
	if (verdict == -1) {
		msg_fail(&e, "issuer-unavailable",
		    "%s; nothing was issued, "
		    "try again later",
		    reason);
		reply = reply_error(&e, m->rrpid, a, status, len);
		goto done;
	}

	id = hex_random(16);
	if (store_begin(ca->store) == -1)
		goto internal;
	if (verdict == 0) {
		char *why = xasprintf("%s: %s", code, reason);

		if (record(ca, id, a, &r, "rejected", why) == -1) {
			free(why);
			goto internal_tx;
		}
		free(why);
		body = json_pack("{s:s, s:s, s:s, s:s}", "status", "rejected",
		    "request_id", id, "code", code, "reason", reason);
		ca_audit(ca, "refuse", id, code);
	} else {
		if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
		    (x = make_cert(ca, a, &r, nonce, err, sizeof(err))) ==
		        NULL) {
			log_warnx("cardholder certificate: %s", err);
			goto internal_tx;
		}
		if (record(ca, id, a, &r, "issued", NULL) == -1 ||
		    ca_put_cert(ca->store, x, a->name, "cardholder", "sig",
		        r.masked, id, err, sizeof(err)) == -1)
			goto internal_tx;
		nonce_hex = hex_encode(nonce, sizeof(nonce));
		body = json_pack("{s:s, s:s, s:{s:o}, s:s}", "status", "issued",
		    "request_id", id, "certs", "sig", reply_cert_b64(x),
		    "nonce_cca", nonce_hex);
		reply_ca_material(ca, a, body);
		ca_audit(ca, "issue", id, "cardholder certificate");
		log_info("issued a cardholder certificate for card %s (%s)",
		    r.masked, a->brand);
	}
	reply = reply_signed(a, "CertRes", m->rrpid, body, status, len);
	if (*status != 200 ||
	    store_reply_save(ca->store, m->rrpid, wire, wirelen, *status, reply,
	        *len) == -1 ||
	    store_commit(ca->store) == -1)
		goto internal_tx;
	goto done;
internal_tx:
	store_rollback(ca->store);
internal:
	free(reply);
	msg_fail(&e, "internal",
	    "the CA could not record the registration; "
	    "nothing was issued, try again");
	reply = reply_error(&e, m->rrpid, a, status, len);
done:
	OPENSSL_cleanse(nonce, sizeof(nonce));
	if (nonce_hex != NULL)
		freezero_buf(nonce_hex, strlen(nonce_hex));
	json_decref(body);
	X509_free(x);
	free(id);
	cardreq_clear(&r);
	return reply;
}
