/*
 * set-wallet, the cardholder's wallet: what its files share.
 *
 *	main.c		options, help, dispatch; init, passwd
 *	prompt.c	what the wallet asks the cardholder: passphrases (the
 *			terminal without echo, a file, a descriptor) and the
 *			registration form's fields; text from others made safe
 *			to print
 *	wallet.c	the encrypted store: the folder, the SQLite database,
 *			the master key under the passphrase, the cards
 *	registration.c	`register`: SET cardholder registration with the CA;
 *			the options, the form's questions, the advice, storing
 *			the card (the exchange and its checks, CardCInit,
 *			RegForm, CertReq with PANSecret: common/register.c)
 *	cards.c		`cards`, `show`, `check`: the cards, their
 *			certificates and status; refreshing the CRLs
 *	purchase.c	`catalog`, `buy`, `orders`, `order`: buying from a
 *			merchant with a card, the transaction log (the
 *			exchange and its checks, PInit, PReq, Inq:
 *			common/purchase.c)
 *
 * Commands return the exit status: 0 success, 1 failure, 2 usage.
 */
#ifndef WALLET_H
#define WALLET_H

#include <stddef.h>
#include <time.h>

#include <getopt.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pan.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* The options every command takes. */
struct wallet_opts {
	char *dir; /* the wallet folder */
	const char *pass_file; /* --passphrase-file */
	int pass_fd; /* --passphrase-fd, -1 if not given */
	int timeout; /* seconds per request to the CA */
};

/* main.c */
/*
 * The long options every command accepts (-w/--wallet, --passphrase-file,
 * --passphrase-fd, --timeout); their getopt values.
 */
enum {
	OPT_WALLET = 'w',
	OPT_PASS_FILE = 0x100,
	OPT_PASS_FD,
	OPT_TIMEOUT,
	OPT_HELP = 'h',
	OPT_FIRST_FREE = 0x200 /* a command's own options start here */
};
#define MAIN_COMMON_LONGOPTS                                                   \
	{ "wallet", 1, NULL, OPT_WALLET },                                     \
	    { "passphrase-file", 1, NULL, OPT_PASS_FILE },                     \
	    { "passphrase-fd", 1, NULL, OPT_PASS_FD },                         \
	    { "timeout", 1, NULL, OPT_TIMEOUT },                               \
	{                                                                      \
		"help", 0, NULL, OPT_HELP                                      \
	}
/* The short options every command accepts. */
#define MAIN_COMMON_SHORTOPTS "hw:"
/*
 * Handles one of the common options: 1 handled, 0 not one of them, -1 a bad
 * value (reported). OPT_HELP is left to the command.
 */
int main_common_opt(struct wallet_opts *, int c, const char *arg);
/*
 * The getopt_long loop of a command: handles --help (prints usage, returns
 * EXIT_OK), the common options, and errors (returns EXIT_USAGE). Returns -1
 * with *c set to the command's own option (>= OPT_FIRST_FREE, optarg set)
 * for the caller to handle before calling again, or -1 with *c == -1 when
 * the options are done (the arguments are argv[optind..argc)).
 */
int main_getopt(struct wallet_opts *, int argc, char **argv, const char *usage,
    const struct option *longopts, int *c);
