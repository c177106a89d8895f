/*
 * The merchant: SET's "shopping platform". One program, set-merchant, holds
 * the daemon (server.c) that wallets talk to and the operator's commands
 * (operator.c); both open the same state folder through merchant_open(), and
 * SQLite's locking keeps them consistent while both run.
 *
 * The state folder, as `set-merchant init` makes it:
 *	merchant.json	the configuration
 *	merchant.db	orders, their items and history, stock, customer
 *			accounts, the gateway's certificates, stored replies
 *	catalog.json	what is for sale; the operator edits it (HUP reloads)
 *	root.pem	the trust anchor of the SET hierarchy
 *	certs/BRAND/	the merchant's SET certificates and keys per brand,
 *			from `set-merchant enroll`
 *	tls/		the TLS server certificate wallets see, from
 *			`set-ca tls-cert --out DIR/tls`
 *
 * The purchase, as merchant and gateway see it (docs/protocol.md):
 *
 *	wallet -> POST /orders		orders.c: prices, the order description
 *	wallet -> PInitReq		purchase.c: XID, challenges, the
 *					gateway's certificates (pcert.c)
 *	wallet -> PReq			purchase.c: the dual signature, the
 *					cardholder certificate, the OI against
 *					our order; then
 *	merchant -> AuthReq -> gateway	authorization.c, recorded before it
 *					is sent, so a lost answer can be asked
 *					again with the same bytes
 *	merchant -> PRes -> wallet	signed, stored under the PReq's RRPID
 *
 * The merchant never receives a card number: the payment instruction is
 * sealed to the gateway and travels through here as opaque bytes. Money is
 * an integer count of minor units plus an ISO 4217 currency.
 */
#ifndef MERCHANT_H
#define MERCHANT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "http.h"
#include "msg.h"
#include "payment.h"
#include "pki.h"
#include "store.h"

/* The most of one item in an order, and the most lines in an order. */
#define MERCHANT_MAX_QTY 1000
#define MERCHANT_MAX_LINES 100

/* One card brand the merchant accepts, with its SET certificates and the
 * gateway that authorizes its payments. */
struct merchant_brand {
	char *name; /* "Visa", as the CA spells it */
	char *dir; /* certs/Visa */
	X509 *sig; /* our signature certificate and key */
	EVP_PKEY *sigkey;
	STACK_OF(X509) *chain; /* issuing CA, brand CA */
	X509 *kex; /* our key-exchange certificate and key */
	EVP_PKEY *kexkey;
	char *kex_thumb; /* SHA-256 of kex, hex: "to" of what is sealed to us */
	SSL_CTX *gw_ssl; /* TLS client towards the gateway, with sig */
	/* The gateway's certificates, from its PCertRes (pcert.c). */
	X509 *gw_sig, *gw_kex;
	json_t *gw_block; /* what PInitRes hands the wallet */
	time_t gw_fetched;
};

/* The settings of merchant.json that a HUP reloads. */
struct merchant_settings {
	char *ca_host;
	int ca_port;
	int ca_timeout;
	char *gw_host;
	int gw_port;
	int gw_timeout;
	long long delivery_standard, delivery_express; /* minor units */
	long long refresh_minutes; /* CRLs and gateway certificates */
	int accounts; /* customer accounts enabled */
};

struct catalog;

struct merchant {
	char *dir; /* the state folder (the config file's) */
	char *cfgfile;
	struct config *cfg;
	struct store *store;
	char *id, *name, *currency;
	struct merchant_brand *brands;
	size_t nbrands;
	char *root_file;
	X509 *root;
	struct pki *pki; /* root, the brands' CAs and CRLs (crlfetch) */
	struct pki *ca_tls_pki; /* the CA's TLS certificate: no CRLs */
	SSL_CTX *ca_ssl; /* TLS client towards the CA */
	char *catalog_file;
	struct catalog *catalog; /* NULL until loaded */
	struct merchant_settings set;
	const char *who; /* who acts, for an order's history */
};

/* merchant.c: the state folder. */
/* Opens the config and the database; NULL with a reason. */
struct merchant *merchant_open(const char *cfgfile, char *err, size_t errlen);
void merchant_close(struct merchant *);
/* Reads merchant.json again (HUP): the reloadable settings; on an error
 * the old ones stay and err says why. */
int merchant_reload_config(struct merchant *, char *err, size_t errlen);
/* Loads every brand's certificates and keys and makes the TLS client
 * contexts (towards the CA and the gateway). 0 or -1. */
