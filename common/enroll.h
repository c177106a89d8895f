/*
 * The enrollment client: how a merchant or a payment gateway gets its
 * certificates from the CA. The daemons expose it as their own `enroll`
 * command; the tests drive it through tests/tools/set-enroll.
 *
 *	Me-AqCInitReq -> Me-AqCInitRes	learn and check the CA: its chain to
 *					our trust anchor, its key-exchange
 *					certificate, the current CRLs (each
 *					named in the brand's signed BCI)
 *	CertReq -> CertRes		sealed to the CA; two fresh P-256 keys
 *					(signature, key exchange) and the
 *					operator's one-time token
 *	CertInqReq -> CertInqRes	later, when the request was pending
 *
 * Everything the CA sends is verified before it is used or written: the
 * response signatures, the CA's certificates and CRLs, and the issued
 * certificates themselves (chain, role, usage, and that they carry our keys).
 *
 * Files written to the output folder:
 *	sig.key, kex.key	our private keys (0600), made before the request
 *	sig.pem, kex.pem	our certificates
 *	chain.pem		the issuing CA and the brand CA
 *	root.pem		the trust anchor
 *	crl.pem			the current CRLs of root, brand CA and issuing CA
 *	ca-kex.pem		the CA's key-exchange certificate
 *	request.json		while a request is pending
 */
#ifndef ENROLL_H
#define ENROLL_H

#include <stddef.h>

#include <openssl/x509.h>

struct enroll_params {
	const char *host; /* the CA daemon */
	int port;
	const char *root_file; /* our trust anchor (root.pem) */
	const char *role; /* "merchant" or "gateway" */
	const char *id; /* merchant or gateway id */
	const char *name; /* display name (organisation); NULL: id */
	const char *brand;
	const char *token; /* the one-time token; NULL: goes pending */
	const char *outdir;
	int timeout; /* seconds per exchange */
	/* Optional client certificate for mutual TLS (a current one). */
	X509 *tls_cert;
	EVP_PKEY *tls_key;
	STACK_OF(X509) *tls_chain;
};

enum enroll_result {
	ENROLL_ERROR = -1, /* err says why; nothing was issued to us */
	ENROLL_ISSUED = 0, /* the certificates are in outdir */
	ENROLL_PENDING = 1, /* outdir/request.json; poll later */
	ENROLL_REJECTED = 2 /* err holds the CA's reason */
};

/* Sends a new request. Refuses to overwrite keys already in outdir. */
enum enroll_result enroll_run(
    const struct enroll_params *p, char *err, size_t errlen);

/* Asks about the pending request recorded in p->outdir/request.json. */
enum enroll_result enroll_poll(
    const struct enroll_params *p, char *err, size_t errlen);

#endif