/* Prints "set-wallet: reason" (made safe for the terminal) to stderr. */
void main_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the usage error, then the command's usage; returns EXIT_USAGE. */
int main_usage(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* prompt.c */
/*
 * The cardholder's passphrase: from --passphrase-file or --passphrase-fd
 * (the first line, without its newline), else asked on the terminal without
 * echo (twice when confirm is set; the two must match). *out is xmalloc'd:
 * wipe it with prompt_free. 0, or -1 with a reason; *usage is set when the
 * cause is the command line (no terminal and no option).
 */
int prompt_passphrase(const struct wallet_opts *, const char *question,
    int confirm, char **out, int *usage, char *err, size_t errlen);
/* The new passphrase for `passwd`: from file (if not NULL) or the terminal. */
int prompt_new_passphrase(
    const char *file, char **out, int *usage, char *err, size_t errlen);
/* 1 when stdin is a terminal, so that questions may be asked. */
int prompt_interactive(void);
/*
 * Asks a question on the terminal and reads one line (echo off when secret).
 * An xmalloc'd answer (may be ""), or NULL at end of input.
 */
char *prompt_line(const char *question, int secret);
/* Wipes and frees a secret string. NULL is fine. */
void prompt_free(char *);
/*
 * Text that came from someone else (the CA, the issuer), made safe to print:
 * control characters become '?'. xmalloc'd.
 */
char *prompt_clean(const char *text);

/* wallet.c */
struct wallet;

/* A card as the wallet keeps it. Secret fields are set only when opened. */
struct wallet_card {
	long long id;
	int index; /* 1, 2, ... in the order of `cards` */
	char *label;
	char *brand;
	char *pan_masked; /* 424242******4242 */
	char *expiry; /* YYYY-MM */
	char *issuer; /* the issuing bank, as the CA's form named it */
	char *ca; /* HOST:PORT of the CA that registered it */
	time_t created;
	time_t refreshed; /* when the CRLs were last fetched */
	X509 *cert;
	STACK_OF(X509) *chain; /* cardholder CA, brand CA */
	X509 *root;
	STACK_OF(X509_CRL) *crls;
	unsigned char *bci; /* DER CMS */
	size_t bcilen;
	long long bci_number;
	/* Secrets (wallet_card_add takes them; wallet_card_unseal fills
	 * them). */
	char *pan;
	unsigned char pan_secret[PAN_SECRET_LEN];
	EVP_PKEY *key;
};

/* The wallet folder the options name: -w, else $SET_WALLET_DIR, else
 * ~/.set-wallet. xmalloc'd. */
char *wallet_default_dir(void);
/*
 * Makes a new wallet in dir (created 0700 if absent; refused if it holds a
 * wallet already): a random master key wrapped under the passphrase. 0 or -1.
 */
int wallet_create(const char *dir, const char *pass, char *err, size_t errlen);
/* Opens an existing wallet, locked. NULL with a reason. */
struct wallet *wallet_open(const char *dir, char *err, size_t errlen);
void wallet_close(struct wallet *);
/* The passphrase unwraps the master key: 0, or -1 ("wrong passphrase"). */
int wallet_unlock(struct wallet *, const char *pass, char *err, size_t errlen);
/* Wraps the master key under a new passphrase (new salt). Unlocked only. */
int wallet_rekey(struct wallet *, const char *pass, char *err, size_t errlen);
/* The database file, for messages. */
const char *wallet_path(const struct wallet *);

/*
 * Stores a new card with its secrets (pan, pan_secret, key) sealed under
 * the master key; sets c->id. The wallet must be unlocked. 0 or -1.
 */
int wallet_card_add(
    struct wallet *, struct wallet_card *c, char *err, size_t errlen);
/* Every card, in order; *n of them. The array and cards: wallet_cards_free. */
struct wallet_card *wallet_cards(
    struct wallet *, size_t *n, char *err, size_t errlen);
void wallet_cards_free(struct wallet_card *, size_t n);
/*
 * The card a command line names: its label, or its index in `cards`.
 * A pointer into cards, or NULL with a reason.
 */
struct wallet_card *wallet_card_find(struct wallet_card *cards, size_t n,
    const char *name, char *err, size_t errlen);
/* 1 if a card has this label. */
int wallet_label_taken(struct wallet_card *cards, size_t n, const char *label);
/* Opens the card's secrets into c (unlocked wallet). 0 or -1. */
int wallet_card_unseal(
    struct wallet *, struct wallet_card *c, char *err, size_t errlen);
/*
 * Stores fresh CRLs and BCI for every card of c's brand registered with the
 * same CA. 0 or -1.
 */
int wallet_card_set_crls(
    struct wallet *, struct wallet_card *c, char *err, size_t errlen);
/* Frees what a card holds (not the struct). */
void wallet_card_clear(struct wallet_card *c);

/*
 * One purchase of the transaction log; no card number in it (the card is
 * named by its label). Strings xmalloc'd when read (wallet_purchases),
 * borrowed when written.
 */
struct wallet_purchase {
	char *xid, *merchant, *address /* HOST:PORT */, *order_id;
	long long amount; /* minor units */
	char *currency, *card, *status;
	char *detail; /* the authorization code, or the reason */
	time_t created, updated;
};

/* Records a purchase, or updates its status and detail (same XID). */
int wallet_purchase_save(
    struct wallet *, const struct wallet_purchase *, char *err, size_t errlen);
/*
 * The log, oldest first (only xid's purchase when not NULL); *n of them.
 * Free with wallet_purchases_free. NULL with a reason.
 */
struct wallet_purchase *wallet_purchases(
    struct wallet *, const char *xid, size_t *n, char *err, size_t errlen);
void wallet_purchases_free(struct wallet_purchase *, size_t n);

/* registration.c */
int registration_main(struct wallet_opts *, int argc, char **argv);
extern const char registration_usage[];

/* cards.c */
int cards_list_main(struct wallet_opts *, int argc, char **argv);
int cards_show_main(struct wallet_opts *, int argc, char **argv);
int cards_check_main(struct wallet_opts *, int argc, char **argv);
extern const char cards_list_usage[], cards_show_usage[], cards_check_usage[];

/* purchase.c */
int purchase_catalog_main(struct wallet_opts *, int argc, char **argv);
int purchase_buy_main(struct wallet_opts *, int argc, char **argv);
int purchase_orders_main(struct wallet_opts *, int argc, char **argv);
int purchase_order_main(struct wallet_opts *, int argc, char **argv);
extern const char purchase_catalog_usage[], purchase_buy_usage[],
    purchase_orders_usage[], purchase_order_usage[];

#endif
