/*
 * The payment gateway: the acquirer's front door in SET. It receives the
 * merchant's authorization requests, opens the payment instructions that
 * only it may read, checks everything (the merchant, the cardholder, the
 * dual signature that binds order and payment, the card number against the
 * cardholder certificate), asks the card's issuer, and answers with a signed
 * and sealed AuthRes. One program, set-gateway, holds the daemon (server.c)
 * and the operator's commands (operator.c); both open the same state folder
 * through gateway_open(), and SQLite's locking keeps them consistent.
 *
 * The state folder, as `set-gateway init` makes it:
 *	gateway.json		the configuration
 *	gateway.db		the database: transactions, stored replies
 *	root.pem		the trust anchor (a copy of the one given)
 *	keys/pan.key		the secret (mode 0600) that keys the HMAC of
 *				card numbers: the database never holds one
 *	certs/BRAND/		the gateway's SET certificates per brand, from
 *				`set-gateway enroll` (sig, kex, chain, CRLs)
 *	tls/			the TLS certificate, from `set-ca tls-cert`
 *
 * Files: main.c (commands), gateway.c (state, config, database), server.c
 * (the daemon), message.c (POST /set, Error and signed replies),
 * authorization.c (AuthReq), pcert.c (PCertReq), routing.c (the issuers
 * table and the call to an issuer), operator.c (list, show).
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "msg.h"
#include "pan.h"
#include "pki.h"
#include "store.h"

#define GATEWAY_KEY_LEN 32

/* What `set-gateway init` writes; gateway_init() makes the folder. */
struct gateway_init_opts {
	const char *dir;
	const char *id;
	const char *const *brands;
	size_t nbrands;
	const char *ca_address;
	int ca_port;
	const char *root_file;
	const char *address; /* listen */
	int port;
};

/* One brand the gateway serves, with its certificates (certs/BRAND/). */
struct gateway_brand {
	char *name; /* "Visa", as in the config */
	int enrolled; /* the certificates were found and loaded */
	X509 *sig; /* signature certificate (PGWY, SIGN) */
	EVP_PKEY *sigkey;
	X509 *kex; /* key-exchange certificate (PGWY, KEYEX) */
	EVP_PKEY *kexkey;
	char *kex_thumb; /* SHA-256 of kex, hex: the "to" of sealed requests */
	STACK_OF(X509) *chain; /* payment gateway CA, brand CA */
	STACK_OF(X509_CRL) *crls; /* from enrollment: root, BCA, PCA */
};

/* One issuer of the routing table (the "issuers" of gateway.json). */
struct gateway_issuer {
	char *name;
	char *brand;
	char **bins; /* card number prefixes, 4-11 digits */
	size_t nbins;
	char *address;
	int port;
};

/* The settings a HUP reloads. */
struct gateway_settings {
	long long issuer_timeout; /* seconds to wait for an issuer */
	long long ca_timeout; /* seconds per request to the CA */
	long long crl_refresh; /* seconds between CRL refreshes */
	long long message_age; /* how far a request's date may be from now */
	struct gateway_issuer *issuers;
	size_t nissuers;
};

struct gateway {
	char *dir; /* the state folder (the config file's) */
	char *cfgfile;
	struct config *cfg;
	struct store *store;
	char *id; /* "gw-1" */
	char *ca_address;
	int ca_port;
	X509 *root;
	struct gateway_brand *brands;
	size_t nbrands;
	unsigned char pan_key[GATEWAY_KEY_LEN]; /* only when opened full */
	struct gateway_settings set;
	/* The daemon's (server.c sets them up; NULL in operator commands). */
	struct pki *pki; /* root, every brand's CAs, current CRLs */
	SSL_CTX *issuer_ssl; /* client context towards issuers */
};

/* gateway.c: the state, the config, the database. */
int gateway_init(const struct gateway_init_opts *, char *err, size_t errlen);
/*
 * Opens the state named by a config file. full: also every brand's
 * certificates and keys and the card-number key (the daemon needs them;
 * operator commands do not). NULL with a reason.
 */
struct gateway *gateway_open(
    const char *cfgfile, int full, char *err, size_t errlen);
