/*
 * ca-attack: a hostile client for the integration tests. It talks to a real
 * CA daemon over TLS and sends what an attacker or a broken peer would:
 * bytes that are not JSON, wrong types, missing fields, bad base64, CMS that
 * does not parse, signatures that fail, envelopes to nobody, forged proofs of
 * possession, CSRs that ask for CA:TRUE, reused, expired and mismatched
 * tokens, a reused RRPID. Each must come back as a SET Error with the right
 * code, and the daemon must keep answering. Prints "PASS: ca-attack: ..." or
 * "FAIL: ca-attack: ..." per check.
 *
 * It creates exactly one request on purpose (a pending CertReq, sent twice
 * to check idempotency); the calling script checks the database for that
 * and for nothing else having been written.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#include "base64.h"
#include "cms.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "msg.h"
#include "pki.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

static SSL_CTX *ssl;
static char *host;
static int port;
static const char *brand = "Visa";
static X509 *ca_kex;
static int failures;

static void
report(int ok, const char *what, const char *detail)
{
	if (ok)
		printf("PASS: ca-attack: %s\n", what);
	else {
		printf("FAIL: ca-attack: %s\n    %s\n", what, detail);
		failures++;
	}
	fflush(stdout);
}

static int
verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/* Posts bytes; returns the HTTP status, fills *m when the reply parses. */
static int
post(const void *body, size_t len, struct msg *m, char *why, size_t whylen)
{
	struct http_resp r;
	struct msg_error e;
	char err[256];
	int status;

	memset(m, 0, sizeof(*m));
	memset(&r, 0, sizeof(r));
	if (http_request(ssl, host, port, "POST", "/set", "application/json",
	        body, len, 10, &r, err, sizeof(err)) == -1) {
		snprintf(why, whylen, "no answer: %s", err);
		return -1;
	}
	status = r.status;
	if (msg_parse(r.body, r.len, NULL, NULL, m, &e) == -1)
		snprintf(why, whylen,
		    "HTTP %d, reply is not a SET message: "
		    "%s: %.200s",
		    r.status, e.reason, r.body ? (char *)r.body : "");
	http_resp_clear(&r);
	return status;
}

/* Sends and expects an Error with this code. */
static void
expect_error(const char *what, const void *body, size_t len, const char *code)
{
	struct msg m;
	char why[512] = "";
	int status = post(body, len, &m, why, sizeof(why));
	const char *got =
	    m.json ? json_string_value(json_object_get(m.json, "code")) : NULL;

	if (status >= 400 && m.type != NULL && strcmp(m.type, "Error") == 0 &&
	    got != NULL && strcmp(got, code) == 0)
		report(1, what, NULL);
	else {
		if (why[0] == '\0')
			snprintf(why, sizeof(why),
			    "HTTP %d, %s code \"%s\" "
			    "(wanted Error \"%s\")",
			    status, m.type ? m.type : "?", got ? got : "?",
			    code);
		report(0, what, why);
	}
	msg_clear(&m);
}

static void
expect_error_str(const char *what, const char *body, const char *code)
{
	expect_error(what, body, strlen(body), code);
}

/* A CSR for key; ca_true asks for basicConstraints CA:TRUE. */
static unsigned char *
make_csr(EVP_PKEY *key, int ca_true, int break_sig, size_t *len)
{
	char err[256];
	X509_REQ *req;
	unsigned char *der;

	if (!ca_true)
		req = setcert_csr_new(key, "attacker", err, sizeof(err));
	else {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *ext;
		X509_NAME *name = X509_NAME_new();

		req = X509_REQ_new();
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		    (const unsigned char *)"attacker", -1, -1, 0);
		X509_REQ_set_subject_name(req, name);
		X509_NAME_free(name);
		X509_REQ_set_pubkey(req, key);
		ext = X509V3_EXT_conf_nid(
		    NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
		sk_X509_EXTENSION_push(exts, ext);
		X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		X509_REQ_sign(req, key, EVP_sha256());
	}
	if (req == NULL)
		log_fatalx("cannot make a CSR: %s", err);
	der = setcert_csr_der(req, len);
	X509_REQ_free(req);
	if (break_sig)
		der[*len - 1] ^= 0x01;
	return der;
}