int merchant_load_certs(struct merchant *, char *err, size_t errlen);
/* The brands' CA certificates and current CRLs from the CA (crlfetch);
 * brand NULL: every brand. 0, or -1 when one failed (err says which). */
int merchant_refresh_crls(
    struct merchant *, const char *brand, char *err, size_t errlen);
/* Where `enroll` writes a brand's certificates; xmalloc'd, NULL when the
 * config's "certs" is unusable. */
char *merchant_certs_dir(struct merchant *, const char *brand);
struct merchant_brand *merchant_brand_find(struct merchant *, const char *);
/* The brand whose key-exchange certificate has this thumbprint. */
struct merchant_brand *merchant_brand_by_kex(struct merchant *, const char *);
/* Writes a JSON document atomically (temporary file, fsync, rename). */
int merchant_write_json(
    const char *path, json_t *doc, char *err, size_t errlen);
/* 1 for a string of 1..max characters from [A-Za-z0-9._-]. */
int merchant_ident_ok(const char *s, size_t max);
/* 1 when the text holds what looks like a card number (a Luhn-valid run
 * of 13-19 digits): such text is refused, never stored. */
int merchant_holds_pan(const char *s);
/* 1 for printable UTF-8 text of 1..max bytes without control characters. */
int merchant_text_ok(const char *s, size_t max);

extern const char *const merchant_migrations[];
extern const size_t merchant_nmigrations;

/* `set-merchant init`. */
struct merchant_init_opts {
	const char *dir, *id, *name, *currency, *root;
	const char *const *brands;
	size_t nbrands;
	const char *ca_host, *gw_host, *address;
	int ca_port, gw_port, port;
};
int merchant_init(const struct merchant_init_opts *, char *err, size_t errlen);

/* catalog.c: what is for sale. */
struct catalog_item {
	char *sku, *name;
	long long price; /* minor units of the catalog's currency */
	long long stock; /* as the catalog file says */
};
struct catalog {
	char *currency;
	struct catalog_item *items;
	size_t nitems;
};
/* Reads and checks a catalog file: NULL with a reason naming the file and
 * the entry. Its currency must be `currency`. */
struct catalog *catalog_load(
    const char *path, const char *currency, char *err, size_t errlen);
void catalog_free(struct catalog *);
const struct catalog_item *catalog_find(const struct catalog *, const char *);
/* Loads m->catalog_file and brings the stock table in line with it (a
 * changed "stock" in the file is the new count on hand); on an error the
 * old catalog stays. 0 or -1. */
int catalog_reload(struct merchant *, char *err, size_t errlen);
/* The count on hand of a SKU; -1 on a database error. */
long long catalog_available(struct merchant *, const char *sku);
/* Takes qty of a SKU off the stock (inside the caller's transaction). */
int catalog_take(struct merchant *, const char *sku, long long qty);
/* {"merchant","name","currency","items":[...]} with the stock on hand. */
json_t *catalog_json(struct merchant *);
/* The example catalog `init` writes. */
int catalog_write_example(
    const char *path, const char *currency, char *err, size_t errlen);
void catalog_http_get(struct merchant *, struct http_req *);

/* orders.c: baskets become orders. */
struct order {
	char id[65];
	char status[16]; /* placed, initiated, authorizing, authorized,
			  * declined, unresolved */
	char brand[33], currency[4];
	long long amount;
	char *od; /* the order description: what the HOD covers */
	char *customer; /* NULL when placed without an account */
	char xid[41], lid_c[65], chall_c[41], chall_m[41];
	char od_salt[33], hod[65];
	char preq_rrpid[65], preq_hash[65];
	char authreq_rrpid[65];
	unsigned char *authreq; /* the exact AuthReq bytes sent */
	size_t authreqlen;
	char auth_code[65];
	char *capture_token;
	char *reason;
	time_t created_at, updated_at;
};
/* By "id" or "xid": 0 found, 1 not found, -1 a database error. */
int orders_load(
    struct merchant *, const char *by, const char *value, struct order *);
void orders_clear(struct order *);
/* Adds an entry to an order's history (inside the caller's transaction
 * when there is one). */
int orders_event(struct merchant *, const char *order_id, const char *event,
    const char *detail);
/* The order's lines, as POST /orders answered them. */
json_t *orders_items_json(struct merchant *, const char *order_id);
/* Is every line of the order in stock? 1 yes, 0 no (why in err), -1. */
int orders_in_stock(
    struct merchant *, const char *order_id, char *err, size_t errlen);
