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

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "msg.h"
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

/* An issuer the Cardholder CA asks about cards (the "issuers" table of
 * ca.json): which brand and BINs it owns, where it listens, and which
 * fields its registration form asks for. */
enum {
	ISSUER_FIELD_NAME = 1,
	ISSUER_FIELD_POSTCODE = 2,
	ISSUER_FIELD_EXPIRY = 4,
	ISSUER_FIELD_CVV = 8
};
struct ca_issuer {
	char *name;
	char *brand;
	char **bins; /* card number prefixes, 4-11 digits */
	size_t nbins;
	char *address;
	int port;
	unsigned fields; /* ISSUER_FIELD_* */
};

/* The settings of ca.json that a HUP reloads. */
struct ca_settings {
	long long crl_hours; /* a CRL's validity */
	long long crl_refresh_hours; /* reissue this long before expiry */
	long long days_merchant, days_gateway, days_cardholder;
	long long token_hours; /* a token's default lifetime */
	long long issuer_timeout; /* seconds to wait for an issuer */
	struct ca_issuer *issuers;
	size_t nissuers;
};

struct ca {
	char *dir; /* the state folder */
	char *cfgfile;
	struct config *cfg;
	struct store *store;
	X509 *root;
	struct ca_authority *auth;
	size_t nauth;
	struct pki *pki; /* root, every CA, current CRLs */
	long long crl_loaded; /* newest CRL rowid in pki */
	const char *who; /* who acts, for the audit log */
	struct ca_settings set;
	SSL_CTX *issuer_ssl; /* client context towards issuers */
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
/* Reads ca.json again and takes its new settings (HUP); on an error the
 * old settings stay and err says why. */
int ca_reload_config(struct ca *, char *err, size_t errlen);
/* The issuer that owns a card number's BIN for a brand, or NULL. */
const struct ca_issuer *ca_issuer_for(
    struct ca *, const char *brand, const char *pan);
/* The daemon's TLS certificate, key and chain (the issuing brand CA). */
int ca_load_tls(struct ca *, X509 **cert, EVP_PKEY **key,
    STACK_OF(X509) **chain, char *err, size_t errlen);

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

/* reply.c: the CA's replies. */
/* An Error reply for e (signed by a when not NULL), with its HTTP status. */
char *reply_error(struct msg_error *e, const char *rrpid,
    struct ca_authority *a, int *status, size_t *len);
/* A response of `type` signed by a; an internal Error if signing fails. */
char *reply_signed(struct ca_authority *a, const char *type, const char *rrpid,
    json_t *body, int *status, size_t *len);
/* Adds ca_certs, kex_cert, crls, bci and brand for authority a. */
void reply_ca_material(struct ca *ca, struct ca_authority *a, json_t *body);
json_t *reply_cert_b64(X509 *x);
json_t *reply_blob_b64(const unsigned char *p, size_t len);
/* SHA-256 (hex) of a public key's SubjectPublicKeyInfo; NULL on error. */
char *reply_key_hash(EVP_PKEY *k);
/* 1 when the message was signed with exactly this key. */
int reply_signed_with(const struct msg *m, EVP_PKEY *want);

/* registration.c: cardholder registration (CardCInit, RegForm, CertReq). */
char *registration_init(struct ca *ca, struct msg *m, int *status, size_t *len);
char *registration_form(struct ca *ca, struct msg *m,
    struct ca_authority *opened_by, int *status, size_t *len);
char *registration_certreq(struct ca *ca, struct msg *m,
    struct ca_authority *opened_by, const unsigned char *wire, size_t wirelen,
    int *status, size_t *len);

/* enrollment.c: the SET messages the CA answers. */
/* peer, peer_chain: the TLS client certificate (already verified by the
 * TLS layer) and what came with it, or NULL. */
char *enrollment_handle(struct ca *, const unsigned char *req, size_t len,
    X509 *peer, STACK_OF(X509) *peer_chain, int *status, size_t *resplen);

/* server.c: `set-ca serve`. */
int server_main(int argc, char **argv);

/* operator.c: the bank staff's commands. */
int operator_main(const char *cmd, int argc, char **argv);

#endif
