/*
 * The cardholder registration client (see register.h for the exchange).
 *
 * How the CA is reached and how its answers and material are checked is
 * common/caclient.c; this file is what is particular to a cardholder: the
 * card number sealed in RegFormReq and CertReq, the bank's form, CardSecret
 * and NonceCCA, and the checks that bind the issued certificate to the card.
 * Nothing here talks to a person or writes a file: the wallet
 * (cardholder/registration.c) asks the questions and stores the card.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "caclient.h"
#include "hex.h"
#include "msg.h"
#include "pan.h"
#include "pki.h"
#include "register.h"
#include "setcert.h"
#include "xmalloc.h"

struct register_session {
	char *host, *brand, *pan; /* pan: wiped when freed */
	struct caclient cc; /* the CA, its material once checked */
	int started; /* register_start succeeded */
	int finished; /* register_finish was called */
	/* From the form. */
	char *issuer, *policy, *form_id;
	unsigned fields;
	char *request_id; /* from CertRes */
	enum caclient_failure failure;
	char *err;
	size_t errlen;
};

/* A failure err tells completely (s->failure stays CACLIENT_OK). */
static int register_fail(struct register_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
register_fail(struct register_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A caclient call failed: its kind (and code) stay for the caller. */
static int
register_ca_fail(struct register_session *s)
{
	s->failure = s->cc.failure;
	return -1;
}

/* Printable text of 1 to max characters (a name, a postcode). */
static int
register_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	const unsigned char *p;

	if (n == 0 || n > max)
		return 0;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int
register_cvv_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 3 || n > 4)
		return 0;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
register_field_ok(unsigned field, const char *value)
{
	if (value == NULL)
		return 0;
	switch (field) {
	case REGISTER_FIELD_NAME:
		return register_text_ok(value, 64);
	case REGISTER_FIELD_POSTCODE:
		return register_text_ok(value, 16);
	case REGISTER_FIELD_EXPIRY:
		return pan_expiry_ok(value);
	case REGISTER_FIELD_CVV:
		return register_cvv_ok(value);
	default:
		return 0;
	}
}

/* The form's field names, as RegFormRes and CertReq spell them. */
static const struct {
	const char *name;
	unsigned bit;
} register_fields[] = { { "name", REGISTER_FIELD_NAME },
	{ "postcode", REGISTER_FIELD_POSTCODE },
	{ "expiry", REGISTER_FIELD_EXPIRY }, { "cvv", REGISTER_FIELD_CVV } };
#define REGISTER_NFIELDS (sizeof(register_fields) / sizeof(register_fields[0]))

/* The caller's answer to one field. */
static const char *
register_answer(const struct register_params *p, unsigned bit)
{
	switch (bit) {
	case REGISTER_FIELD_NAME:
		return p->name;
	case REGISTER_FIELD_POSTCODE:
		return p->postcode;
	case REGISTER_FIELD_EXPIRY:
		return p->expiry;
	case REGISTER_FIELD_CVV:
		return p->cvv;
	default:
		return NULL;
	}
}

/* What CertReq sends: the fields the form asks, and the expiry always
 * (the certificate's hash covers it). */
static int
register_sends(const struct register_session *s, unsigned bit)
{
	return (s->fields & bit) || bit == REGISTER_FIELD_EXPIRY;
}

struct register_session *
register_session_new(const struct register_params *p, char *err, size_t errlen)
{
	struct register_session *s;
	struct caclient_params cp;
	X509 *root;
	int rc;

	err[0] = '\0';
	if (p->host == NULL || p->root_file == NULL || p->brand == NULL ||
	    p->brand[0] == '\0' || p->pan == NULL ||
	    !pan_luhn_ok(p->pan, strlen(p->pan))) {
		snprintf(err, errlen,
		    "registration needs the CA, the root certificate, the "
		    "brand and a card number (13-19 digits with a valid "
		    "check digit)");
		return NULL;
	}
	if ((root = setcert_read_cert(p->root_file, err, errlen)) == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->host = xstrdup(p->host);
	s->brand = xstrdup(p->brand);
	s->pan = xstrdup(p->pan);
	s->err = err;
	s->errlen = errlen;
	memset(&cp, 0, sizeof(cp));
	cp.host = s->host;
	cp.port = p->port;
	cp.timeout = p->timeout;
	cp.root = root;
	cp.brand = s->brand;
	rc = caclient_init(&s->cc, &cp, err, errlen);
	X509_free(root);
	if (rc == -1) {
		register_session_free(s);
		return NULL;
	}
	return s;
}

void
register_session_free(struct register_session *s)
{
	if (s == NULL)
		return;
	caclient_clear(&s->cc);
	free(s->host);
	free(s->brand);
	freezero_buf(s->pan, strlen(s->pan));
	free(s->issuer);
	free(s->policy);
	free(s->form_id);
	free(s->request_id);
	free(s);
}

enum caclient_failure
register_failure(const struct register_session *s, const char **code)
{
	if (code != NULL)
		*code = s->failure == CACLIENT_REFUSED ? s->cc.code : "";
	return s->failure;
}

const struct caclient *
register_ca(const struct register_session *s)
{
	return &s->cc;
}

const char *
register_request_id(const struct register_session *s)
{
	return s->request_id != NULL ? s->request_id : "";
}

/* CardCInitReq -> CardCInitRes: the Cardholder CA and its material. */
static int
register_card_init(struct register_session *s)
{
	json_t *body = json_pack("{s:s}", "brand", s->brand);
	char *wire = NULL, *rrpid = hex_random(20);
	size_t len;
	struct msg m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (msg_build("CardCInitReq", rrpid, body, NULL, NULL, NULL, NULL,
	        &wire, &len, s->err, s->errlen) == -1)
		goto done;
	if (caclient_exchange(&s->cc, wire, len, "CardCInitRes", rrpid, &m) ==
	        -1 ||
	    caclient_take_material(&s->cc, &m) == -1 ||
	    caclient_check_signer(&s->cc, &m, SETCERT_CCA, "cardholder") ==
	        -1 ||
	    caclient_check_kex(&s->cc, SETCERT_CCA) == -1) {
		register_ca_fail(s);
		goto done;
	}
	rc = 0;
done:
	msg_clear(&m);
	json_decref(body);
	free(wire);
	free(rrpid);
	return rc;
}

/* The form's fields; -1 when it asks what this client cannot give. */
static int
register_form_fields(struct register_session *s, json_t *fields)
{
	size_t i, j;
	json_t *v;

	if (!json_is_array(fields))
		return register_fail(s,
		    "the bank's form (RegFormRes) lists no "
		    "fields; nothing was registered");
	json_array_foreach(fields, i, v)
	{
		const char *f = json_string_value(v);

		for (j = 0; f != NULL && j < REGISTER_NFIELDS; j++)
			if (strcmp(f, register_fields[j].name) == 0)
				break;
		if (f == NULL || j == REGISTER_NFIELDS)
			return register_fail(s,
			    "the bank's form asks for \"%.32s\", which this "
			    "wallet does not know how to fill; nothing was "
			    "registered",
			    f ? f : "?");
		s->fields |= register_fields[j].bit;
	}
	return 0;
}

/* RegFormReq -> RegFormRes: the bank's form for this card. */
static int
register_regform(struct register_session *s)
{
	json_t *body =
	    json_pack("{s:s, s:s}", "brand", s->brand, "pan", s->pan);
	char *wire = NULL, *rrpid = hex_random(20);
	const char *issuer, *form_id, *policy, *brand;
	size_t len;
	struct msg m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	/* Sealed to the CA's key-exchange certificate; unsigned, as in SET:
	 * the cardholder holds no key yet. */
	if (msg_build("RegFormReq", rrpid, body, NULL, NULL, NULL, s->cc.ca_kex,
	        &wire, &len, s->err, s->errlen) == -1)
		goto done;
	if (caclient_exchange(&s->cc, wire, len, "RegFormRes", rrpid, &m) ==
	        -1 ||
	    caclient_check_signer(&s->cc, &m, SETCERT_CCA, "cardholder") ==
	        -1) {
		register_ca_fail(s);
		goto done;
	}
	brand = json_string_value(json_object_get(m.json, "brand"));
	issuer = json_string_value(json_object_get(m.json, "issuer"));
	form_id = json_string_value(json_object_get(m.json, "form_id"));
	policy = json_string_value(json_object_get(m.json, "policy"));
	if (brand == NULL || strcmp(brand, s->brand) != 0 || issuer == NULL ||
	    form_id == NULL || form_id[0] == '\0' || strlen(form_id) > 128 ||
	    strspn(form_id, "0123456789abcdef") != strlen(form_id)) {
		register_fail(s,
		    "the bank's form (RegFormRes) lacks its brand, issuer or "
		    "form id; nothing was registered");
		goto done;
	}
	if (register_form_fields(s, json_object_get(m.json, "fields")) == -1)
		goto done;
	s->issuer = xstrdup(issuer);
	s->policy = policy != NULL ? xstrdup(policy) : NULL;
	s->form_id = xstrdup(form_id);
	rc = 0;
done:
	msg_clear(&m);
	json_decref(body);
	if (wire != NULL)
		freezero_buf(wire, strlen(wire));
	free(rrpid);
	return rc;
}

int
register_start(struct register_session *s, struct register_form *form)
{
	memset(form, 0, sizeof(*form));
	s->failure = CACLIENT_OK;
	if (s->started)
		return register_fail(
		    s, "this registration has started already");
	if (register_card_init(s) == -1 || register_regform(s) == -1)
		return -1;
	s->started = 1;
	form->issuer = s->issuer;
	form->policy = s->policy;
	form->fields = s->fields;
	return 0;
}

/* A throwaway self-signed certificate for our new signature key: CMS
 * needs a certificate to sign with, and the CA checks only its key. */
static X509 *
register_self_cert(struct register_session *s, EVP_PKEY *key)
{
	struct setcert_spec sp;
	time_t now = time(NULL);

	memset(&sp, 0, sizeof(sp));
	sp.pubkey = key;
	sp.issuer_key = key;
	sp.cn = "cardholder";
	sp.ou = "registration request";
	sp.usage = SETCERT_SIGN;
	sp.pathlen = -1;
	sp.not_before = now - 300;
	sp.not_after = now + 3600;
	return setcert_issue(&sp, s->err, s->errlen);
}

/* A memmem() for the PAN check (memmem is a GNU extension). */
static int
register_contains(const unsigned char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; k > 0 && i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return 1;
	return 0;
}

/* Every answer the form asks for (and the expiry), each well-formed. */
static int
register_answers_ok(
    struct register_session *s, const struct register_params *filled)
{
	size_t j;

	for (j = 0; j < REGISTER_NFIELDS; j++) {
		unsigned bit = register_fields[j].bit;
		const char *v = register_answer(filled, bit);

		if (!register_sends(s, bit))
			continue;
		if (v == NULL)
			return register_fail(s,
			    "the bank's form asks for the %s, which was not "
			    "given; nothing was registered",
			    register_fields[j].name);
		if (!register_field_ok(bit, v))
			return register_fail(s,
			    "the %s given for the bank's form is not "
			    "well-formed; nothing was registered",
			    register_fields[j].name);
	}
	return 0;
}

/*
 * The issued certificate, everything about it checked, into res.
 * card_secret is ours; the response carries NonceCCA.
 */
static int
register_take_cert(struct register_session *s, struct msg *m, EVP_PKEY *key,
    const unsigned char card_secret[PAN_SECRET_LEN], const char *expiry,
    struct register_result *res)
{
	const char *nonce_hex =
	    json_string_value(json_object_get(m->json, "nonce_cca"));
	unsigned char nonce[PAN_SECRET_LEN], pan_secret[PAN_SECRET_LEN];
	unsigned char *der = NULL;
	size_t derlen = 0, i;
	char want[65], cn[256], pkierr[256];
	X509 *cert = NULL;
	int rc = -1;

	if (caclient_take_material(&s->cc, m) == -1 ||
	    caclient_check_signer(&s->cc, m, SETCERT_CCA, "cardholder") == -1) {
		register_ca_fail(s);
		goto done;
	}
	if (nonce_hex == NULL || strlen(nonce_hex) != 2 * PAN_SECRET_LEN ||
	    hex_decode(nonce_hex, nonce, sizeof(nonce)) == -1) {
		register_fail(s,
		    "the CA's CertRes has no valid NonceCCA; nothing "
		    "was stored");
		goto done;
	}
	for (i = 0; i < PAN_SECRET_LEN; i++)
		pan_secret[i] = card_secret[i] ^ nonce[i];
	cert = caclient_b64_cert(
	    json_object_get(json_object_get(m->json, "certs"), "sig"));
	if (cert == NULL) {
		register_fail(s,
		    "the certificate in the CA's CertRes does not "
		    "parse; nothing was stored");
		goto done;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		register_fail(s,
		    "the certificate the CA issued does not carry our "
		    "key; nothing was stored");
		goto done;
	}
	if (pki_verify(s->cc.pki, cert, s->cc.ca_certs, SETCERT_CARD,
	        SETCERT_SIGN, s->brand, NULL, pkierr,
	        sizeof(pkierr)) != PKI_OK) {
		register_fail(s,
		    "the certificate the CA issued does not verify as a %s "
		    "cardholder's: %s; nothing was stored",
		    s->brand, pkierr);
		goto done;
	}
	/* PAN blinding: the CN is the keyed hash, never the number. */
	if (pan_cert_hash(pan_secret, s->pan, expiry, want) == -1 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	        NID_commonName, cn, sizeof(cn)) <= 0 ||
	    strcmp(cn, want) != 0) {
		register_fail(s,
		    "the certificate the CA issued is not bound to this card "
		    "(its name is not the hash of the card number, expiry "
		    "and PANSecret); nothing was stored");
		goto done;
	}
	der = setcert_der(cert, &derlen);
	if (register_contains(der, derlen, s->pan)) {
		register_fail(s,
		    "the certificate the CA issued contains the card "
		    "number; refused, nothing was stored");
		goto done;
	}

	res->cert = cert;
	cert = NULL;
	EVP_PKEY_up_ref(key);
	res->key = key;
	res->chain = sk_X509_new_null();
	for (i = 0; i < (size_t)sk_X509_num(s->cc.ca_certs); i++) {
		X509 *ca = sk_X509_value(s->cc.ca_certs, (int)i);

		X509_up_ref(ca);
		sk_X509_push(res->chain, ca);
	}
	memcpy(res->pan_secret, pan_secret, PAN_SECRET_LEN);
	rc = 0;
done:
	free(der);
	X509_free(cert);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	OPENSSL_cleanse(pan_secret, sizeof(pan_secret));
	return rc;
}

/* The CertReq body: the form's answers, our CSR and CardSecret. */
static json_t *
register_certreq_body(struct register_session *s,
    const struct register_params *filled, const char *secret_hex,
    const char *csr_b64)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "role",
	    "cardholder", "brand", s->brand, "form_id", s->form_id, "pan",
	    s->pan, "card_secret", secret_hex, "sig_csr", csr_b64);
	size_t j;

	for (j = 0; j < REGISTER_NFIELDS; j++)
		if (register_sends(s, register_fields[j].bit))
			json_object_set_new(body, register_fields[j].name,
			    json_string(register_answer(
			        filled, register_fields[j].bit)));
	return body;
}

