/*
 * The client side of the CA (see caclient.h): one exchange over TLS, and
 * the complete check of what the CA sends with its answers. Merchants and
 * gateways (common/enroll.c) and the cardholder wallet (cardholder/) share
 * it, so every party checks the CA the same way: the signer's chain to our
 * own trust anchor, the CRLs, and the brand's signed BCI naming them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>

#include "base64.h"
#include "caclient.h"
#include "cms.h"
#include "hex.h"
#include "http.h"
#include "pki.h"
#include "setcert.h"
#include "tls.h"
#include "xmalloc.h"

static int caclient_fail(struct caclient *cc, enum caclient_failure why,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
caclient_fail(
    struct caclient *cc, enum caclient_failure why, const char *fmt, ...)
{
	va_list ap;

	cc->failure = why;
	va_start(ap, fmt);
	vsnprintf(cc->err, cc->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
caclient_tls_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	struct pki *pki = arg;

	return pki_verify(pki, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

int
caclient_init(struct caclient *cc, const struct caclient_params *p, char *err,
    size_t errlen)
{
	memset(cc, 0, sizeof(*cc));
	cc->p = *p;
	cc->err = err;
	cc->errlen = errlen;
	X509_up_ref(p->root);
	cc->pki = pki_new();
	pki_add_trusted(cc->pki, p->root);
	cc->tls_pki = pki_new();
	pki_add_trusted(cc->tls_pki, p->root);
	pki_set_crl_check(cc->tls_pki, 0);
	cc->ssl = tls_client_ctx(p->tls_cert, p->tls_key, p->tls_chain,
	    caclient_tls_verify_cb, cc->tls_pki, err, errlen);
	if (cc->ssl == NULL)
		return -1;
	cc->ca_certs = sk_X509_new_null();
	cc->crls = sk_X509_CRL_new_null();
	return 0;
}

void
caclient_clear(struct caclient *cc)
{
	X509_free(cc->p.root);
	pki_free(cc->pki);
	pki_free(cc->tls_pki);
	SSL_CTX_free(cc->ssl);
	sk_X509_pop_free(cc->ca_certs, X509_free);
	sk_X509_CRL_pop_free(cc->crls, X509_CRL_free);
	X509_free(cc->ca_kex);
	free(cc->bci);
	memset(cc, 0, sizeof(*cc));
}

int
caclient_exchange(struct caclient *cc, const char *wire, size_t len,
    const char *want, const char *rrpid, struct msg *res)
{
	struct http_resp r;
	struct msg_error e;
	char err[512];
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	cc->failure = CACLIENT_OK;
	cc->code[0] = '\0';
	if (http_request(cc->ssl, cc->p.host, cc->p.port, "POST", "/set",
	        "application/json", wire, len, cc->p.timeout, &r, err,
	        sizeof(err)) == -1)
		return caclient_fail(cc, CACLIENT_UNREACHABLE,
		    "cannot reach the CA at %s:%d: %s", cc->p.host, cc->p.port,
		    err);
	if (msg_parse(r.body, r.len, NULL, NULL, res, &e) == -1) {
		caclient_fail(cc, CACLIENT_INVALID,
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

		snprintf(cc->code, sizeof(cc->code), "%s", code ? code : "?");
		caclient_fail(cc, CACLIENT_REFUSED, "the CA refused: %s: %s",
		    code ? code : "?", reason ? reason : "no reason given");
		goto done;
	}
	if (strcmp(res->type, want) != 0) {
		caclient_fail(cc, CACLIENT_INVALID,
		    "the CA answered %s where %s was expected", res->type,
		    want);
		goto done;
	}
	if (rrpid != NULL && strcmp(res->rrpid, rrpid) != 0) {
		caclient_fail(cc, CACLIENT_INVALID,
		    "the CA's %s answers another request (its RRPID is not "
		    "ours)",
		    res->type);
		goto done;
	}
	rc = 0;
done:
	http_resp_clear(&r);
	if (rc == -1)
		msg_clear(res);
	return rc;
}

X509 *
caclient_b64_cert(json_t *v)
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

char *
caclient_crl_hash(X509_CRL *crl)
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
 * The BCI: a CMS SignedData (setct-BCIDistributionTBS) by the brand CA over
 * {"brand","number","crls":[{"ca","number","next_update","sha256"}]}. Its
 * signer is judged with the CRLs cc->pki holds, so those must be installed
 * first. *content gets the parsed list (NULL if it is not JSON).
 */
