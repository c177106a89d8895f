/*
 * Fetching and checking a brand's CA certificates, BCI and CRLs from the CA
 * (see crlfetch.h). Everything fetched is untrusted until checked against the
 * pki's trust anchor; nothing unchecked is installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "cms.h"
#include "crlfetch.h"
#include "errbuf.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

struct fetch {
	SSL_CTX *ssl;
	const char *host;
	int port, timeout;
	char *err;
	size_t errlen;
};

/* GET path; 0 and the body, or -1 with a reason. */
static int
get(struct fetch *f, const char *path, struct http_resp *r)
{
	char err[256];

	memset(r, 0, sizeof(*r));
	if (http_request(f->ssl, f->host, f->port, "GET", path, NULL, NULL, 0,
	        f->timeout, r, err, sizeof(err)) == -1) {
		errbuf_set(f->err, f->errlen, "GET %s from the CA at %s:%d: %s",
		    path, f->host, f->port, err);
		return -1;
	}
	if (r->status != 200) {
		errbuf_set(f->err, f->errlen, "GET %s from the CA: HTTP %d",
		    path, r->status);
		http_resp_clear(r);
		return -1;
	}
	return 0;
}

static STACK_OF(X509) *
parse_pem_certs(const unsigned char *p, size_t len)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(p, (int)len);
	X509 *x;

	while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(certs, x);
	ERR_clear_error();
	BIO_free(bio);
	return certs;
}

/* The SET CA type bits of a certificate. */
static unsigned
ca_type(X509 *x)
{
	return setcert_types(x) & SETCERT_CA_TYPES;
}

/*
 * The brand's CA certificates: each must chain to our trust anchor (checked
 * without CRLs in a scratch pki, since the CRLs come next) and carry a SET CA
 * role; the brand CA's subject O must be the brand.
 */
static int
take_certs(struct fetch *f, struct pki *pki, const char *brand,
    STACK_OF(X509) *certs, X509 *root, X509 **bca)
{
	struct pki *scratch = pki_new();
	char err[256];
	int i, rc = -1;

	pki_add_trusted(scratch, root);
	pki_set_crl_check(scratch, 0);
	for (i = 0; i < sk_X509_num(certs); i++)
		pki_add_ca(scratch, sk_X509_value(certs, i));
	*bca = NULL;
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		unsigned t = ca_type(x);

		if (t == 0 ||
		    pki_verify(scratch, x, certs, t, 0, brand, NULL, err,
		        sizeof(err)) != PKI_OK) {
			errbuf_set(f->err, f->errlen,
			    "a CA certificate of "
			    "brand %s does not verify: %s",
			    brand, t ? err : "it is not a CA");
			goto done;
		}
		if (t & SETCERT_BCA)
			*bca = x;
	}
	if (*bca == NULL) {
		errbuf_set(
		    f->err, f->errlen, "the CA sent no brand CA for %s", brand);
		goto done;
	}
	for (i = 0; i < sk_X509_num(certs); i++)
		pki_add_ca(pki, sk_X509_value(certs, i));
	rc = 0;
done:
	pki_free(scratch);
	return rc;
}

/* The BCI: signed by the brand CA; returns its parsed content. */
static json_t *
take_bci(struct fetch *f, const struct http_resp *r, X509 *bca)
{
	unsigned char *content = NULL;
	size_t len;
	X509 *signer = NULL;
	json_t *bci = NULL;
	char err[256];

	if (cms_verify(r->body, r->len, NID_setct_BCIDistributionTBS, NULL, 0,
	        &signer, NULL, &content, &len, err, sizeof(err)) == -1) {
		errbuf_set(
		    f->err, f->errlen, "the BCI does not verify: %s", err);
		return NULL;
	}
	if (X509_cmp(signer, bca) != 0)
		errbuf_set(f->err, f->errlen,
		    "the BCI is not signed by the "
		    "brand CA");
	else if ((bci = json_loadb((const char *)content, len, 0, NULL)) ==
	        NULL ||
	    !json_is_array(json_object_get(bci, "crls"))) {
		json_decref(bci);
		bci = NULL;
		errbuf_set(f->err, f->errlen,
		    "the BCI's content is not a CRL "
		    "list");
	}
	free(content);
	X509_free(signer);
	return bci;
}

/* One CRL the BCI names: its hash must match; then the pki checks it. */
static int
take_crl(struct fetch *f, struct pki *pki, json_t *entry)
{
	const char *name = json_string_value(json_object_get(entry, "ca"));
	const char *want = json_string_value(json_object_get(entry, "sha256"));
	struct http_resp r;
	X509_CRL *crl = NULL;
	char *path, *got = NULL, err[256];
	int rc = -1;

	if (name == NULL || want == NULL ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	        strlen(name)) {
		errbuf_set(f->err, f->errlen, "a BCI entry is malformed");
		return -1;
	}
	path = xasprintf("/crl/%s", name);
	if (get(f, path, &r) == -1) {
		free(path);
		return -1;
	}
	got = hex_sha256(r.body, r.len);
	if (strcmp(got, want) != 0)
		errbuf_set(f->err, f->errlen,
		    "the CRL of %s is not the one the "
		    "BCI names (stale or altered)",
		    name);
	else if ((crl = setcert_crl_from_der(r.body, r.len)) == NULL)
		errbuf_set(
		    f->err, f->errlen, "the CRL of %s does not parse", name);
	else if (pki_set_crl(pki, crl, err, sizeof(err)) == -1)
		errbuf_set(f->err, f->errlen, "the CRL of %s is refused: %s",
		    name, err);
	else
		rc = 0;
	X509_CRL_free(crl);
	free(got);
	free(path);
	http_resp_clear(&r);
	return rc;
}

int
crlfetch_refresh(struct pki *pki, X509 *root, SSL_CTX *ssl, const char *host,
    int port, const char *brand, int timeout, char *err, size_t errlen)
{
	struct fetch f = { ssl, host, port, timeout, err, errlen };
	struct http_resp r;
	STACK_OF(X509) *certs = NULL;
	X509 *bca = NULL;
	json_t *bci = NULL, *e;
	char *path;
	size_t i;
	int n = 0, rc = -1;

	errbuf_set(err, errlen, "%s", "");
	path = xasprintf("/certs/%s", brand);
	if (get(&f, path, &r) == -1)
		goto done;
	certs = parse_pem_certs(r.body, r.len);
	http_resp_clear(&r);
	if (sk_X509_num(certs) == 0) {
		errbuf_set(err, errlen,
		    "the CA sent no CA certificates for "
		    "brand %s",
		    brand);
		goto done;
	}
	if (take_certs(&f, pki, brand, certs, root, &bca) == -1)
		goto done;
	free(path);
	path = xasprintf("/bci/%s", brand);
	if (get(&f, path, &r) == -1)
		goto done;
	bci = take_bci(&f, &r, bca);
	http_resp_clear(&r);
	if (bci == NULL)
		goto done;
	json_array_foreach(json_object_get(bci, "crls"), i, e)
	{
		if (take_crl(&f, pki, e) == -1)
			goto done;
		n++;
	}
	if (n == 0) {
		errbuf_set(err, errlen, "the BCI of %s names no CRL", brand);
		goto done;
	}
	log_debug("CRLs of brand %s refreshed from %s:%d (%d CRLs)", brand,
	    host, port, n);
	rc = n;
done:
	free(path);
	json_decref(bci);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}
