/*
 * The enrollment client (see enroll.h for the exchange and the files).
 *
 * Trust starts from one file, the root certificate, handed over out of band.
 * The TLS connection to the CA is checked against it (chain, time, host
 * name) but not against CRLs: the CA is where the CRLs come from, and its
 * TLS certificate belongs to the first brand, whose CRLs a requester of
 * another brand never receives. TLS only protects the channel; everything
 * the CA says is signed and is checked completely: the signer's chain with
 * the CRLs the response carries, and those CRLs against the brand's signed
 * list of current CRLs (BCI).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "base64.h"
#include "cms.h"
#include "enroll.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "msg.h"
#include "pki.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

struct enroll {
	const struct enroll_params *p;
	X509 *root;
	struct pki *pki; /* for what the CA signs: with CRLs */
	struct pki *tls_pki; /* for the CA's TLS certificate */
	SSL_CTX *ssl;
	unsigned role_type; /* SETCERT_MER or SETCERT_PGWY */
	unsigned ca_type; /* SETCERT_MCA or SETCERT_PCA */
	STACK_OF(X509) *ca_certs;
	STACK_OF(X509_CRL) *crls;
	X509 *ca_kex;
	char *err;
	size_t errlen;
};

static int fail(struct enroll *en, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct enroll *en, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(en->err, en->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
tls_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct pki *pki = arg;

	return pki_verify(pki, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

static char *
outpath(struct enroll *en, const char *name)
{
	return xasprintf("%s/%s", en->p->outdir, name);
}

static int
setup(
    struct enroll *en, const struct enroll_params *p, char *err, size_t errlen)
{
	memset(en, 0, sizeof(*en));
	en->p = p;
	en->err = err;
	en->errlen = errlen;
	err[0] = '\0';
	if (strcmp(p->role, "merchant") == 0) {
		en->role_type = SETCERT_MER;
		en->ca_type = SETCERT_MCA;
	} else if (strcmp(p->role, "gateway") == 0) {
		en->role_type = SETCERT_PGWY;
		en->ca_type = SETCERT_PCA;
	} else
		return fail(en,
		    "the role must be merchant or gateway, not "
		    "\"%s\"",
		    p->role);
	if ((en->root = setcert_read_cert(p->root_file, err, errlen)) == NULL)
		return -1;
	en->pki = pki_new();
	pki_add_trusted(en->pki, en->root);
	en->tls_pki = pki_new();
	pki_add_trusted(en->tls_pki, en->root);
	pki_set_crl_check(en->tls_pki, 0);
	en->ssl = tls_client_ctx(p->tls_cert, p->tls_key, p->tls_chain,
	    tls_verify_cb, en->tls_pki, err, errlen);
	if (en->ssl == NULL)
		return -1;
	if (mkdir(p->outdir, 0700) == -1 && errno != EEXIST)
		return fail(en, "%s: %s", p->outdir, strerror(errno));
	return 0;
}

static void
teardown(struct enroll *en)
{
	X509_free(en->root);
	pki_free(en->pki);
	pki_free(en->tls_pki);
	SSL_CTX_free(en->ssl);
	sk_X509_pop_free(en->ca_certs, X509_free);
	sk_X509_CRL_pop_free(en->crls, X509_CRL_free);
	X509_free(en->ca_kex);
}

/* Sends one message and parses the signed answer of the expected type. */
static int
exchange(struct enroll *en, const char *wire, size_t len, const char *want,
    struct msg *res)
{
	struct http_resp r;
	struct msg_error e;
	char err[512];
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	if (http_request(en->ssl, en->p->host, en->p->port, "POST", "/set",
	        "application/json", wire, len, en->p->timeout, &r, err,
	        sizeof(err)) == -1)
		return fail(en, "cannot reach the CA at %s:%d: %s", en->p->host,
		    en->p->port, err);
	if (msg_parse(r.body, r.len, NULL, NULL, res, &e) == -1) {
		fail(en,
		    "the CA's answer (HTTP %d) is not a valid SET "
		    "message: %s: %s",
		    r.status, e.code, e.reason);
		goto done;
	}
	if (strcmp(res->type, "Error") == 0) {
		const char *code =
		    json_string_value(json_object_get(res->json, "code"));
		const char *reason =
		    json_string_value(json_object_get(res->json, "reason"));

		fail(en, "the CA refused: %s: %s", code ? code : "?",
		    reason ? reason : "no reason given");
		goto done;
	}
	if (strcmp(res->type, want) != 0) {
		fail(en, "the CA answered %s where %s was expected", res->type,
		    want);
		goto done;
	}
	rc = 0;
done:
	http_resp_clear(&r);
	if (rc == -1)
		msg_clear(res);
	return rc;
}

static X509 *
b64_cert(json_t *v)
{
	const char *s = json_string_value(v);
	unsigned char *der;
	size_t len;
	X509 *x;

	if (s == NULL || (der = base64_decode(s, strlen(s), &len)) == NULL)
		return NULL;
	x = setcert_from_der(der, len);
	free(der);
	return x;
}

/* SHA-256 of a CRL's DER, hex. */
static char *
crl_hash(X509_CRL *crl)
{
	unsigned char *der = NULL;
	int len = i2d_X509_CRL(crl, &der);
	char *h;

	if (len <= 0)
		return NULL;
	h = hex_sha256(der, (size_t)len);
	OPENSSL_free(der);
	return h;
}

/*
 * Reads the CA material of a response (ca_certs, crls, bci, kex_cert),
 * installs it in our pki and checks it: every CRL must be the one the
 * brand's signed BCI names as current.
 */
static int
take_ca_material(struct enroll *en, struct msg *m)
{
	json_t *certs = json_object_get(m->json, "ca_certs");
	json_t *crls = json_object_get(m->json, "crls");
	const char *bci_b64 =
	    json_string_value(json_object_get(m->json, "bci"));
	unsigned char *bci = NULL, *content = NULL;
	size_t bcilen, contentlen, i, j;
	X509 *bci_signer = NULL;
	json_t *bcij = NULL, *v;
	char err[256];
	int rc = -1;

	if (!json_is_array(certs) || !json_is_array(crls) || bci_b64 == NULL)
		return fail(
		    en, "%s lacks the CA's certificates, CRLs or BCI", m->type);
	sk_X509_pop_free(en->ca_certs, X509_free);
	en->ca_certs = sk_X509_new_null();
	json_array_foreach(certs, i, v)
	{
		X509 *x = b64_cert(v);

		if (x == NULL)
			return fail(
			    en, "%s: a CA certificate does not parse", m->type);
		sk_X509_push(en->ca_certs, x);
		pki_add_ca(en->pki, x);
	}
	sk_X509_CRL_pop_free(en->crls, X509_CRL_free);
	en->crls = sk_X509_CRL_new_null();
	json_array_foreach(crls, i, v)
	{
		const char *s = json_string_value(v);
		unsigned char *der;
		const unsigned char *p;
		size_t len;
		X509_CRL *crl;

		if (s == NULL ||
		    (der = base64_decode(s, strlen(s), &len)) == NULL)
			return fail(en, "%s: a CRL is not base64", m->type);
		p = der;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		free(der);
		if (crl == NULL)
			return fail(en, "%s: a CRL does not parse", m->type);
		sk_X509_CRL_push(en->crls, crl);
		if (pki_set_crl(en->pki, crl, err, sizeof(err)) == -1)
			return fail(
			    en, "%s: a CRL is refused: %s", m->type, err);
	}

	/* The BCI: signed by the brand CA; names the current CRLs. */
	if ((bci = base64_decode(bci_b64, strlen(bci_b64), &bcilen)) == NULL ||
	    cms_verify(bci, bcilen, NID_setct_BCIDistributionTBS, NULL, 0,
	        &bci_signer, NULL, &content, &contentlen, err,
	        sizeof(err)) == -1) {
		fail(en, "the brand's CRL list (BCI) does not verify: %s",
		    bci ? err : "not base64");
		goto done;
	}
	if (pki_verify(en->pki, bci_signer, en->ca_certs, SETCERT_BCA,
	        SETCERT_SIGN, en->p->brand, NULL, err, sizeof(err)) != PKI_OK) {
		fail(en, "the BCI's signer is not the %s brand CA: %s",
		    en->p->brand, err);
		goto done;
	}
	bcij = json_loadb((const char *)content, contentlen, 0, NULL);
	for (j = 0; j < (size_t)sk_X509_CRL_num(en->crls); j++) {
		char *h = crl_hash(sk_X509_CRL_value(en->crls, (int)j));
		int found = 0;

		json_array_foreach(json_object_get(bcij, "crls"), i, v)
		{
			const char *bh =
			    json_string_value(json_object_get(v, "sha256"));

			if (h != NULL && bh != NULL && strcmp(h, bh) == 0)
				found = 1;
		}
		free(h);
		if (!found) {
			fail(en,
			    "a CRL from the CA is not the current one "
			    "named in the brand's BCI (stale CRL)");
			goto done;
		}
	}
	X509_free(en->ca_kex);
	en->ca_kex = b64_cert(json_object_get(m->json, "kex_cert"));
	rc = 0;
done:
	free(bci);
	free(content);
	X509_free(bci_signer);
	json_decref(bcij);
	return rc;
}

/* The response's signer must be the brand's CA for our role. */
static int
check_ca_signer(struct enroll *en, struct msg *m)
{
	char err[256];
	enum pki_result r;

	if (m->signer == NULL)
		return fail(en, "%s is not signed", m->type);
	r = pki_verify(en->pki, m->signer, m->certs, en->ca_type, SETCERT_SIGN,
	    en->p->brand, NULL, err, sizeof(err));
	if (r != PKI_OK)
		return fail(en, "%s is not signed by the %s CA of %s: %s (%s)",
		    m->type, en->p->role, en->p->brand, pki_result_code(r),
		    err);
	return 0;
}

static int
ca_init(struct enroll *en)
{
	json_t *body =
	    json_pack("{s:s, s:s}", "role", en->p->role, "brand", en->p->brand);
	char *wire = NULL, err[256];
	size_t len;
	struct msg m;
	int rc = -1;

	if (msg_build("Me-AqCInitReq", NULL, body, NULL, NULL, NULL, NULL,
	        &wire, &len, err, sizeof(err)) == -1) {
		fail(en, "%s", err);
		goto done;
	}
	if (exchange(en, wire, len, "Me-AqCInitRes", &m) == -1)
		goto done;
	if (take_ca_material(en, &m) == 0 && check_ca_signer(en, &m) == 0) {
		if (en->ca_kex == NULL)
			fail(en, "the CA sent no key-exchange certificate");
		else if (pki_verify(en->pki, en->ca_kex, en->ca_certs,
		             en->ca_type, SETCERT_KEYEX, en->p->brand, NULL,
		             err, sizeof(err)) != PKI_OK)
			fail(en,
			    "the CA's key-exchange certificate is not "
			    "valid: %s",
			    err);
		else
			rc = 0;
	}
	msg_clear(&m);
done:
	json_decref(body);
	free(wire);
	return rc;
}

/* A throwaway self-signed certificate for our new signature key: CMS
 * needs a certificate to sign with, and the CA checks only its key. */
static X509 *
self_cert(struct enroll *en, EVP_PKEY *key)
{
	struct setcert_spec s;
	time_t now = time(NULL);

	memset(&s, 0, sizeof(s));
	s.pubkey = key;
	s.issuer_key = key;
	s.cn = en->p->id;
	s.ou = "enrollment request";
	s.usage = SETCERT_SIGN;
	s.pathlen = -1;
	s.not_before = now - 300;
	s.not_after = now + 3600;
	return setcert_issue(&s, en->err, en->errlen);
}

static int
write_files(struct enroll *en, X509 *sig, X509 *kex)
{
	static const char *const names[] = { "sig.pem", "kex.pem", "chain.pem",
		"root.pem", "ca-kex.pem" };
	X509 *one[1];
	X509 **chain;
	size_t i, n = (size_t)sk_X509_num(en->ca_certs);
	char *path, *tmp;
	FILE *f;
	int rc = 0;

	chain = xcalloc(n + 1, sizeof(*chain));
	for (i = 0; i < n; i++)
		chain[i] = sk_X509_value(en->ca_certs, (int)i);
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && rc == 0; i++) {
		path = outpath(en, names[i]);
		switch (i) {
		case 0:
			one[0] = sig;
			break;
		case 1:
			one[0] = kex;
			break;
		case 3:
			one[0] = en->root;
			break;
		case 4:
			one[0] = en->ca_kex;
			break;
		}
		rc = setcert_write_pem(path, i == 2 ? chain : one,
		    i == 2 ? n : 1, en->err, en->errlen);
		free(path);
	}
	free(chain);
	if (rc == -1)
		return -1;
	path = outpath(en, "crl.pem");
	tmp = xasprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		rc = fail(en, "%s: %s", tmp, strerror(errno));
	else {
		for (i = 0; i < (size_t)sk_X509_CRL_num(en->crls); i++)
			PEM_write_X509_CRL(
			    f, sk_X509_CRL_value(en->crls, (int)i));
		if (fflush(f) == EOF || fsync(fileno(f)) == -1 ||
		    fclose(f) == EOF || rename(tmp, path) == -1)
			rc = fail(en, "%s: cannot write", path);
	}
	free(tmp);
	free(path);
	return rc;
}

/* Handles CertRes / CertInqRes: issued, pending or rejected. */
static enum enroll_result
take_certres(
    struct enroll *en, struct msg *m, EVP_PKEY *sigkey, EVP_PKEY *kexkey)
{
	const char *status =
	    json_string_value(json_object_get(m->json, "status"));
	const char *id =
	    json_string_value(json_object_get(m->json, "request_id"));
	json_t *certs = json_object_get(m->json, "certs");
	X509 *sig = NULL, *kex = NULL;
	char err[256], *path;
	enum enroll_result rc = ENROLL_ERROR;
	FILE *f;

	if (status == NULL || id == NULL) {
		fail(en, "%s lacks status or request_id", m->type);
		return ENROLL_ERROR;
	}
	if (strcmp(status, "rejected") == 0) {
		const char *reason =
		    json_string_value(json_object_get(m->json, "reason"));

		fail(en, "request %s was rejected: %s", id,
		    reason ? reason : "no reason given");
		path = outpath(en, "request.json");
		unlink(path);
		free(path);
		return ENROLL_REJECTED;
	}
	if (strcmp(status, "pending") == 0) {
		json_t *j =
		    json_pack("{s:s, s:s, s:s, s:s}", "request_id", id, "role",
		        en->p->role, "id", en->p->id, "brand", en->p->brand);

		path = outpath(en, "request.json");
		if ((f = fopen(path, "w")) == NULL ||
		    json_dumpf(j, f, JSON_INDENT(2)) == -1 || fclose(f) == EOF)
			fail(en, "%s: cannot write", path);
		else {
			fail(en,
			    "request %s is pending the CA operator's "
			    "approval",
			    id);
			rc = ENROLL_PENDING;
		}
		free(path);
		json_decref(j);
		return rc;
	}
	if (strcmp(status, "issued") != 0) {
		fail(en, "%s has an unknown status \"%s\"", m->type, status);
		return ENROLL_ERROR;
	}
	if (take_ca_material(en, m) == -1 || check_ca_signer(en, m) == -1)
		return ENROLL_ERROR;
	sig = b64_cert(json_object_get(certs, "sig"));
	kex = b64_cert(json_object_get(certs, "kex"));
	if (sig == NULL || kex == NULL) {
		fail(en, "%s: the issued certificates do not parse", m->type);
		goto done;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(sig), sigkey) != 1 ||
	    EVP_PKEY_eq(X509_get0_pubkey(kex), kexkey) != 1) {
		fail(en, "the issued certificates do not carry our keys");
		goto done;
	}
	if (pki_verify(en->pki, sig, en->ca_certs, en->role_type, SETCERT_SIGN,
	        en->p->brand, NULL, err, sizeof(err)) != PKI_OK ||
	    pki_verify(en->pki, kex, en->ca_certs, en->role_type, SETCERT_KEYEX,
	        en->p->brand, NULL, err, sizeof(err)) != PKI_OK) {
		fail(en, "an issued certificate does not verify: %s", err);
		goto done;
	}
	if (write_files(en, sig, kex) == -1)
		goto done;
	path = outpath(en, "request.json");
	unlink(path);
	free(path);
	rc = ENROLL_ISSUED;
done:
	X509_free(sig);
	X509_free(kex);
	return rc;
}

static EVP_PKEY *
read_key(struct enroll *en, const char *name)
{
	char *path = outpath(en, name);
	EVP_PKEY *k = setcert_read_key(path, en->err, en->errlen);

	free(path);
	return k;
}

enum enroll_result
enroll_run(const struct enroll_params *p, char *err, size_t errlen)
{
	struct enroll en;
	EVP_PKEY *sigkey = NULL, *kexkey = NULL;
	X509_REQ *sigreq = NULL, *kexreq = NULL;
	X509 *self = NULL;
	unsigned char *sigder = NULL, *kexder = NULL;
	size_t siglen, kexlen, len;
	char *b1 = NULL, *b2 = NULL, *wire = NULL, *path;
	json_t *body = NULL;
	struct msg m;
	enum enroll_result rc = ENROLL_ERROR;

	memset(&m, 0, sizeof(m));
	if (setup(&en, p, err, errlen) == -1 || ca_init(&en) == -1)
		goto done;

	path = outpath(&en, "sig.key");
	if (access(path, F_OK) == 0) {
		fail(&en,
		    "%s already exists: this folder holds an earlier "
		    "enrollment (poll it, or use another folder)",
		    path);
		free(path);
		goto done;
	}
	free(path);
	sigkey = setcert_keygen();
	kexkey = setcert_keygen();
	path = outpath(&en, "sig.key");
	if (setcert_write_key(path, sigkey, err, errlen) == -1) {
		free(path);
		goto done;
	}
	free(path);
	path = outpath(&en, "kex.key");
	if (setcert_write_key(path, kexkey, err, errlen) == -1) {
		free(path);
		goto done;
	}
	free(path);

	if ((sigreq = setcert_csr_new(sigkey, p->id, err, errlen)) == NULL ||
	    (kexreq = setcert_csr_new(kexkey, p->id, err, errlen)) == NULL ||
	    (self = self_cert(&en, sigkey)) == NULL)
		goto done;
	sigder = setcert_csr_der(sigreq, &siglen);
	kexder = setcert_csr_der(kexreq, &kexlen);
	b1 = base64_encode(sigder, siglen);
	b2 = base64_encode(kexder, kexlen);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "role", p->role,
	    "id", p->id, "name", p->name ? p->name : p->id, "brand", p->brand,
	    "sig_csr", b1, "kex_csr", b2);
	if (p->token != NULL)
		json_object_set_new(body, "token", json_string(p->token));
	if (msg_build("CertReq", NULL, body, self, sigkey, NULL, en.ca_kex,
	        &wire, &len, err, errlen) == -1)
		goto done;
	if (exchange(&en, wire, len, "CertRes", &m) == -1)
		goto done;
	rc = take_certres(&en, &m, sigkey, kexkey);
done:
	msg_clear(&m);
	json_decref(body);
	free(b1);
	free(b2);
	free(sigder);
	free(kexder);
	if (wire != NULL)
		freezero_buf(wire, strlen(wire));
	X509_REQ_free(sigreq);
	X509_REQ_free(kexreq);
	X509_free(self);
	EVP_PKEY_free(sigkey);
	EVP_PKEY_free(kexkey);
	teardown(&en);
	return rc;
}

