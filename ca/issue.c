/*
 * Issuing end-entity certificates from a stored request: a signature
 * certificate and a separate key-exchange certificate, each from its own
 * PKCS#10 request, signed by the brand's CA for the role (merchant -> Merchant
 * CA, gateway -> Payment Gateway CA).
 *
 * What goes into a certificate is decided here and nowhere else: the role
 * comes from the operator's token or approval, never from the requester; the
 * requester contributes only its public keys and a display name. Requested
 * extensions are refused outright (issue_check_csr), not silently dropped,
 * so a requester learns at once that it cannot choose its role, a CA flag or
 * a critical extension.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/x509.h>

#include "ca.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

int
issue_check_csr(const unsigned char *der, size_t len, X509_REQ **out, char *err,
    size_t errlen)
{
	const unsigned char *p = der;
	X509_REQ *req;

	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req == NULL || p != der + len) {
		X509_REQ_free(req);
		snprintf(err, errlen,
		    "the certificate request does not parse "
		    "as PKCS#10");
		return -1;
	}
	if (setcert_csr_check(req, err, errlen) == -1) {
		X509_REQ_free(req);
		return -1;
	}
	*out = req;
	return 0;
}

/* One certificate for a request's key. */
static X509 *
make_cert(struct ca *ca, struct ca_authority *a, const struct ca_role *role,
    X509_REQ *req, unsigned usage, const char *entity_id, const char *name,
    char *err, size_t errlen)
{
	struct setcert_spec s;
	time_t now = time(NULL);
	long long days = role->type == SETCERT_MER ? ca->set.days_merchant
	                                           : ca->set.days_gateway;
	EVP_PKEY *pub;
	X509 *x;

	if ((pub = X509_REQ_get0_pubkey(req)) == NULL) {
		snprintf(err, errlen, "the request has no public key");
		return NULL;
	}
	memset(&s, 0, sizeof(s));
	s.pubkey = pub;
	s.issuer = a->cert;
	s.issuer_key = a->key;
	s.cn = entity_id;
	s.o = name;
	s.ou = usage == SETCERT_KEYEX ? "key exchange" : role->name;
	s.types = role->type;
	s.usage = usage;
	s.pathlen = -1;
	/* A little slack for clocks that run behind. */
	s.not_before = now - 300;
	s.not_after = now + (time_t)days * 86400;
	x = setcert_issue(&s, err, errlen);
	return x;
}

int
issue_request(struct ca *ca, const char *request_id, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char *role_name = NULL, *entity = NULL, *brand = NULL, *name = NULL;
	char *status = NULL;
	unsigned char *sigder = NULL, *kexder = NULL;
	size_t siglen = 0, kexlen = 0;
	X509_REQ *sigreq = NULL, *kexreq = NULL;
	X509 *sig = NULL, *kex = NULL;
	const struct ca_role *role;
	struct ca_authority *a;
	int rc = -1;

	st = store_prepare(ca->store,
	    "SELECT role, entity_id, brand, name, "
	    "sig_csr, kex_csr, status FROM requests WHERE id = ?");
	if (st == NULL) {
		snprintf(err, errlen, "cannot read the request");
		return -1;
	}
	sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		role_name = xstrdup((const char *)sqlite3_column_text(st, 0));
		entity = xstrdup((const char *)sqlite3_column_text(st, 1));
		brand = xstrdup((const char *)sqlite3_column_text(st, 2));
		name = xstrdup((const char *)sqlite3_column_text(st, 3));
		siglen = (size_t)sqlite3_column_bytes(st, 4);
		sigder = xmemdup(sqlite3_column_blob(st, 4), siglen);
		kexlen = (size_t)sqlite3_column_bytes(st, 5);
		kexder = xmemdup(sqlite3_column_blob(st, 5), kexlen);
		status = xstrdup((const char *)sqlite3_column_text(st, 6));
	}
	sqlite3_reset(st);
	if (status == NULL) {
		snprintf(err, errlen, "no request has id %s", request_id);
		goto done;
	}
	if (strcmp(status, "pending") != 0) {
		snprintf(err, errlen, "request %s is already %s", request_id,
		    status);
		goto done;
	}
	if ((role = ca_role_find(role_name)) == NULL ||
	    (a = ca_find(ca, brand, role->ca_type)) == NULL) {
		snprintf(err, errlen,
		    "request %s: no CA issues %s "
		    "certificates for brand %s",
		    request_id, role_name, brand);
		goto done;
	}
	/* Checked when the request arrived; checked again because the
	 * database is only as trustworthy as its file. */
	if (issue_check_csr(sigder, siglen, &sigreq, err, errlen) == -1 ||
	    issue_check_csr(kexder, kexlen, &kexreq, err, errlen) == -1)
		goto done;
	if ((sig = make_cert(ca, a, role, sigreq, SETCERT_SIGN, entity, name,
	         err, errlen)) == NULL ||
	    (kex = make_cert(ca, a, role, kexreq, SETCERT_KEYEX, entity, name,
	         err, errlen)) == NULL)
		goto done;
	if (ca_put_cert(ca->store, sig, a->name, role->name, "sig", entity,
	        request_id, err, errlen) == -1 ||
	    ca_put_cert(ca->store, kex, a->name, role->name, "kex", entity,
	        request_id, err, errlen) == -1)
		goto done;
	st = store_prepare(ca->store,
	    "UPDATE requests SET status = 'issued', "
	    "decided_at = ?, decided_by = ? WHERE id = ?");
	if (st == NULL)
		goto done;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, ca->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, request_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == -1)
		snprintf(
		    err, errlen, "cannot mark request %s issued", request_id);
	else
		log_info("issued %s certificates for %s (%s) under %s",
		    role->name, entity, brand, a->name);
done:
	free(role_name);
	free(entity);
	free(brand);
	free(name);
	free(status);
	free(sigder);
	free(kexder);
	X509_REQ_free(sigreq);
	X509_REQ_free(kexreq);
	X509_free(sig);
	X509_free(kex);
	return rc;
}

X509 *
issue_tls(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *pub, const char *cn,
    const char *o, const char *const *names, size_t nnames, long days,
    char *err, size_t errlen)
{
	struct setcert_spec s;
	const char **dns = xcalloc(nnames + 1, sizeof(*dns));
	const char **ips = xcalloc(nnames + 1, sizeof(*ips));
	size_t i, nd = 0, ni = 0;
	time_t now = time(NULL);
	unsigned char addr[16];
	X509 *x;

	/* An IP literal goes into an iPAddress name, anything else into a
	 * dNSName. */
	for (i = 0; i < nnames; i++) {
		if (inet_pton(AF_INET, names[i], addr) == 1 ||
		    inet_pton(AF_INET6, names[i], addr) == 1)
			ips[ni++] = names[i];
		else
			dns[nd++] = names[i];
	}
	memset(&s, 0, sizeof(s));
	s.pubkey = pub;
	s.issuer = issuer;
	s.issuer_key = issuer_key;
	s.cn = cn;
	s.o = o;
	s.usage = SETCERT_TLS_SERVER | SETCERT_TLS_CLIENT;
	s.pathlen = -1;
	s.not_before = now - 300;
	s.not_after = now + (time_t)days * 86400;
	s.dns = dns;
	s.ips = ips;
	x = setcert_issue(&s, err, errlen);
	free(dns);
	free(ips);
	return x;
}