static int
caclient_bci_verify(struct caclient *cc, const unsigned char *bci,
    size_t bcilen, json_t **content)
{
	unsigned char *bytes = NULL;
	size_t len;
	X509 *signer = NULL;
	char err[256];
	int rc = -1;

	*content = NULL;
	if (cms_verify(bci, bcilen, NID_setct_BCIDistributionTBS, NULL, 0,
	        &signer, NULL, &bytes, &len, err, sizeof(err)) == -1)
		return caclient_fail(cc, CACLIENT_INVALID,
		    "the brand's CRL list (BCI) does not verify: %s", err);
	if (pki_verify(cc->pki, signer, cc->ca_certs, SETCERT_BCA, SETCERT_SIGN,
	        cc->p.brand, NULL, err, sizeof(err)) != PKI_OK) {
		caclient_fail(cc, CACLIENT_INVALID,
		    "the BCI's signer is not the %s brand CA: %s", cc->p.brand,
		    err);
		goto done;
	}
	*content = json_loadb((const char *)bytes, len, 0, NULL);
	rc = 0;
done:
	free(bytes);
	X509_free(signer);
	return rc;
}

/* Every CRL of crls must be one the BCI names as current. */
static int
caclient_bci_names(struct caclient *cc, json_t *bcij, STACK_OF(X509_CRL) *crls)
{
	size_t i, j;
	json_t *v;

	for (j = 0; j < (size_t)sk_X509_CRL_num(crls); j++) {
		char *h = caclient_crl_hash(sk_X509_CRL_value(crls, (int)j));
		int found = 0;

		json_array_foreach(json_object_get(bcij, "crls"), i, v)
		{
			const char *bh =
			    json_string_value(json_object_get(v, "sha256"));

			if (h != NULL && bh != NULL && strcmp(h, bh) == 0)
				found = 1;
		}
		free(h);
		if (!found)
			return caclient_fail(cc, CACLIENT_INVALID,
			    "a CRL from the CA is not the current one "
			    "named in the brand's BCI (stale CRL)");
	}
	return 0;
}

static void
caclient_keep_bci(
    struct caclient *cc, unsigned char *bci, size_t len, json_t *bcij)
{
	free(cc->bci);
	cc->bci = bci;
	cc->bcilen = len;
	cc->bci_number =
	    (long long)json_integer_value(json_object_get(bcij, "number"));
}

int
caclient_take_material(struct caclient *cc, struct msg *m)
{
	json_t *certs = json_object_get(m->json, "ca_certs");
	json_t *crls = json_object_get(m->json, "crls");
	const char *bci_b64 =
	    json_string_value(json_object_get(m->json, "bci"));
	unsigned char *bci = NULL;
	size_t bcilen, i;
	json_t *bcij = NULL, *v;
	char err[256];
	int rc = -1;

	if (!json_is_array(certs) || !json_is_array(crls) || bci_b64 == NULL)
		return caclient_fail(cc, CACLIENT_INVALID,
		    "%s lacks the CA's certificates, CRLs or BCI", m->type);
	sk_X509_pop_free(cc->ca_certs, X509_free);
	cc->ca_certs = sk_X509_new_null();
	json_array_foreach(certs, i, v)
	{
		X509 *x = caclient_b64_cert(v);

		if (x == NULL)
			return caclient_fail(cc, CACLIENT_INVALID,
			    "%s: a CA certificate does not parse", m->type);
		sk_X509_push(cc->ca_certs, x);
		pki_add_ca(cc->pki, x);
	}
	sk_X509_CRL_pop_free(cc->crls, X509_CRL_free);
	cc->crls = sk_X509_CRL_new_null();
	json_array_foreach(crls, i, v)
	{
		const char *s = json_string_value(v);
		unsigned char *der;
		size_t len;
		X509_CRL *crl;

		if (s == NULL ||
		    (der = base64_decode(s, strlen(s), &len)) == NULL)
			return caclient_fail(cc, CACLIENT_INVALID,
			    "%s: a CRL is not base64", m->type);
		crl = setcert_crl_from_der(der, len);
		free(der);
		if (crl == NULL)
			return caclient_fail(cc, CACLIENT_INVALID,
			    "%s: a CRL does not parse", m->type);
		sk_X509_CRL_push(cc->crls, crl);
		if (pki_set_crl(cc->pki, crl, err, sizeof(err)) == -1)
			return caclient_fail(cc, CACLIENT_INVALID,
			    "%s: a CRL is refused: %s", m->type, err);
	}

	/* The BCI: signed by the brand CA; names the current CRLs. */
	if ((bci = base64_decode(bci_b64, strlen(bci_b64), &bcilen)) == NULL)
		return caclient_fail(cc, CACLIENT_INVALID,
		    "the brand's CRL list (BCI) does not verify: not base64");
	if (caclient_bci_verify(cc, bci, bcilen, &bcij) == -1 ||
	    caclient_bci_names(cc, bcij, cc->crls) == -1)
		goto done;
	caclient_keep_bci(cc, bci, bcilen, bcij);
	bci = NULL;
	X509_free(cc->ca_kex);
	cc->ca_kex = caclient_b64_cert(json_object_get(m->json, "kex_cert"));
	rc = 0;
done:
	free(bci);
	json_decref(bcij);
	return rc;
}