/* Takes the order's items off the stock (inside the caller's
 * transaction). */
int orders_take_stock(struct merchant *, const char *order_id);
/* A customer's orders, newest first. */
json_t *orders_of_customer(struct merchant *, const char *username);
void orders_http_place(struct merchant *, struct http_req *);
void orders_http_list(struct merchant *, struct http_req *);

/* accounts.c: optional customer accounts. */
/* 0 the password is right, 1 unknown user or wrong password, -1 error. */
int accounts_check(
    struct merchant *, const char *username, const char *password);
/* Splits an "Authorization: Basic ..." value; *user and *pass xmalloc'd
 * (wipe the password). 0 or -1. */
int accounts_basic_decode(const char *header, char **user, char **pass);
void accounts_http_create(struct merchant *, struct http_req *);
void accounts_http_orders(struct merchant *, struct http_req *);

/* pcert.c: the gateway's certificates (PCertReq/PCertRes). */
/* Asks the gateway and installs what it sends, after checking it; the
 * answer is kept in the database for the next start. 0 or -1. */
int pcert_fetch(
    struct merchant *, struct merchant_brand *, char *err, size_t errlen);
/* Installs the gateway certificates last stored, if any still verify:
 * 0 installed, 1 none stored, -1 refused. */
int pcert_load(
    struct merchant *, struct merchant_brand *, char *err, size_t errlen);

/* authorization.c: AuthReq/AuthRes with the payment gateway. */
enum auth_status { AUTH_APPROVED, AUTH_DECLINED, AUTH_UNRESOLVED };
struct auth_outcome {
	enum auth_status status;
	char auth_code[65];
	char *capture_token; /* opaque, for the capture */
	char reason[256]; /* the decline's reason; why unresolved */
	char detail[256]; /* for the operator: what the gateway said */
	int refresh; /* the gateway's certificates seem to have changed */
};
void authorization_outcome_clear(struct auth_outcome *);
/* The AuthReq for an order and its verified PReq: signed by us, sealed to
 * the gateway. *wire and *rrpid xmalloc'd. 0 or -1. */
int authorization_build(struct merchant *, struct merchant_brand *,
    const struct order *, const struct payment_preq *, char **wire, size_t *len,
    char **rrpid, char *err, size_t errlen);
/* Sends the order's recorded AuthReq bytes and reads the answer. */
void authorization_send(struct merchant *, struct merchant_brand *,
    const struct order *, struct auth_outcome *);
/* Records the outcome on an order that is authorizing or unresolved, with
 * the stock when approved (inside the caller's transaction): 0 recorded,
 * 1 the order had already left that state, -1 a database error. */
int authorization_record(
    struct merchant *, const struct order *, const struct auth_outcome *);
/*
 * Asks the gateway again about an unresolved order (or one left
 * authorizing by a crash) with the same recorded AuthReq bytes and RRPID,
 * and records the answer. *o is reloaded with the order's state after.
 * 0, or -1 with a reason (the order is unchanged).
 */
int authorization_resolve(
    struct merchant *, struct order *o, char *err, size_t errlen);

/* purchase.c: the SET messages wallets send (POST /set). */
char *purchase_handle(struct merchant *, const unsigned char *req, size_t len,
    int *status, size_t *resplen);

/* reply.c: replies to wallets. */
/* A SET Error for e (signed with the brand's certificate when b is not
 * NULL), with its HTTP status. */
char *reply_error(struct merchant_brand *b, struct msg_error *e,
    const char *rrpid, int *status, size_t *len);
/* A response of `type` signed with the brand's certificate; an internal
 * Error when signing fails. */
char *reply_signed(struct merchant_brand *b, const char *type,
    const char *rrpid, json_t *body, int *status, size_t *len);
/* JSON replies of the shop's own endpoints. reply_json steals body. */
void reply_json(struct http_req *, int status, json_t *body);
void reply_json_error(struct http_req *, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
json_t *reply_b64(const unsigned char *p, size_t len);
json_t *reply_cert_b64(X509 *x);
/* The request body as a JSON object, or NULL after a 400 reply. */
json_t *reply_parse_body(struct http_req *);

/* server.c: `set-merchant serve`. */
int server_main(int argc, char **argv);

/* operator.c: the operator's commands. */
int operator_main(const char *cmd, int argc, char **argv);

#endif