static X509 *
self_cert(EVP_PKEY *key)
{
	struct setcert_spec s;
	char err[256];
	time_t now = time(NULL);
	X509 *x;

	memset(&s, 0, sizeof(s));
	s.pubkey = key;
	s.issuer_key = key;
	s.cn = "attacker";
	s.usage = SETCERT_SIGN;
	s.pathlen = -1;
	s.not_before = now - 60;
	s.not_after = now + 3600;
	if ((x = setcert_issue(&s, err, sizeof(err))) == NULL)
		log_fatalx("self cert: %s", err);
	return x;
}

struct certreq_opts {
	const char *role, *id, *token, *rrpid;
	int ca_true, break_sig, same_key, wrong_signer, unsealed;
	int tamper_body;
};

/* Builds a CertReq as a client would, with the requested defects. */
static char *
certreq(const struct certreq_opts *o, size_t *len)
{
	EVP_PKEY *sigkey = setcert_keygen(), *kexkey = setcert_keygen();
	EVP_PKEY *other = setcert_keygen();
	unsigned char *sig, *kex;
	size_t siglen, kexlen;
	char *b1, *b2, *wire = NULL, err[256];
	json_t *body;
	X509 *signer;

	sig = make_csr(sigkey, o->ca_true, o->break_sig, &siglen);
	kex = make_csr(o->same_key ? sigkey : kexkey, 0, 0, &kexlen);
	b1 = base64_encode(sig, siglen);
	b2 = base64_encode(kex, kexlen);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "role", o->role,
	    "id", o->id, "name", "Attacker Ltd", "brand", brand, "sig_csr", b1,
	    "kex_csr", b2);
	if (o->token != NULL)
		json_object_set_new(body, "token", json_string(o->token));
	signer = self_cert(o->wrong_signer ? other : sigkey);
	if (!o->tamper_body) {
		if (msg_build("CertReq", o->rrpid, body, signer,
		        o->wrong_signer ? other : sigkey, NULL,
		        o->unsealed ? NULL : ca_kex, &wire, len, err,
		        sizeof(err)) == -1)
			log_fatalx("msg_build: %s", err);
	} else {
		/* Sign, then change one byte of the signed body, then seal
		 * the altered pair: the envelope opens, the signature must
		 * fail. */
		char *plain, *inner, *b64;
		json_t *outer, *in;
		unsigned char *bytes, *der;
		size_t n, derlen;

		if (msg_build("CertReq", o->rrpid, body, signer, sigkey, NULL,
		        NULL, &plain, &n, err, sizeof(err)) == -1)
			log_fatalx("msg_build: %s", err);
		outer = json_loads(plain, 0, NULL);
		b64 =
		    xstrdup(json_string_value(json_object_get(outer, "body")));
		bytes = base64_decode(b64, strlen(b64), &n);
		bytes[n / 2] ^= 0x01;
		free(b64);
		b64 = base64_encode(bytes, n);
		in = json_pack("{s:s, s:O}", "body", b64, "sig",
		    json_object_get(outer, "sig"));
		inner = json_dumps(in, JSON_COMPACT);
		if (cms_seal(inner, strlen(inner), ca_kex, &der, &derlen, err,
		        sizeof(err)) == -1)
			log_fatalx("seal: %s", err);
		free(b64);
		b64 = base64_encode(der, derlen);
		json_object_del(outer, "body");
		json_object_del(outer, "sig");
		json_object_set_new(outer, "sealed", json_string(b64));
		{
			char *t = setcert_thumbprint(ca_kex);

			json_object_set_new(outer, "to", json_string(t));
			free(t);
		}
		wire = json_dumps(outer, JSON_COMPACT);
		*len = strlen(wire);
		free(plain);
		free(inner);
		free(bytes);
		free(der);
		free(b64);
		json_decref(outer);
		json_decref(in);
	}
	json_decref(body);
	free(sig);
	free(kex);
	free(b1);
	free(b2);
	X509_free(signer);
	EVP_PKEY_free(sigkey);
	EVP_PKEY_free(kexkey);
	EVP_PKEY_free(other);
	return wire;
}