int
register_finish(struct register_session *s,
    const struct register_params *filled, struct register_result *res)
{
	unsigned char card_secret[PAN_SECRET_LEN], *csrder = NULL;
	size_t csrlen, len;
	char *secret_hex = NULL, *csr_b64 = NULL, *wire = NULL;
	char *rrpid = hex_random(20), masked[24];
	const char *status, *id, *code, *reason;
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	X509 *self = NULL;
	json_t *body = NULL;
	struct msg m;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	s->failure = CACLIENT_OK;
	if (!s->started || s->finished) {
		register_fail(
		    s, "CertReq belongs after RegForm, once per registration");
		goto done;
	}
	s->finished = 1;
	if (register_answers_ok(s, filled) == -1)
		goto done;
	key = setcert_keygen();
	if (RAND_bytes(card_secret, sizeof(card_secret)) != 1) {
		register_fail(s, "cannot make CardSecret: no randomness");
		goto done;
	}
	if ((csr = setcert_csr_new(key, "cardholder", s->err, s->errlen)) ==
	        NULL ||
	    (self = register_self_cert(s, key)) == NULL)
		goto done;
	csrder = setcert_csr_der(csr, &csrlen);
	csr_b64 = base64_encode(csrder, csrlen);
	secret_hex = hex_encode(card_secret, sizeof(card_secret));
	body = register_certreq_body(s, filled, secret_hex, csr_b64);
	if (msg_build("CertReq", rrpid, body, self, key, NULL, s->cc.ca_kex,
	        &wire, &len, s->err, s->errlen) == -1)
		goto done;
	/* Judge the signer before believing even a refusal. */
	if (caclient_exchange(&s->cc, wire, len, "CertRes", rrpid, &m) == -1 ||
	    caclient_check_signer(&s->cc, &m, SETCERT_CCA, "cardholder") ==
	        -1) {
		register_ca_fail(s);
		goto done;
	}
	status = json_string_value(json_object_get(m.json, "status"));
	id = json_string_value(json_object_get(m.json, "request_id"));
	if (status == NULL || id == NULL) {
		register_fail(s, "the CA's CertRes lacks status or request_id");
		goto done;
	}
	s->request_id = xstrdup(id);
	if (strcmp(status, "rejected") == 0) {
		code = json_string_value(json_object_get(m.json, "code"));
		reason = json_string_value(json_object_get(m.json, "reason"));
		snprintf(res->code, sizeof(res->code), "%s", code ? code : "");
		snprintf(res->reason, sizeof(res->reason), "%s",
		    reason ? reason : "");
		pan_mask(s->pan, masked, sizeof(masked));
		register_fail(s,
		    "%s refused to register card %s (%s): \"%.300s\" "
		    "(request %.64s)",
		    s->issuer, masked, code ? code : "no code",
		    reason ? reason : "no reason given", id);
		rc = 2;
		goto done;
	}
	if (strcmp(status, "issued") != 0) {
		register_fail(s,
		    "the CA answered \"%.32s\" for request %.64s; this "
		    "wallet can only take a certificate issued at once. "
		    "Nothing was stored: ask your bank.",
		    status, id);
		goto done;
	}
	rc = register_take_cert(s, &m, key, card_secret, filled->expiry, res);
done:
	msg_clear(&m);
	json_decref(body);
	OPENSSL_cleanse(card_secret, sizeof(card_secret));
	if (secret_hex != NULL)
		freezero_buf(secret_hex, strlen(secret_hex));
	if (wire != NULL)
		freezero_buf(wire, strlen(wire));
	free(csr_b64);
	free(csrder);
	free(rrpid);
	X509_REQ_free(csr);
	X509_free(self);
	EVP_PKEY_free(key);
	return rc;
}

void
register_result_clear(struct register_result *res)
{
	X509_free(res->cert);
	EVP_PKEY_free(res->key);
	sk_X509_pop_free(res->chain, X509_free);
	OPENSSL_cleanse(res, sizeof(*res));
}

int
register_card(const struct register_params *p, struct register_result *res,
    char *err, size_t errlen)
{
	struct register_session *s;
	struct register_form form;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if ((s = register_session_new(p, err, errlen)) == NULL)
		return -1;
	if (register_start(s, &form) == 0)
		rc = register_finish(s, p, res);
	register_session_free(s);
	return rc;
}
