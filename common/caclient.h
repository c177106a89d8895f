/*
 * The client side of the CA, shared by every party that registers with it:
 * merchants and gateways (common/enroll.c) and cardholders (the wallet).
 *
 * Trust starts from one certificate, the root, handed over out of band. The
 * TLS connection to the CA is checked against it (chain, time, host name)
 * but not against CRLs: the CA is where the CRLs come from, and its TLS
 * certificate belongs to the first brand, whose CRLs a party of another
 * brand never receives. TLS only protects the channel: everything the CA
 * says is signed and is checked here completely, the signer's chain with the
 * CRLs the response carries, and those CRLs against the brand's signed list
 * of current CRLs (SET's BrandCRLIdentifier, BCI).
 *
 *	caclient_exchange	POST /set: one SET message, one signed answer
 *	caclient_take_material	the CA material a response carries: CA
 *				certificates, CRLs, the BCI, the CA's
 *				key-exchange certificate
 *	caclient_refresh	GET /bci/BRAND and GET /crl/NAME: the brand's
 *				current CRLs, outside any exchange
 *
 * Every function that fails writes a sentence into the err buffer given to
 * caclient_init (the caller reports it) and returns -1 (or NULL).
 */
#ifndef CACLIENT_H
#define CACLIENT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "msg.h"

struct caclient_params {
	const char *host; /* the CA daemon */
	int port;
	int timeout; /* seconds per request */
	X509 *root; /* our trust anchor (borrowed; up-referenced) */
	const char *brand; /* the brand we deal with */
	/* Optional client certificate for mutual TLS (a current one). */
	X509 *tls_cert;
	EVP_PKEY *tls_key;
	STACK_OF(X509) *tls_chain;
};

/* Why the last request failed. */
enum caclient_failure {
	CACLIENT_OK = 0,
	CACLIENT_UNREACHABLE, /* no connection, TLS refused, timed out */
	CACLIENT_REFUSED, /* the CA answered with an Error: see code */
	CACLIENT_INVALID /* the answer is not what it must be */
};

/*
 * Callers read the fields; only the functions below change them. Strings
 * given in the params are borrowed and must outlive the client.
 */
struct caclient {
	struct caclient_params p;
	struct pki *pki; /* for what the CA signs: root, CAs, CRLs */
	struct pki *tls_pki; /* for the CA's TLS certificate: no CRLs */
	SSL_CTX *ssl;
	/* The CA material last taken (caclient_take_material, _refresh). */
	STACK_OF(X509) *ca_certs;
	STACK_OF(X509_CRL) *crls;
	X509 *ca_kex; /* NULL when the response carried none */
	unsigned char *bci; /* DER CMS, as received */
	size_t bcilen;
	long long bci_number;
	/* After a failed request. */
	enum caclient_failure failure;
	char code[32]; /* the CA's Error code, for CACLIENT_REFUSED */
	char *err;
	size_t errlen;
};

/* Trusts p->root and makes the TLS context. 0, or -1 with a reason. */
int caclient_init(struct caclient *, const struct caclient_params *p, char *err,
    size_t errlen);
void caclient_clear(struct caclient *);

/*
 * Sends one message (POST /set) and parses the answer, which must be a
 * message of type `want` (its signature verified by msg_parse; its signer is
 * for the caller to judge, see caclient_check_signer). When rrpid is not
 * NULL the answer must echo it. An Error answer fails with
 * CACLIENT_REFUSED, its code in cc->code and its reason in err. 0 with res
 * filled (msg_clear it), or -1 with res cleared.
 */
int caclient_exchange(struct caclient *, const char *wire, size_t len,
    const char *want, const char *rrpid, struct msg *res);

/*
 * Reads the CA material of a response (ca_certs, crls, bci, kex_cert),
 * installs it in cc->pki and checks it: the BCI is signed by the brand CA,
 * and every CRL is the one the BCI names as current. 0 or -1.
 */
int caclient_take_material(struct caclient *, struct msg *m);

/*
 * The response's signer must be the brand's CA of ca_type (SETCERT_CCA,
 * SETCERT_MCA, ...); role names it in the reason ("merchant"). 0 or -1.
 */
int caclient_check_signer(
    struct caclient *, struct msg *m, unsigned ca_type, const char *role);

/* cc->ca_kex must be the brand's CA of ca_type's key-exchange certificate. */
int caclient_check_kex(struct caclient *, unsigned ca_type);

/*
 * Fetches the brand's current BCI (GET /bci/BRAND) and every CRL it names
 * (GET /crl/NAME), checks them (the BCI signed by the brand CA, each CRL's
 * SHA-256 the one the BCI names, each CRL signed by a CA cc->pki knows and
 * not older than one it holds) and makes them cc->crls, cc->bci. Only the
 * CRLs of the root and of the CA certificates we hold are kept (the BCI
 * names those of every CA of the brand). Our CA certificates must be in
 * cc->pki already (caclient_add_ca).
 * 0 or -1; on -1 cc->crls and cc->bci are unchanged.
 */
int caclient_refresh(struct caclient *);

/* Adds a CA certificate we already hold to cc->pki and cc->ca_certs. */
void caclient_add_ca(struct caclient *, X509 *ca);
/* Installs a CRL we already hold into cc->pki (and cc->crls). 0 or -1. */
int caclient_add_crl(struct caclient *, X509_CRL *crl);

/* A certificate from a JSON string of base64 DER; NULL if it is not one. */
X509 *caclient_b64_cert(json_t *v);
/* SHA-256 of a CRL's DER, hex; free() it. NULL if it cannot be encoded. */
char *caclient_crl_hash(X509_CRL *crl);

#endif