static void
certreq_error(const char *what, const struct certreq_opts *o, const char *code)
{
	size_t len;
	char *wire = certreq(o, &len);

	expect_error(what, wire, len, code);
	free(wire);
}

/* Me-AqCInitReq must still work: the daemon keeps serving. */
static int
init_ok(void)
{
	json_t *body =
	    json_pack("{s:s, s:s}", "role", "merchant", "brand", brand);
	char *wire, why[512] = "", err[256];
	size_t len;
	struct msg m;
	int status, ok;

	if (msg_build("Me-AqCInitReq", NULL, body, NULL, NULL, NULL, NULL,
	        &wire, &len, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	status = post(wire, len, &m, why, sizeof(why));
	ok = status == 200 && m.type && strcmp(m.type, "Me-AqCInitRes") == 0;
	if (ok && ca_kex == NULL) {
		const char *s =
		    json_string_value(json_object_get(m.json, "kex_cert"));
		unsigned char *der;
		size_t n;

		if (s != NULL && (der = base64_decode(s, strlen(s), &n))) {
			ca_kex = setcert_from_der(der, n);
			free(der);
		}
	}
	msg_clear(&m);
	free(wire);
	json_decref(body);
	return ok && ca_kex != NULL;
}

static void
attack_envelopes(void)
{
	static const char big_prefix[] =
	    "{\"set\":1,\"type\":\"Me-AqCInitReq\","
	    "\"rrpid\":\"";
	char *deep, *garbage_cms, *json;
	size_t i, n = 5000;
	json_t *body;
	char err[256], *wire;
	size_t len;

	expect_error_str("not JSON is refused", "hello, CA", "malformed");
	expect_error_str("a JSON array is refused", "[1,2,3]", "malformed");
	expect_error_str("a wrong protocol version is refused",
	    "{\"set\":2,\"type\":\"Me-AqCInitReq\",\"rrpid\":"
	    "\"00112233445566778899\",\"body\":\"e30=\"}",
	    "malformed");
	expect_error_str("a numeric type is refused",
	    "{\"set\":1,\"type\":123,\"rrpid\":\"00112233445566778899\","
	    "\"body\":\"e30=\"}",
	    "malformed");
	expect_error_str("a missing rrpid is refused",
	    "{\"set\":1,\"type\":\"Me-AqCInitReq\",\"body\":\"e30=\"}",
	    "malformed");
	expect_error_str("an unknown message type is refused",
	    "{\"set\":1,\"type\":\"GiveMeMoney\",\"rrpid\":"
	    "\"00112233445566778899\",\"body\":\"e30=\"}",
	    "malformed");
	expect_error_str("bad base64 in the body is refused",
	    "{\"set\":1,\"type\":\"Me-AqCInitReq\",\"rrpid\":"
	    "\"00112233445566778899\",\"body\":\"***not base64***\"}",
	    "malformed");
	expect_error_str("a body that is not an object is refused",
	    "{\"set\":1,\"type\":\"Me-AqCInitReq\",\"rrpid\":"
	    "\"00112233445566778899\",\"body\":\"WzFd\"}",
	    "malformed");
	expect_error_str(
	    "a body whose msg differs from the envelope is refused",
	    "{\"set\":1,\"type\":\"Me-AqCInitReq\",\"rrpid\":"
	    "\"00112233445566778899\",\"body\":\"eyJtc2ciOiJDZXJ0UmVxIn0=\"}",
	    "malformed");

	/* 5000 nested arrays: deeper than any parser should follow. */
	deep = xmalloc(n * 2 + 1);
	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n * 2 - 1 - i] = ']';
	}
	deep[n * 2] = '\0';
	expect_error_str("deeply nested JSON is refused", deep, "malformed");
	free(deep);

	/* A signed type whose "sig" is base64 of garbage. */
	body = json_pack("{s:s, s:s}", "role", "merchant", "brand", brand);
	if (msg_build("Me-AqCInitReq", NULL, body, NULL, NULL, NULL, NULL,
	        &wire, &len, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	json_decref(body);
	{
		json_t *o = json_loads(wire, 0, NULL);

		json_object_set_new(o, "type", json_string("CertInqReq"));
		garbage_cms = base64_encode("\x30\x82\x01\x00garbage", 12);
		json_object_set_new(o, "sig", json_string(garbage_cms));
		json = json_dumps(o, JSON_COMPACT);
		expect_error_str("a CMS signature that does not parse is "
		                 "refused",
		    json, "bad-signature");
		free(json);
		json_object_del(o, "sig");
		json = json_dumps(o, JSON_COMPACT);
		expect_error_str("a signed message type without a signature is "
		                 "refused",
		    json, "bad-signature");
		free(json);
		json_object_del(o, "body");
		json_object_set_new(o, "type", json_string("CertReq"));
		json_object_set_new(o, "sealed", json_string(garbage_cms));
		json_object_set_new(o, "to", json_string("00"));
		json = json_dumps(o, JSON_COMPACT);
		expect_error_str("an envelope sealed to an unknown key is "
		                 "refused",
		    json, "unknown-recipient");
		free(json);
		{
			char *t = setcert_thumbprint(ca_kex);

			json_object_set_new(o, "to", json_string(t));
			free(t);
		}
		json = json_dumps(o, JSON_COMPACT);
		expect_error_str("an envelope that does not open is refused",
		    json, "bad-envelope");
		free(json);
		free(garbage_cms);
		json_decref(o);
	}
	free(wire);

	/* A long rrpid. */
	json = xasprintf("%s%0200d\",\"body\":\"e30=\"}", big_prefix, 0);
	expect_error_str(
	    "an rrpid over 64 digits is refused", json, "malformed");
	free(json);
}

static void
attack_fields(void)
{
	json_t *body;
	char *wire, err[256];
	size_t len;

	body =
	    json_pack("{s:s, s:s}", "role", "merchant", "brand", "NoSuchBrand");
	msg_build("Me-AqCInitReq", NULL, body, NULL, NULL, NULL, NULL, &wire,
	    &len, err, sizeof(err));
	expect_error("an unknown brand is refused", wire, len, "unknown-brand");
	json_decref(body);
	free(wire);
	body = json_pack("{s:s, s:s}", "role", "ca", "brand", brand);
	msg_build("Me-AqCInitReq", NULL, body, NULL, NULL, NULL, NULL, &wire,
	    &len, err, sizeof(err));
	expect_error(
	    "a request to become a CA is refused", wire, len, "unknown-role");
	json_decref(body);
	free(wire);
	body = json_pack("{s:i, s:s}", "role", 7, "brand", brand);
	msg_build("Me-AqCInitReq", NULL, body, NULL, NULL, NULL, NULL, &wire,
	    &len, err, sizeof(err));
	expect_error(
	    "a role of the wrong type is refused", wire, len, "malformed");
	json_decref(body);
	free(wire);
}

static void
attack_certreq(const char *used, const char *expired, const char *gw_token)
{
	struct certreq_opts o;

	memset(&o, 0, sizeof(o));
	o.role = "merchant";
	o.id = "attacker-1";
	o.unsealed = 1;
	certreq_error("an unsealed CertReq is refused", &o, "malformed");
	o.unsealed = 0;
	o.tamper_body = 1;
	certreq_error("a CertReq whose signed body was altered is refused", &o,
	    "bad-signature");
	o.tamper_body = 0;
	o.break_sig = 1;
	certreq_error(
	    "a CSR with a broken self-signature is refused", &o, "bad-csr");
	o.break_sig = 0;
	o.ca_true = 1;
	certreq_error("a CSR asking for CA:TRUE is refused", &o, "bad-csr");
	o.ca_true = 0;
	o.same_key = 1;
	certreq_error(
	    "one key for signing and key exchange is refused", &o, "bad-csr");
	o.same_key = 0;
	o.wrong_signer = 1;
	certreq_error("a CertReq signed by another key (no proof of "
	              "possession) is refused",
	    &o, "bad-signature");
	o.wrong_signer = 0;
	o.token = "00000000000000000000000000000000";
	certreq_error("an unknown token is refused", &o, "bad-token");
	if (used != NULL) {
		o.token = used;
		certreq_error("a reused token is refused", &o, "token-used");
	}
	if (expired != NULL) {
		o.token = expired;
		o.id = "late-merchant";
		certreq_error(
		    "an expired token is refused", &o, "token-expired");
	}
	if (gw_token != NULL) {
		/* The token was made for a gateway; we claim a merchant. */
		o.token = gw_token;
		o.id = "gw-x";
		certreq_error("a gateway's token used to enroll a merchant is "
		              "refused",
		    &o, "token-mismatch");
	}
}

/* The same CertReq twice: one request, the same reply; then another
 * CertReq under the same RRPID: refused. */
static void
attack_rrpid(void)
{
	struct certreq_opts o;
	struct msg m1, m2;
	char *w1, *w2, why[512] = "";
	char *rrpid = hex_random(20);
	size_t l1, l2;
	int s1, s2;

	memset(&o, 0, sizeof(o));
	o.role = "merchant";
	o.id = "patient-merchant";
	o.rrpid = rrpid;
	w1 = certreq(&o, &l1);
	s1 = post(w1, l1, &m1, why, sizeof(why));
	s2 = post(w1, l1, &m2, why, sizeof(why));
	report(s1 == 200 && s2 == 200 && m1.body && m2.body &&
	        m1.bodylen == m2.bodylen &&
	        memcmp(m1.body, m2.body, m1.bodylen) == 0 &&
	        strcmp(json_string_value(json_object_get(m1.json, "status")),
	            "pending") == 0,
	    "a repeated CertReq (same RRPID, same bytes) gets the same reply",
	    why[0] ? why : "the replies differ or are not pending CertRes");
	msg_clear(&m1);
	msg_clear(&m2);
	o.id = "other-merchant";
	w2 = certreq(&o, &l2);
	expect_error("the same RRPID with different bytes is refused", w2, l2,
	    "rrpid-conflict");
	free(w1);
	free(w2);
	free(rrpid);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "ca", 1, NULL, 'c' },
		{ "root", 1, NULL, 'r' }, { "brand", 1, NULL, 'b' },
		{ "used-token", 1, NULL, 'u' },
		{ "expired-token", 1, NULL, 'e' },
		{ "gateway-token", 1, NULL, 'g' }, { NULL, 0, NULL, 0 } };
	const char *root = NULL, *ca = NULL, *used = NULL, *expired = NULL;
	const char *gw = NULL;
	struct pki *pki = pki_new();
	char err[256], *colon;
	int c;

	log_init("ca-attack", 1, 0);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		switch (c) {
		case 'c':
			ca = optarg;
			break;
		case 'r':
			root = optarg;
			break;
		case 'b':
			brand = optarg;
			break;
		case 'u':
			used = optarg;
			break;
		case 'e':
			expired = optarg;
			break;
		case 'g':
			gw = optarg;
			break;
		default:
			return 2;
		}
	if (ca == NULL || root == NULL || (colon = strrchr(ca, ':')) == NULL) {
		fprintf(stderr,
		    "usage: ca-attack --ca HOST:PORT --root PEM "
		    "[--brand B] [--used-token T] [--expired-token T] "
		    "[--gateway-token T]\n");
		return 2;
	}
	host = strndup(ca, (size_t)(colon - ca));
	port = atoi(colon + 1);
	if (pki_load_certs(pki, root, 1, err, sizeof(err)) == -1)
		log_fatalx("%s", err);
	pki_set_crl_check(pki, 0);
	if ((ssl = tls_client_ctx(
	         NULL, NULL, NULL, verify_cb, pki, err, sizeof(err))) == NULL)
		log_fatalx("%s", err);
	report(init_ok(), "the CA answers Me-AqCInitReq before the attacks",
	    "no Me-AqCInitRes with a key-exchange certificate");
	if (ca_kex == NULL)
		return 1;
	attack_envelopes();
	attack_fields();
	attack_certreq(used, expired, gw);
	attack_rrpid();
	report(init_ok(), "the CA still answers after every attack",
	    "no Me-AqCInitRes");
	SSL_CTX_free(ssl);
	X509_free(ca_kex);
	pki_free(pki);
	free(host);
	return failures ? 1 : 0;
}