void gateway_close(struct gateway *);
/* Reads the config again and takes its reloadable settings (HUP). */
int gateway_reload(struct gateway *, char *err, size_t errlen);
/* A configured brand (any case), or NULL. */
struct gateway_brand *gateway_brand_find(struct gateway *, const char *name);
/* The brand whose key-exchange certificate has this thumbprint, or NULL. */
struct gateway_brand *gateway_brand_by_kex(
    struct gateway *, const char *thumbprint);
/* The folder a brand's certificates live in; xmalloc'd. */
char *gateway_certs_dir(struct gateway *, const char *brand);
/* HMAC-SHA256 of a card number keyed with keys/pan.key, in hex. */
void gateway_pan_hmac(struct gateway *, const char *pan, char out[65]);

/* A transaction as the database keeps it. */
struct gateway_tx {
	const char *xid, *rrpid, *merchant, *brand, *lid_m, *currency;
	long long amount;
	const char *status; /* "approved" or "declined" */
	const char *reason, *auth_code, *hold_id, *hold_expires, *issuer;
	const char *pan_masked;
	const char *pan_hmac;
	const char *hpi; /* hex SHA-256 of the PIData */
	time_t received, decided;
};
/* Records a transaction inside the caller's transaction. 0 or -1. */
int gateway_tx_put(struct gateway *, const struct gateway_tx *);
/* 1 when a payment instruction with this hpi was seen, 0 not, -1 error. */
int gateway_pi_seen(struct gateway *, const char *hpi);
/* 1 when the merchant's XID already has an approved authorization, 0 not,
 * -1 error. */
int gateway_xid_approved(
    struct gateway *, const char *merchant, const char *xid);

extern const char *const gateway_migrations[];
extern const size_t gateway_nmigrations;

/* routing.c: the issuers table, and asking an issuer. */
int routing_load(
    struct config *, struct gateway_settings *, char *err, size_t errlen);
void routing_clear(struct gateway_settings *);
/* The issuer of a card: its brand and the longest matching BIN. */
const struct gateway_issuer *routing_find(
    struct gateway *, const char *brand, const char *pan);

/* What the gateway asks an issuer, and what it answers. */
struct routing_request {
	const char *request_id;
	const char *pan, *expiry, *cvv; /* cvv "" when absent */
	long long amount;
	const char *currency;
	const char *merchant_id;
};
enum routing_outcome {
	ROUTING_APPROVED,
	ROUTING_DECLINED,
	ROUTING_UNAVAILABLE, /* no answer in time: nothing happened here */
	ROUTING_BAD_ANSWER /* an answer that is neither */
};
struct routing_answer {
	char auth_code[33];
	char hold_id[73];
	char expires_at[41];
	char reason[65];
	char detail[256]; /* why, for the log and an Error */
};
enum routing_outcome routing_authorize(struct gateway *,
    const struct gateway_issuer *, const struct routing_request *,
    struct routing_answer *);

/* message.c: POST /set. */
/* Handles one SET message; returns the reply (xmalloc'd) and its status. */
char *message_handle(struct gateway *, const unsigned char *req, size_t len,
    int *status, size_t *resplen);
/* An Error for e, signed by brand b when not NULL. */
char *message_error(struct msg_error *e, const char *rrpid,
    struct gateway_brand *b, int *status, size_t *len);
/*
 * A response of `type` signed by b's signature certificate and, when
 * seal_to is not NULL, sealed to it; an internal Error if that fails.
 */
char *message_signed(struct gateway_brand *b, const char *type,
    const char *rrpid, json_t *body, X509 *seal_to, int *status, size_t *len);
/* base64 of a certificate's DER, as a new JSON string. */
json_t *message_cert_b64(X509 *x);

/* authorization.c: AuthReq -> AuthRes. */
char *authorization_handle(struct gateway *, struct msg *m,
    struct gateway_brand *opened_by, const unsigned char *wire, size_t len,
    int *status, size_t *resplen);

/* pcert.c: PCertReq -> PCertRes. */
char *pcert_handle(
    struct gateway *, struct msg *m, int *status, size_t *resplen);

/* server.c: `set-gateway serve`. */
int server_main(int argc, char **argv);

/* operator.c: the operator's commands; -1 for an unknown command. */
int operator_main(const char *cmd, int argc, char **argv);

#endif
