/*
 * The CA's shared state: its configuration, its database, and the
 * certificate authorities of the hierarchy whose keys it holds. Both the
 * daemon (set-ca serve) and the operator commands (set-ca token, revoke, ...)
 * open the same state folder through ca_open(); SQLite's locking keeps them
 * consistent while both run.
 *
 * The state folder, as `set-ca init` makes it:
 *	ca.json			the configuration
 *	ca.db			the database (certificates, requests, tokens,
 *				CRLs, BCIs, the audit log)
 *	root.pem		the root certificate: the trust anchor to hand
 *				out to every party
 *	keys/NAME.key		online CA keys, mode 0600
 *	offline/root.key	the root key: never loaded by the daemon; move
 *				it off this machine
 */
#ifndef CA_H
#define CA_H

#include <stddef.h>

#include <openssl/x509.h>

#include "config.h"
#include "pki.h"
#include "store.h"

/* One certificate authority whose signing key the daemon holds. */
struct ca_authority {
	char *name; /* "visa-mca" */
	char *brand; /* "Visa" */
	unsigned type; /* SETCERT_BCA, SETCERT_CCA, ... */
	X509 *cert;
	EVP_PKEY *key;
	X509 *kex; /* key-exchange certificate (CCA, MCA, PCA) */
	EVP_PKEY *kexkey;
	char *kex_thumb; /* its SHA-256 thumbprint, hex */
	STACK_OF(X509) *chain; /* certificates above it, up to the root */
};

struct ca {
	char *dir; /* the state folder */
	struct config *cfg;
	struct store *store;
	X509 *root;
	struct ca_authority *auth;
	size_t nauth;
	struct pki *pki; /* root, every CA, current CRLs */
	long long crl_loaded; /* newest CRL rowid in pki */
	const char *operator; /* who acts, for the audit log */

	/* Settings from ca.json. */
	long long crl_hours; /* a CRL's validity */
	long long crl_refresh_hours; /* reissue this long before expiry */
	long long days_merchant, days_gateway;
	long long token_hours; /* a token's default lifetime */
};

/* The end-entity roles a requester may enroll as, and their CA. */
struct ca_role {
	const char *name; /* "merchant" */
	unsigned type; /* SETCERT_MER */
	unsigned ca_type; /* SETCERT_MCA */
};
const struct ca_role *ca_role_find(const char *name);

/* Opens the state named by a config file; NULL with a reason. */
struct ca *ca_open(const char *config_path, char *err, size_t errlen);
void ca_close(struct ca *);

/* The database schema, by version (for store_open). */
extern const char *const ca_migrations[];
extern const size_t ca_nmigrations;

struct ca_authority *ca_find(struct ca *, const char *brand, unsigned type);
struct ca_authority *ca_find_name(struct ca *, const char *name);
/* The authority whose key-exchange certificate has this thumbprint. */
struct ca_authority *ca_find_kex(struct ca *, const char *thumbprint);

/* Loads CRLs newer than those in ca->pki from the database. */
int ca_reload_crls(struct ca *, char *err, size_t errlen);

/* Records an operator or daemon action in the audit table (inside the
 * caller's transaction when there is one). */
int ca_audit(
    struct ca *, const char *action, const char *target, const char *detail);

/* Records a certificate the hierarchy issued (inside the caller's
 * transaction). entity_id and request_id may be NULL. */
int ca_put_cert(struct store *, X509 *, const char *issuer, const char *role,
    const char *usage, const char *entity_id, const char *request_id, char *err,
    size_t errlen);

/* A serial as an operator may type it (any case, leading zeros or not,
 * colons) in the form the database keeps; NULL if it is not hex. */
char *ca_serial_normalize(const char *in);

/* The brand names, in the order they were created; free with free(). */
char **ca_brands(struct ca *, size_t *n);

/* hierarchy.c: `set-ca init`. */
struct hierarchy_opts {
	const char *dir;
	const char *const *brands;
	size_t nbrands;
	const char *const *names; /* the daemon's TLS names */
	size_t nnames;
	const char *address;
	int port;
	int root_years;
};
int hierarchy_init(const struct hierarchy_opts *, char *err, size_t errlen);

/* issue.c: making end-entity certificates. */
int issue_request(
    struct ca *, const char *request_id, char *err, size_t errlen);
/* Checks that a CSR may be issued at all (self-signature, key, no
 * forbidden extensions). */
int issue_check_csr(const unsigned char *der, size_t len, X509_REQ **out,
    char *err, size_t errlen);

/*
 * A TLS certificate for one of the bank's services (server and client
 * authentication), issued by a brand CA; names are DNS names or IP
 * literals for the subjectAltName.
 */
X509 *issue_tls(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *pub,
    const char *cn, const char *o, const char *const *names, size_t nnames,
    long days, char *err, size_t errlen);

/* crl.c: revocation lists and the brand's CRL identifier (BCI). */
int crl_refresh(struct ca *, struct ca_authority *, char *err, size_t errlen);
int crl_refresh_root(struct ca *, EVP_PKEY *rootkey, char *err, size_t errlen);
int bci_refresh(struct ca *, const char *brand, char *err, size_t errlen);
/* Reissues every CRL that expires within crl_refresh_hours. */
int crl_refresh_due(struct ca *, char *err, size_t errlen);
/* The newest CRL of a CA (DER, xmalloc'd), or -1. */
int crl_latest(
    struct ca *, const char *ca_name, unsigned char **der, size_t *len);
/* The newest signed BCI of a brand (DER CMS, xmalloc'd), or -1. */
int bci_latest(
    struct ca *, const char *brand, unsigned char **der, size_t *len);
/* Revokes a certificate and reissues its CA's CRL and the BCI, in one
 * transaction. */
int crl_revoke(
    struct ca *, const char *serial, int reason, char *err, size_t errlen);
int crl_reason_code(const char *name);
const char *crl_reason_name(int code);

/* enrollment.c: the SET messages the CA answers. */
char *enrollment_handle(struct ca *, const unsigned char *req, size_t len,
    int *status, size_t *resplen);

/* server.c: `set-ca serve`. */
int server_main(int argc, char **argv);

/* operator.c: the bank staff's commands. */
int operator_main(const char *cmd, int argc, char **argv);

#endif