int
caclient_check_signer(
    struct caclient *cc, struct msg *m, unsigned ca_type, const char *role)
{
	char err[256];
	enum pki_result r;

	if (m->signer == NULL)
		return caclient_fail(
		    cc, CACLIENT_INVALID, "%s is not signed", m->type);
	r = pki_verify(cc->pki, m->signer, m->certs, ca_type, SETCERT_SIGN,
	    cc->p.brand, NULL, err, sizeof(err));
	if (r != PKI_OK)
		return caclient_fail(cc, CACLIENT_INVALID,
		    "%s is not signed by the %s CA of %s: %s (%s)", m->type,
		    role, cc->p.brand, pki_result_code(r), err);
	return 0;
}

int
caclient_check_kex(struct caclient *cc, unsigned ca_type)
{
	char err[256];

	if (cc->ca_kex == NULL)
		return caclient_fail(cc, CACLIENT_INVALID,
		    "the CA sent no key-exchange certificate");
	if (pki_verify(cc->pki, cc->ca_kex, cc->ca_certs, ca_type,
	        SETCERT_KEYEX, cc->p.brand, NULL, err, sizeof(err)) != PKI_OK)
		return caclient_fail(cc, CACLIENT_INVALID,
		    "the CA's key-exchange certificate is not "
		    "valid: %s",
		    err);
	return 0;
}

void
caclient_add_ca(struct caclient *cc, X509 *ca)
{
	X509_up_ref(ca);
	sk_X509_push(cc->ca_certs, ca);
	pki_add_ca(cc->pki, ca);
}

int
caclient_add_crl(struct caclient *cc, X509_CRL *crl)
{
	char err[256];

	if (pki_set_crl(cc->pki, crl, err, sizeof(err)) == -1)
		return caclient_fail(
		    cc, CACLIENT_INVALID, "a CRL is refused: %s", err);
	X509_CRL_up_ref(crl);
	sk_X509_CRL_push(cc->crls, crl);
	return 0;
}

/* GET path from the CA; the body of a 200 answer, or -1. */
static int
caclient_get(struct caclient *cc, const char *path, struct http_resp *r)
{
	char err[512];

	if (http_request(cc->ssl, cc->p.host, cc->p.port, "GET", path, NULL,
	        NULL, 0, cc->p.timeout, r, err, sizeof(err)) == -1)
		return caclient_fail(cc, CACLIENT_UNREACHABLE,
		    "cannot reach the CA at %s:%d: %s", cc->p.host, cc->p.port,
		    err);
	if (r->status != 200) {
		caclient_fail(cc, CACLIENT_INVALID,
		    "the CA answered HTTP %d to GET %s", r->status, path);
		http_resp_clear(r);
		return -1;
	}
	return 0;
}

/* A CA name as the BCI gives it: becomes part of a URL path. */
static int
caclient_ca_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* 1 when a CRL's issuer is the root or a CA certificate we hold. */
static int
caclient_issuer_held(struct caclient *cc, X509_CRL *crl)
{
	const X509_NAME *issuer = X509_CRL_get_issuer(crl);
	int i;

	if (X509_NAME_cmp(issuer, X509_get_subject_name(cc->p.root)) == 0)
		return 1;
	for (i = 0; i < sk_X509_num(cc->ca_certs); i++)
		if (X509_NAME_cmp(issuer,
		        X509_get_subject_name(
		            sk_X509_value(cc->ca_certs, i))) == 0)
			return 1;
	return 0;
}

