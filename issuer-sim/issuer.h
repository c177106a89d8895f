/*
 * The issuer simulator: the cardholder's bank. One program, set-issuer,
 * holds the daemon (server.c) and the bank staff's commands (operator.c);
 * both open the same state folder through issuer_open(), and SQLite's locking
 * keeps them consistent while both run.
 *
 * The state folder, as `set-issuer init` makes it:
 *	issuer.json	the configuration: name, brand, BINs, TLS files, the
 *			clients allowed to call, test behaviour
 *	issuer.db	the database: card accounts, the double-entry ledger,
 *			holds, the audit log, stored replies
 *	keys/card.key	the secret (mode 0600) that keys the hashes of card
 *			numbers and CVVs: the database never holds either
 *	tls/		the daemon's TLS certificate, made by the CA with
 *			`set-ca tls-cert --out DIR/tls`
 *
 * Money is always an integer count of minor units plus an ISO 4217 code.
 */
#ifndef ISSUER_H
#define ISSUER_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "store.h"

#define ISSUER_KEY_LEN 32
/* The largest amount anything accepts: 10^12 minor units. */
#define ISSUER_MAX_AMOUNT 1000000000000LL
/* Card numbers made here are 16 digits. */
#define ISSUER_PAN_LEN 16
/* Hex HMAC-SHA256 plus NUL. */
#define ISSUER_HASH_LEN 65

/* One "magic amount" of the config's "test" section. */
struct issuer_magic {
	long long amount;
	char *decline; /* a decline reason, or NULL */
	long long slow_ms; /* answer this late (0: at once) */
	int no_answer; /* never answer */
};

/* What /v1/verify-card insists on besides the number and expiry. */
enum { VERIFY_CVV = 1, VERIFY_NAME = 2, VERIFY_POSTCODE = 4 };

/* The settings a HUP reloads. */
struct issuer_settings {
	char **clients; /* TLS client CNs allowed to call the API */
	size_t nclients;
	unsigned verify_required; /* VERIFY_* */
	long long hold_secs; /* an authorization hold's lifetime */
	struct issuer_magic *magic;
	size_t nmagic;
};

struct issuer {
	char *dir; /* the state folder (the config file's) */
	char *cfgfile;
	struct config *cfg;
	struct store *store;
	unsigned char key[ISSUER_KEY_LEN]; /* keys/card.key */
	const char *name, *brand, *currency; /* borrowed from cfg */
	const char **bins; /* card-number prefixes, borrowed from cfg */
	size_t nbins;
	long long expiry_years; /* default lifetime of a new card */
	const char *who; /* who acts, for the audit log */
	struct issuer_settings set;
};

/* issuer.c: the state, the config, hashing, amounts, the audit log. */
struct issuer *issuer_open(const char *cfgfile, char *err, size_t errlen);
void issuer_close(struct issuer *);
/* Reads the config again and takes its reloadable settings (HUP); on an
 * error the old settings stay and err says why. */
int issuer_reload(struct issuer *, char *err, size_t errlen);
extern const char *const issuer_migrations[];
extern const size_t issuer_nmigrations;

/* The operator's name: $SET_OPERATOR, else the login name. */
const char *issuer_operator(void);
/* Records an action in the audit table, inside the caller's transaction. */
int issuer_audit(struct issuer *, const char *action, const char *target,
    const char *detail);

/*
 * HMAC-SHA256 keyed with keys/card.key over "label|data", in hex. Card
 * numbers, CVVs and request bodies are only ever stored this way, so the
 * database alone cannot be searched for a card by brute force.
 */
void issuer_hmac(struct issuer *, const char *label, const void *data,
    size_t len, char out[ISSUER_HASH_LEN]);

/* The magic amount entry for amount, or NULL. */
const struct issuer_magic *issuer_magic_find(struct issuer *, long long);
/* 1 when a client certificate with this CN may call the API. */
int issuer_client_allowed(struct issuer *, const char *cn);
/* 1 for a BIN this issuer owns. */
int issuer_bin_ok(struct issuer *, const char *bin);