enum enroll_result
enroll_poll(const struct enroll_params *p, char *err, size_t errlen)
{
	struct enroll en;
	EVP_PKEY *sigkey = NULL, *kexkey = NULL;
	X509 *self = NULL;
	json_t *req = NULL, *body = NULL;
	const char *id;
	char *wire = NULL, *path;
	size_t len;
	struct msg m;
	enum enroll_result rc = ENROLL_ERROR;

	memset(&m, 0, sizeof(m));
	if (setup(&en, p, err, errlen) == -1)
		goto done;
	path = outpath(&en, "request.json");
	req = json_load_file(path, 0, NULL);
	if (req == NULL ||
	    (id = json_string_value(json_object_get(req, "request_id"))) ==
	        NULL) {
		fail(&en, "%s: no pending request is recorded here", path);
		free(path);
		goto done;
	}
	free(path);
	if ((sigkey = read_key(&en, "sig.key")) == NULL ||
	    (kexkey = read_key(&en, "kex.key")) == NULL ||
	    (self = self_cert(&en, sigkey)) == NULL || ca_init(&en) == -1)
		goto done;
	body = json_pack("{s:s}", "request_id", id);
	if (msg_build("CertInqReq", NULL, body, self, sigkey, NULL, NULL, &wire,
	        &len, err, errlen) == -1)
		goto done;
	if (exchange(&en, wire, len, "CertInqRes", &m) == -1)
		goto done;
	rc = take_certres(&en, &m, sigkey, kexkey);
done:
	msg_clear(&m);
	json_decref(req);
	json_decref(body);
	free(wire);
	X509_free(self);
	EVP_PKEY_free(sigkey);
	EVP_PKEY_free(kexkey);
	teardown(&en);
	return rc;
}