/*
 * Fetches the CRL a BCI entry names and checks it against the entry. The
 * BCI lists every CA of the brand; a CRL of a CA outside our paths (the
 * merchant CA, for a cardholder) is checked against its hash, then left
 * out: 0 with *out NULL. 0 with *out the CRL, installed; or -1.
 */
static int
caclient_fetch_crl(struct caclient *cc, json_t *entry, X509_CRL **out)
{
	const char *name = json_string_value(json_object_get(entry, "ca"));
	const char *want = json_string_value(json_object_get(entry, "sha256"));
	struct http_resp r;
	X509_CRL *crl = NULL;
	char *path, *h = NULL, err[256];
	int rc = -1;

	*out = NULL;
	if (name == NULL || want == NULL || !caclient_ca_name_ok(name))
		return caclient_fail(cc, CACLIENT_INVALID,
		    "the brand's CRL list (BCI) has a malformed entry");
	path = xasprintf("/crl/%s", name);
	if (caclient_get(cc, path, &r) == -1) {
		free(path);
		return -1;
	}
	free(path);
	h = hex_sha256(r.body, r.len);
	if (strcmp(h, want) != 0)
		caclient_fail(cc, CACLIENT_INVALID,
		    "the CRL of %s the CA serves is not the one its brand's "
		    "BCI names",
		    name);
	else if ((crl = setcert_crl_from_der(r.body, r.len)) == NULL)
		caclient_fail(
		    cc, CACLIENT_INVALID, "the CRL of %s does not parse", name);
	else if (!caclient_issuer_held(cc, crl))
		rc = 0;
	else if (pki_set_crl(cc->pki, crl, err, sizeof(err)) == -1)
		caclient_fail(cc, CACLIENT_INVALID,
		    "the CRL of %s is refused: %s", name, err);
	else {
		*out = crl;
		crl = NULL;
		rc = 0;
	}
	X509_CRL_free(crl);
	free(h);
	http_resp_clear(&r);
	return rc;
}

int
caclient_refresh(struct caclient *cc)
{
	struct http_resp r;
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	unsigned char *bytes = NULL, *bci = NULL;
	size_t len, bcilen = 0, i;
	json_t *list = NULL, *bcij = NULL, *v;
	char *path, err[256];
	int rc = -1;

	cc->failure = CACLIENT_OK;
	path = xasprintf("/bci/%s", cc->p.brand);
	if (caclient_get(cc, path, &r) == -1)
		goto done;
	bci = xmemdup(r.body, r.len);
	bcilen = r.len;
	http_resp_clear(&r);
	/* The list first, to learn which CRLs to fetch; its signer is judged
	 * once they are installed (the brand CA's own path needs them). */
	if (cms_verify(bci, bcilen, NID_setct_BCIDistributionTBS, NULL, 0, NULL,
	        NULL, &bytes, &len, err, sizeof(err)) == -1) {
		caclient_fail(cc, CACLIENT_INVALID,
		    "the brand's CRL list (BCI) does not verify: %s", err);
		goto done;
	}
	list = json_loadb((const char *)bytes, len, 0, NULL);
	if (!json_is_array(json_object_get(list, "crls"))) {
		caclient_fail(cc, CACLIENT_INVALID,
		    "the brand's CRL list (BCI) lists no CRLs");
		goto done;
	}
	json_array_foreach(json_object_get(list, "crls"), i, v)
	{
		X509_CRL *crl;

		if (caclient_fetch_crl(cc, v, &crl) == -1)
			goto done;
		if (crl != NULL)
			sk_X509_CRL_push(crls, crl);
	}
	if (caclient_bci_verify(cc, bci, bcilen, &bcij) == -1 ||
	    caclient_bci_names(cc, bcij, crls) == -1)
		goto done;
	caclient_keep_bci(cc, bci, bcilen, bcij);
	bci = NULL;
	sk_X509_CRL_pop_free(cc->crls, X509_CRL_free);
	cc->crls = crls;
	crls = NULL;
	rc = 0;
done:
	free(path);
	free(bytes);
	free(bci);
	json_decref(list);
	json_decref(bcij);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return rc;
}