/* 1 for three upper-case letters. */
int issuer_currency_ok(const char *);
/* An operator's amount: decimal digits only, 1 to ISSUER_MAX_AMOUNT. */
int issuer_parse_amount(const char *s, long long *out);
/* "2025-01-31 12:00:00Z" */
void issuer_format_time(time_t t, char *buf, size_t len);

/* A card account's status, as the database keeps it. */
#define ACCOUNT_ACTIVE "active"
#define ACCOUNT_BLOCKED "blocked"
#define ACCOUNT_LOST "lost"
#define ACCOUNT_STOLEN "stolen"
#define ACCOUNT_CLOSED "closed"

/* account.c: card accounts. */
struct account {
	long long id;
	long long ledger; /* its ledger account */
	char masked[24]; /* first six, stars, last four */
	char expiry[8]; /* YYYY-MM */
	char cvv_hash[ISSUER_HASH_LEN];
	char holder[128];
	char postcode[32];
	char currency[4];
	long long limit; /* credit limit */
	long long per_tx; /* per-transaction limit, 0 for none */
	char status[8];
	time_t opened_at;
};

/* What `open` (and the demo cards) ask for. */
struct account_spec {
	const char *holder, *postcode, *currency;
	const char *bin; /* NULL: the first */
	const char *expiry; /* NULL: expiry_years from now */
	long long limit, per_tx;
	const char *pan, *cvv; /* fixed (demo cards); NULL: random */
	const char *status; /* NULL: active */
	int demo;
};

/* Opens an account inside the caller's transaction. The card number, its
 * expiry and CVV come back once, in pan, cvv and expiry. */
int account_open(struct issuer *, const struct account_spec *,
    char pan[ISSUER_PAN_LEN + 4], char cvv[5], char expiry[8], char *err,
    size_t errlen);
/* Looks a card up by its full number: 0 found, 1 unknown, -1 error. */
int account_find(struct issuer *, const char *pan, struct account *);
/* The same by the account's id. */
int account_by_id(struct issuer *, long long id, struct account *);
/* Changes the status inside the caller's transaction; 0, or -1 with a
 * reason (e.g. a lost card cannot be unblocked). */
int account_set_status(struct issuer *, struct account *, const char *status,
    char *err, size_t errlen);
/* Balance owed (debits minus credits), active holds and the available
 * credit at time now. 0 or -1. */
int account_funds(struct issuer *, const struct account *, time_t now,
    long long *balance, long long *held, long long *available);
/* 1 when a card with this expiry (YYYY-MM) has expired at now: a card is
 * good through the last day of its month (UTC). */
int account_expired(const char *expiry, time_t now);
/* 1 for a well-formed, Luhn-valid card number. */
int account_pan_ok(const char *pan);

/*
 * ledger.c: the double-entry ledger. Every transaction is a set of entries,
 * each a signed amount on one ledger account (debit positive, credit
 * negative), that sum to zero in one currency. Balances are never stored:
 * they are the sums of the entries. Card accounts are the issuer's
 * receivables (a debit means the cardholder owes more); the internal
 * accounts are "cash:CUR" (money received) and "settlement:CUR" (what the
 * issuer owes the card scheme for captured purchases).
 */
struct ledger_entry {
	long long account;
	long long amount;
};

/* The id of an internal account ("cash", "settlement") in a currency,
 * made on first use inside the caller's transaction. */
int ledger_internal(
    struct issuer *, const char *kind, const char *currency, long long *id);
/* A new ledger account for a card (inside the caller's transaction),
 * named by the card's masked number, coded by its hash. */
int ledger_card_account(struct issuer *, const char *pan_hash,
    const char *masked, const char *currency, long long *id);
