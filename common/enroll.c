/*
 * The enrollment client (see enroll.h for the exchange and the files).
 *
 * Trust starts from one file, the root certificate, handed over out of band.
 * How the CA is reached and how everything it sends is checked (the
 * signer's chain with the CRLs the response carries, and those CRLs against
 * the brand's signed list of current CRLs, BCI) is common/caclient.c, which
 * the cardholder wallet shares; this file is what is particular to
 * merchants and gateways: their two keys, the token, pending requests.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "base64.h"
#include "caclient.h"
#include "enroll.h"
#include "msg.h"
#include "pki.h"
#include "setcert.h"
#include "xmalloc.h"

struct enroll {
	const struct enroll_params *p;
	struct caclient cc; /* the CA, its material once checked */
	unsigned role_type; /* SETCERT_MER or SETCERT_PGWY */
	unsigned ca_type; /* SETCERT_MCA or SETCERT_PCA */
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

static char *
outpath(struct enroll *en, const char *name)
{
	return xasprintf("%s/%s", en->p->outdir, name);
}

static int
setup(
    struct enroll *en, const struct enroll_params *p, char *err, size_t errlen)
{
	struct caclient_params cp;
	X509 *root;
	int rc;

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
	if ((root = setcert_read_cert(p->root_file, err, errlen)) == NULL)
		return -1;
	memset(&cp, 0, sizeof(cp));
	cp.host = p->host;
	cp.port = p->port;
	cp.timeout = p->timeout;
	cp.root = root;
	cp.brand = p->brand;
	cp.tls_cert = p->tls_cert;
	cp.tls_key = p->tls_key;
	cp.tls_chain = p->tls_chain;
	rc = caclient_init(&en->cc, &cp, err, errlen);
	X509_free(root);
	if (rc == -1)
		return -1;
	if (mkdir(p->outdir, 0700) == -1 && errno != EEXIST)
		return fail(en, "%s: %s", p->outdir, strerror(errno));
	return 0;
}

static void
teardown(struct enroll *en)
{
	caclient_clear(&en->cc);
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
	if (caclient_exchange(&en->cc, wire, len, "Me-AqCInitRes", NULL, &m) ==
	    -1)
		goto done;
	if (caclient_take_material(&en->cc, &m) == 0 &&
	    caclient_check_signer(&en->cc, &m, en->ca_type, en->p->role) == 0 &&
	    caclient_check_kex(&en->cc, en->ca_type) == 0)
		rc = 0;
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
	size_t i, n = (size_t)sk_X509_num(en->cc.ca_certs);
	char *path, *tmp;
	FILE *f;
	int rc = 0;

	chain = xcalloc(n + 1, sizeof(*chain));
	for (i = 0; i < n; i++)
		chain[i] = sk_X509_value(en->cc.ca_certs, (int)i);
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
			one[0] = en->cc.p.root;
			break;
		case 4:
			one[0] = en->cc.ca_kex;
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
		for (i = 0; i < (size_t)sk_X509_CRL_num(en->cc.crls); i++)
			PEM_write_X509_CRL(
			    f, sk_X509_CRL_value(en->cc.crls, (int)i));
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
	if (caclient_take_material(&en->cc, m) == -1 ||
	    caclient_check_signer(&en->cc, m, en->ca_type, en->p->role) == -1)
		return ENROLL_ERROR;
	sig = caclient_b64_cert(json_object_get(certs, "sig"));
	kex = caclient_b64_cert(json_object_get(certs, "kex"));
	if (sig == NULL || kex == NULL) {
		fail(en, "%s: the issued certificates do not parse", m->type);
		goto done;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(sig), sigkey) != 1 ||
	    EVP_PKEY_eq(X509_get0_pubkey(kex), kexkey) != 1) {
		fail(en, "the issued certificates do not carry our keys");
		goto done;
	}
	if (pki_verify(en->cc.pki, sig, en->cc.ca_certs, en->role_type,
	        SETCERT_SIGN, en->p->brand, NULL, err, sizeof(err)) != PKI_OK ||
	    pki_verify(en->cc.pki, kex, en->cc.ca_certs, en->role_type,
	        SETCERT_KEYEX, en->p->brand, NULL, err,
	        sizeof(err)) != PKI_OK) {
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
	if (msg_build("CertReq", NULL, body, self, sigkey, NULL, en.cc.ca_kex,
	        &wire, &len, err, errlen) == -1)
		goto done;
	if (caclient_exchange(&en.cc, wire, len, "CertRes", NULL, &m) == -1)
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
	if (caclient_exchange(&en.cc, wire, len, "CertInqRes", NULL, &m) == -1)
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
