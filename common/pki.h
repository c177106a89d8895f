/*
 * The certificate checker every daemon and the wallet use: one place that
 * says whether a certificate may be trusted for a given SET role.
 *
 * A struct pki holds the trust anchors (root CAs), the known intermediate
 * CAs, the current CRL of each issuing CA, and a cache of recent successful
 * verifications. It is not thread-safe (our programs run one event loop).
 * Certificates and CRLs handed to it are up-referenced: the caller keeps
 * its own reference.
 */
#ifndef PKI_H
#define PKI_H

#include <time.h>

#include <openssl/x509.h>

struct pki;

struct pki *pki_new(void);
void pki_free(struct pki *); /* NULL is fine */

/*
 * A trust anchor (up-refs). Adding a certificate drops the verification
 * cache (a failure may now be a success and vice versa). 0 or -1.
 */
int pki_add_trusted(struct pki *, X509 *root);
/* A known intermediate CA used to build chains (up-refs). 0 or -1. */
int pki_add_ca(struct pki *, X509 *ca);
/*
 * Loads every certificate of a PEM file: trusted=1 makes them anchors, else
 * intermediates. 0 or -1 with a reason.
 */
int pki_load_certs(
    struct pki *, const char *path, int trusted, char *err, size_t errlen);

/*
 * Installs the current CRL of an issuing CA, replacing any older one from the
 * same issuer; the CRL's signature must verify against a CA the pki knows,
 * and a CRL whose crlNumber is lower than the installed one is refused
 * (rollback), as is a different CRL with the same number, a CRL without
 * crlNumber or nextUpdate, and a delta CRL. Installing a CRL drops the
 * verification cache; installing the same CRL again is a no-op (so a daemon
 * may reload its CRLs as often as it likes). The pki up-refs crl. 0 or -1
 * with a reason.
 */
int pki_set_crl(struct pki *, X509_CRL *crl, char *err, size_t errlen);
/* The same for every CRL of a PEM file, or the one of a DER file. */
int pki_load_crl(struct pki *, const char *path, char *err, size_t errlen);

/*
 * Revocation checking is on by default. A party that is enrolling has no
 * CRLs before its first exchange with the CA, so it may turn the check off
 * to verify the CA's TLS certificate, and must turn it on again as soon as
 * it has installed the CRLs. Drops the cache.
 */
void pki_set_crl_check(struct pki *, int on);

/* Verification time; 0 means "now" (default). Drops the cache. */
void pki_set_time(struct pki *, time_t t);

enum pki_result {
	PKI_OK = 0,
	PKI_ERR_UNKNOWN_ISSUER,
	PKI_ERR_SIGNATURE,
	PKI_ERR_EXPIRED,
	PKI_ERR_NOT_YET_VALID,
	PKI_ERR_REVOKED,
	PKI_ERR_ROLE,
	PKI_ERR_USAGE,
	PKI_ERR_PATHLEN,
	PKI_ERR_CRL,
	PKI_ERR_BRAND,
	PKI_ERR_OTHER
};

/*
 * A short stable code for the Error message: "ok", "unknown-issuer",
 * "bad-signature", "expired", "not-yet-valid", "revoked", "wrong-role",
 * "wrong-usage", "path-length", "crl-unavailable", "wrong-brand",
 * "invalid-certificate".
 */
const char *pki_result_code(enum pki_result);

/*
 * Verifies leaf: a path leaf -> CAs (the pki's known CAs plus `untrusted`,
 * which may be NULL) -> a trusted root (X509_verify_cert with an X509_STORE;
 * a certificate from another hierarchy is PKI_ERR_UNKNOWN_ISSUER),
 * signatures, validity at the pki's time, basicConstraints and path length,
 * and revocation: every CA that issues a certificate in the path must have a
 * current CRL installed (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
 * a missing or expired CRL is PKI_ERR_CRL), and a revoked certificate
 * anywhere in the path is PKI_ERR_REVOKED; X509_V_FLAG_X509_STRICT too.
 * Then the roles: if want_types != 0 the leaf's certificateType must include
 * those bits (PKI_ERR_ROLE, e.g. a cardholder certificate presented as a
 * merchant's), if want_usage != 0 the leaf's keyUsage must allow it
 * (PKI_ERR_USAGE: a key-exchange certificate can never sign; a signature
 * certificate can never be used for key agreement; a certificate that allows
 * both is refused for either); a CA certificate (basicConstraints CA, or a CA
 * type) is never accepted as an end entity unless want_types asks for a CA
 * type; and the hierarchy must be consistent at every step of the path: a
 * CARD certificate issued by a CCA, MER by an MCA, PGWY by a PCA,
 * CCA/MCA/PCA/GCA by a BCA, BCA by the RCA, a certificate with no SET type
 * (TLS only) by a BCA (else PKI_ERR_ROLE; the ACQ bit is ignored here). If
 * want_brand != NULL the BCA in the path must have subject
 * O == want_brand (PKI_ERR_BRAND). On success, if brand_out != NULL,
 * *brand_out = xstrdup(the BCA's O) (NULL if the path has no BCA). err gets a
 * readable reason naming the certificate (subject) and the problem. Results
 * are cached by (SHA-256 of the leaf DER, want_types, want_usage,
 * want_brand, SHA-256 of the untrusted certs used) until the earliest
 * notAfter in the path or the earliest CRL nextUpdate, and the cache is
 * dropped whenever a CRL is installed or the time set. Only successes are
 * cached.
 */
enum pki_result pki_verify(struct pki *, X509 *leaf, STACK_OF(X509) *untrusted,
    unsigned want_types, unsigned want_usage, const char *want_brand,
    char **brand_out, char *err, size_t errlen);

/* How many verifications were answered from the cache (tests, benchmarks). */
unsigned long pki_cache_hits(const struct pki *);

#endif