/*
 * Posts one transaction inside the caller's transaction: at least two
 * entries on accounts of `currency`, summing to zero, each non-zero. kind:
 * "payment" (today), "capture", "refund" (the purchase issue). The new
 * transaction's id in *txn. 0, or -1 with a reason.
 */
int ledger_post(struct issuer *, const char *kind, const char *reference,
    const char *description, const char *currency, const struct ledger_entry *,
    size_t n, long long *txn, char *err, size_t errlen);
/* The balance of a ledger account (sum of its entries). */
int ledger_balance(struct issuer *, long long account, long long *out);
/* The cardholder pays: credit the card account, debit cash. */
int ledger_payment(struct issuer *, const struct account *, long long amount,
    long long *txn, char *err, size_t errlen);
/*
 * Proves every transaction sums to zero, in one currency, over at least
 * two entries on accounts of that currency. 0 balanced (counts in *ntx,
 * *nentries), 1 not (err names the first bad transaction), -1 error.
 */
int ledger_check(struct issuer *, long long *ntx, long long *nentries,
    char *err, size_t errlen);

/* api.c: the JSON of the HTTP API. */
enum api_type { API_STRING, API_AMOUNT };

struct api_field {
	const char *name;
	enum api_type type;
	int required;
	/* API_STRING: a copy into buf (bufsize with the NUL) when the
	 * string fits and passes check; API_AMOUNT: *amount. */
	char *buf;
	size_t bufsize;
	int (*check)(const char *);
	const char *what; /* "8-64 hex digits", for the message */
	long long *amount;
	int *present;
};

/* Parses a request body against a field table: a JSON object, no unknown
 * fields, no duplicates, the right types. 0, or -1 with a message. */
int api_parse(const unsigned char *body, size_t len,
    const struct api_field *fields, size_t nfields, char *err, size_t errlen);
/* Compact JSON with sorted keys; steals obj; xmalloc'd. */
char *api_dump(json_t *obj, size_t *len);
/* {"error":code,"message":message} */
json_t *api_error(const char *code, const char *message);
int api_request_id_ok(const char *);
int api_pan_syntax_ok(const char *);
int api_cvv_ok(const char *);
int api_text_ok(const char *);

/*
 * verify.c, authorize.c: the decisions. Each runs inside the caller's
 * transaction, after the request parsed, and returns the reply body with
 * its HTTP status; nothing else is written for a refusal.
 */
struct verify_req {
	char request_id[65];
	char pan[24], expiry[8], cvv[8];
	char name[128], postcode[32];
	int has_cvv, has_name, has_postcode;
};
/* cvv, name and postcode are checked when sent; those in required
 * (VERIFY_*) must be sent. */
int verify_parse(const unsigned char *body, size_t len, unsigned required,
    struct verify_req *, char *err, size_t errlen);
json_t *verify_decide(
    struct issuer *, const struct verify_req *, time_t now, int *status);

struct authorize_req {
	char request_id[65];
	char pan[24], expiry[8], cvv[8];
	int has_cvv;
	long long amount;
	char currency[8];
	char merchant_id[72];
};
int authorize_parse(const unsigned char *body, size_t len,
    struct authorize_req *, char *err, size_t errlen);
json_t *authorize_decide(
    struct issuer *, const struct authorize_req *, time_t now, int *status);
/* 1 for a decline reason authorize_decide() may give. */
int authorize_reason_ok(const char *);

struct reverse_req {
	char request_id[65];
	char hold_id[72];
	long long amount; /* 0: all that remains */
};
int reverse_parse(const unsigned char *body, size_t len, struct reverse_req *,
    char *err, size_t errlen);
json_t *reverse_decide(
    struct issuer *, const struct reverse_req *, time_t now, int *status);

/* init.c: `set-issuer init`. */
int init_main(int argc, char **argv);

/* server.c: `set-issuer serve`. */
int server_main(int argc, char **argv);

/* operator.c: the bank staff's commands; -1 for an unknown command. */
int operator_main(const char *cmd, int argc, char **argv);

#endif
