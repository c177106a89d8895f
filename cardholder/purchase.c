/*
 * `set-wallet catalog`, `buy`, `orders` and `order`: paying a merchant with
 * a card of the wallet (SET Book 3), the cardholder's side of it. The
 * exchange with the merchant and every check of what it sends (the order
 * adding up, PInitRes with the merchant's and the gateway's certificates and
 * the brand's CRLs, PRes, InqRes) is common/purchase.c; this file is the
 * person's side:
 *
 *	catalog		what the merchant sells, and at what price
 *	buy		the wallet unlocked before anything is sent; the order
 *			placed and initiated, then shown; the cardholder's
 *			yes; the card's secrets opened only for the PReq; the
 *			outcome told plainly and kept in the transaction log
 *	orders		the transaction log (wallet.db, table purchases)
 *	order XID	the merchant asked again (InqReq), the log updated
 *
 * Money is integer minor units throughout (money_format prints it). No
 * card number is printed (masked only) or logged.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "pan.h"
#include "money.h"
#include "purchase.h"
#include "wallet.h"
#include "xmalloc.h"

/* The most lines of one order (the merchant takes 1-100). */
#define BUY_MAX_ITEMS 100

const char purchase_catalog_usage[] =
    "usage: set-wallet catalog --merchant HOST:PORT --root ROOT.pem\n"
    "           [--timeout SECONDS]\n"
    "\n"
    "Lists what the merchant sells: each item's SKU (the name `buy --item`\n"
    "takes), name, price and stock. The merchant's TLS certificate is\n"
    "checked against ROOT.pem; nothing is paid and the wallet is not\n"
    "opened.\n";

const char purchase_buy_usage[] =
    "usage: set-wallet buy --merchant HOST:PORT --root ROOT.pem --card CARD\n"
    "           --item SKU:QTY [--item SKU:QTY ...]\n"
    "           --deliver-to \"NAME, ADDRESS\" [--method standard|express]\n"
    "           [--cvv CODE] [--yes] [--save DIR]\n"
    "           [-w DIR] [--passphrase-file FILE | --passphrase-fd N]\n"
    "           [--timeout SECONDS]\n"
    "\n"
    "Buys from a merchant with a card of the wallet. The merchant prices\n"
    "the order; the wallet checks that the merchant and its payment gateway\n"
    "hold certificates of the card's brand (with the brand's current\n"
    "revocation lists, fetched from the CA that registered the card), shows\n"
    "the order and asks before paying. The card number goes sealed to the\n"
    "payment gateway only; the merchant never sees it.\n"
    "\n"
    "  --merchant HOST:PORT  the merchant's shop\n"
    "  --root ROOT.pem       the root certificate you trust\n"
    "  --card CARD           the card's label or number in `cards`\n"
    "  --item SKU:QTY        an item and how many (see `catalog`)\n"
    "  --deliver-to TEXT     the name, a comma, then the address\n"
    "  --method METHOD       standard (default) or express delivery\n"
    "  --cvv CODE            the card's security code, if your bank wants\n"
    "                        it (never stored)\n"
    "  --yes                 pay without asking (needed without a terminal)\n"
    "  --save DIR            keep the signed messages (PInitRes, PReq, PRes)\n"
    "                        for `openssl cms -verify`\n"
    "\n"
    "Exit status: 0 authorized; 1 declined, unresolved, cancelled or an\n"
    "error; 2 a usage error. Every purchase is kept in the wallet's log\n"
    "(`set-wallet orders`).\n";

const char purchase_orders_usage[] =
    "usage: set-wallet orders [-w DIR]\n"
    "\n"
    "The wallet's transaction log, oldest first: when, the XID (the\n"
    "purchase's SET id, for `set-wallet order XID`), the merchant and its\n"
    "order, the amount, the card's label, the status and the authorization\n"
    "code or the reason. No passphrase is needed: the log holds no card\n"
    "number.\n";

const char purchase_order_usage[] =
    "usage: set-wallet order XID [--root ROOT.pem] [-w DIR]\n"
    "           [--timeout SECONDS]\n"
    "\n"
    "Asks the merchant of a purchase in the log what became of it (SET\n"
    "InqReq), checks its signed answer and updates the log. Useful after an\n"
    "unresolved purchase. The answer is checked against the root and CA of\n"
    "the card that paid (--root: another root certificate). Exit status 0\n"
    "when the merchant answered, whatever the purchase's status.\n";

enum {
	OPT_MERCHANT = OPT_FIRST_FREE,
	OPT_ROOT,
	OPT_CARD,
	OPT_ITEM,
	OPT_DELIVER,
	OPT_METHOD,
	OPT_CVV,
	OPT_YES,
	OPT_SAVE
};

struct buy {
	struct wallet_opts *o;
	const char *merchant_arg, *root_file, *card_name, *method, *save_dir;
	char *host, *name, *address, *cvv;
	int port, yes;
	struct purchase_item items[BUY_MAX_ITEMS];
	char *skus[BUY_MAX_ITEMS];
	size_t nitems;
	int usage; /* the failure is a usage error */
	char err[1024];
};

static int buy_fail(struct buy *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
buy_fail(struct buy *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int buy_usage(struct buy *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
buy_usage(struct buy *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	b->usage = 1;
	return -1;
}

/* HOST:PORT into host and port. 0 or -1. */
static int
buy_hostport(const char *arg, char **host, int *port)
{
	const char *colon = strrchr(arg, ':');
	char *end;
	long v;

	if (colon == NULL || colon == arg || colon[1] == '\0')
		return -1;
	v = strtol(colon + 1, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return -1;
	*host = xstrndup(arg, (size_t)(colon - arg));
	*port = (int)v;
	return 0;
}

/* SKU:QTY, quantity 1-1000. */
static int
buy_item(struct buy *b, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	char *end;
	long qty;

	if (b->nitems == BUY_MAX_ITEMS)
		return buy_usage(b, "at most %d --item", BUY_MAX_ITEMS);
	if (colon == NULL || colon == arg)
		return buy_usage(
		    b, "--item: expected SKU:QTY, e.g. mug:2, got \"%s\"", arg);
	qty = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || qty < 1 || qty > 1000)
		return buy_usage(b,
		    "--item %s: the quantity is a number from 1 to 1000", arg);
	b->skus[b->nitems] = xstrndup(arg, (size_t)(colon - arg));
	b->items[b->nitems].sku = b->skus[b->nitems];
	b->items[b->nitems].qty = qty;
	b->nitems++;
	return 0;
}

/* "NAME, ADDRESS": split at the first comma, both trimmed. */
static int
buy_deliver_to(struct buy *b, const char *arg)
{
	const char *comma = strchr(arg, ','), *a;
	size_t n;

	if (comma == NULL)
		return buy_usage(b,
		    "--deliver-to: expected \"NAME, ADDRESS\", e.g. \"Alice "
		    "Smith, 1 Rue de la Paix, Paris\"");
	for (n = (size_t)(comma - arg); n > 0 && arg[n - 1] == ' '; n--)
		;
	for (a = comma + 1; *a == ' '; a++)
		;
	if (n == 0 || *a == '\0')
		return buy_usage(b, "--deliver-to: both a name and an address");
	free(b->name);
	free(b->address);
	b->name = xstrndup(arg, n);
	b->address = xstrdup(a);
	return 0;
}

static int
buy_options(struct buy *b, int argc, char **argv, int *done)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ "merchant", 1, NULL, OPT_MERCHANT },
		{ "root", 1, NULL, OPT_ROOT }, { "card", 1, NULL, OPT_CARD },
		{ "item", 1, NULL, OPT_ITEM },
		{ "deliver-to", 1, NULL, OPT_DELIVER },
		{ "method", 1, NULL, OPT_METHOD }, { "cvv", 1, NULL, OPT_CVV },
		{ "yes", 0, NULL, OPT_YES }, { "save", 1, NULL, OPT_SAVE },
		{ NULL, 0, NULL, 0 } };
	int c, rc;

	*done = -1;
	while ((rc = main_getopt(b->o, argc, argv, purchase_buy_usage, longopts,
	            &c)) == -1 &&
	    c != -1) {
		switch (c) {
		case OPT_MERCHANT:
			b->merchant_arg = optarg;
			break;
		case OPT_ROOT:
			b->root_file = optarg;
			break;
		case OPT_CARD:
			b->card_name = optarg;
			break;
		case OPT_ITEM:
			if (buy_item(b, optarg) == -1)
				return -1;
			break;
		case OPT_DELIVER:
			if (buy_deliver_to(b, optarg) == -1)
				return -1;
			break;
		case OPT_METHOD:
			b->method = optarg;
			break;
		case OPT_CVV:
			/* Kept in memory only, and wiped from the command
			 * line (ps shows it no longer). */
			prompt_free(b->cvv);
			b->cvv = xstrdup(optarg);
			OPENSSL_cleanse(optarg, strlen(optarg));
			break;
		case OPT_YES:
			b->yes = 1;
			break;
		case OPT_SAVE:
			b->save_dir = optarg;
			break;
		}
	}
	if (rc != -1) {
		*done = rc;
		return 0;
	}
	if (optind < argc)
		return buy_usage(b, "unexpected argument \"%s\"", argv[optind]);
	if (b->merchant_arg == NULL)
		return buy_usage(
		    b, "which merchant? give --merchant HOST:PORT");
	if (buy_hostport(b->merchant_arg, &b->host, &b->port) == -1)
		return buy_usage(b,
		    "--merchant: expected HOST:PORT, got \"%s\"",
		    b->merchant_arg);
	if (b->root_file == NULL)
		return buy_usage(b,
		    "which root certificate do you trust? give --root "
		    "ROOT.pem");
	if (b->card_name == NULL)
		return buy_usage(
		    b, "which card pays? give --card LABEL (see `cards`)");
	if (b->nitems == 0)
		return buy_usage(b,
		    "what to buy? give --item SKU:QTY (see "
		    "`catalog`)");
	if (b->name == NULL)
		return buy_usage(
		    b, "where to deliver? give --deliver-to \"NAME, ADDRESS\"");
	if (b->method == NULL)
		b->method = "standard";
	if (strcmp(b->method, "standard") != 0 &&
	    strcmp(b->method, "express") != 0)
		return buy_usage(b, "--method: standard or express");
	if (b->cvv != NULL &&
	    (strlen(b->cvv) < 3 || strlen(b->cvv) > 4 ||
	        strspn(b->cvv, "0123456789") != strlen(b->cvv)))
		return buy_usage(
		    b, "--cvv: the 3 or 4 digits of the card's security code");
	if (!b->yes && !prompt_interactive())
		return buy_usage(b,
		    "no terminal to confirm the payment on: give --yes to pay "
		    "without being asked");
	return 0;
}

/* A string field of the merchant's JSON, made safe to print. */
static char *
buy_text(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return prompt_clean(v != NULL ? v : "");
}

/* A decline or an unresolved purchase, in words. */
static const char *
buy_reason_text(const char *code)
{
	static const struct {
		const char *code, *text;
	} texts[] = {
		{ "insufficient-funds",
		    "insufficient funds: the card's limit or balance does "
		    "not cover the amount" },
		{ "expired-card", "the card has expired" },
		{ "wrong-cvv", "the security code (CVV) is not the card's" },
		{ "wrong-expiry", "the expiry date is not the card's" },
		{ "lost-or-stolen",
		    "the card was reported lost or stolen: call your bank" },
		{ "card-blocked", "the card is blocked: call your bank" },
		{ "do-not-honor", "the bank refused without saying why" },
		{ "issuer-unavailable",
		    "the bank that issued the card could not be reached" },
		{ "gateway-unavailable",
		    "the merchant could not reach its payment gateway" },
	};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].code, code) == 0)
			return texts[i].text;
	return NULL;
}

/* Prints what a PRes or InqRes says; the log's detail is set. */
static void
buy_tell(const struct purchase_result *r, const char *card, const char *amount)
{
	char *reason = prompt_clean(r->reason[0] ? r->reason : "no reason");
	char *merchant = prompt_clean(r->merchant);
	char *code = prompt_clean(r->auth_code);
	const char *text = buy_reason_text(r->reason);

	if (strcmp(r->status, "authorized") == 0)
		printf("authorized: %s paid to %s with %s, authorization "
		       "code %s\n",
		    amount, merchant, card, code);
	else if (strcmp(r->status, "declined") == 0)
		printf("declined by the bank that issued %s: %s (%s)\n"
		       "Nothing was charged.\n",
		    card, text ? text : reason, reason);
	else if (strcmp(r->status, "unresolved") == 0)
		printf("unresolved: the merchant could not get an answer from "
		       "its bank (%s)\nThe payment may still go through: try "
		       "`set-wallet order %s` later.\n",
		    reason, r->xid);
	else {
		char *status = prompt_clean(r->status);

		printf("%s (%s)\n", status, reason);
		free(status);
	}
	printf("XID %s\n", r->xid);
	free(reason);
	free(merchant);
	free(code);
}

static const char *
buy_detail(const struct purchase_result *r)
{
	return strcmp(r->status, "authorized") == 0 ? r->auth_code : r->reason;
}

/* The order, as the merchant priced it and as the HOD will cover it. */
static void
buy_show(const json_t *order, const struct wallet_card *card,
    const char *merchant, const char *addr)
{
	const char *cur = json_string_value(json_object_get(order, "currency"));
	json_t *d = json_object_get(order, "delivery"), *v;
	char unit[48], line[48], total[48], *name, *sku, *who, *where, *m;
	size_t i;

	m = prompt_clean(merchant);
	name = buy_text(order, "order_id");
	printf("Order %s from merchant %s (%s):\n", name, m, addr);
	free(name);
	free(m);
	json_array_foreach(json_object_get(order, "items"), i, v)
	{
		money_format(
		    json_integer_value(json_object_get(v, "unit_price")), cur,
		    unit, sizeof(unit));
		money_format(
		    json_integer_value(json_object_get(v, "line_total")), cur,
		    line, sizeof(line));
		name = buy_text(v, "name");
		sku = buy_text(v, "sku");
		printf("  %lld x %s (%s) at %s = %s\n",
		    (long long)json_integer_value(json_object_get(v, "qty")),
		    name, sku, unit, line);
		free(name);
		free(sku);
	}
	money_format(json_integer_value(json_object_get(d, "price")), cur, line,
	    sizeof(line));
	who = buy_text(d, "name");
	where = buy_text(d, "address");
	m = buy_text(d, "method");
	printf("  delivery: %s to %s, %s = %s\n", m, who, where, line);
	money_format(json_integer_value(json_object_get(order, "amount")), cur,
	    total, sizeof(total));
	printf("  total: %s, paid with %s (%s %s)\n", total, card->label,
	    card->brand, card->pan_masked);
	free(who);
	free(where);
	free(m);
	fflush(stdout);
}

/* The cardholder's yes on the terminal. */
static int
buy_confirm(void)
{
	char *line = prompt_line("Pay this order? [y/N] ", 0);
	int yes;

	yes = line != NULL &&
	    (strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 ||
	        strcmp(line, "yes") == 0);
	free(line);
	return yes;
}

/* Opens and unlocks the wallet and finds the card. */
static struct wallet *
buy_open(struct buy *b, struct wallet_card **cards, size_t *n,
    struct wallet_card **card)
{
	struct wallet *w;
	char *pass = NULL;
	int usage;

	if ((w = wallet_open(b->o->dir, b->err, sizeof(b->err))) == NULL)
		return NULL;
	if ((*cards = wallet_cards(w, n, b->err, sizeof(b->err))) == NULL)
		goto fail;
	if ((*card = wallet_card_find(
	         *cards, *n, b->card_name, b->err, sizeof(b->err))) == NULL)
		goto fail;
	if (prompt_passphrase(b->o, "Wallet passphrase: ", 0, &pass, &usage,
	        b->err, sizeof(b->err)) == -1) {
		b->usage = usage;
		goto fail;
	}
	if (wallet_unlock(w, pass, b->err, sizeof(b->err)) == -1) {
		prompt_free(pass);
		goto fail;
	}
	prompt_free(pass);
	return w;
fail:
	wallet_cards_free(*cards, *n);
	*cards = NULL;
	*n = 0;
	wallet_close(w);
	return NULL;
}

/* A failed step with the merchant, in words. */
static int
buy_failed(struct buy *b, struct purchase_session *s, const char *when)
{
	char said[sizeof(b->err)];
	const char *code = purchase_error_code(s);

	snprintf(said, sizeof(said), "%s", b->err);
	if (strcmp(code, "transport") == 0)
		return buy_fail(b,
		    "%s: %s\nCheck --merchant and that --root is the root "
		    "certificate you trust.",
		    when, said);
	if (strcmp(code, "bad-reply") == 0)
		return buy_fail(b,
		    "%s: the answer cannot be trusted: %s\nNothing was paid. "
		    "Is --merchant a merchant of your card's brand?",
		    when, said);
	if (strcmp(code, "local") == 0)
		return buy_fail(b, "%s: %s", when, said);
	return buy_fail(
	    b, "%s: the merchant refused (%s): %s", when, code, said);
}

static void
buy_clear(struct buy *b)
{
	size_t i;

	for (i = 0; i < b->nitems; i++)
		free(b->skus[i]);
	free(b->host);
	free(b->name);
	free(b->address);
	prompt_free(b->cvv);
}

/* The card's CA as HOST:PORT into host and port. */
static int
buy_card_ca(const struct wallet_card *c, char **host, int *port, char *err,
    size_t errlen)
{
	if (buy_hostport(c->ca, host, port) == -1) {
		snprintf(err, errlen, "card %s: no usable CA address \"%s\"",
		    c->label, c->ca);
		return -1;
	}
	return 0;
}

/* POST /orders: the merchant prices the basket. */
static int
buy_order(struct buy *b, struct purchase_session *s)
{
	struct purchase_basket basket;

	memset(&basket, 0, sizeof(basket));
	basket.items = b->items;
	basket.nitems = b->nitems;
	basket.name = b->name;
	basket.address = b->address;
	basket.method = b->method;
	if (purchase_order(s, &basket) == -1)
		return buy_failed(b, s, "the order");
	return 0;
}

/* PReq with the card's secrets, opened for this moment only. */
static int
buy_pay(struct buy *b, struct purchase_session *s, struct wallet *w,
    struct wallet_card *card, struct purchase_result *res)
{
	struct purchase_card pc;
	int rc;

	if (wallet_card_unseal(w, card, b->err, sizeof(b->err)) == -1)
		return -1;
	memset(&pc, 0, sizeof(pc));
	pc.cert = card->cert;
	pc.key = card->key;
	pc.chain = card->chain;
	pc.pan = card->pan;
	pc.expiry = card->expiry;
	pc.cvv = b->cvv;
	memcpy(pc.pan_secret, card->pan_secret, PAN_SECRET_LEN);
	rc = purchase_pay(s, &pc, res);
	OPENSSL_cleanse(&pc, sizeof(pc));
	return rc;
}

int
purchase_buy_main(struct wallet_opts *o, int argc, char **argv)
{
	struct buy b;
	struct purchase_params pp;
	struct purchase_session *s = NULL;
	struct purchase_result res;
	struct wallet_purchase *log = NULL;
	struct wallet *w = NULL;
	struct wallet_card *cards = NULL, *card = NULL;
	const json_t *order;
	char amount[48], *ca_host = NULL, lerr[512];
	size_t n = 0;
	int rc = EXIT_FAIL, done, ca_port;

	memset(&b, 0, sizeof(b));
	b.o = o;
	if (buy_options(&b, argc, argv, &done) == -1)
		goto done;
	if (done != -1) {
		rc = done;
		goto done;
	}
	/* Nothing goes to the merchant before the wallet opens. */
	if ((w = buy_open(&b, &cards, &n, &card)) == NULL)
		goto done;
	if (buy_card_ca(card, &ca_host, &ca_port, b.err, sizeof(b.err)) == -1)
		goto done;
	memset(&pp, 0, sizeof(pp));
	pp.host = b.host;
	pp.port = b.port;
	pp.root_file = b.root_file;
	pp.ca_host = ca_host;
	pp.ca_port = ca_port;
	pp.brand = card->brand;
	pp.timeout = o->timeout;
	pp.save_dir = b.save_dir;
	if ((s = purchase_session_new(&pp, b.err, sizeof(b.err))) == NULL)
		goto done;
	if (buy_order(&b, s) == -1)
		goto done;
	if (purchase_init(s, NULL) == -1) {
		buy_failed(&b, s, "the payment's start (PInitReq)");
		goto done;
	}
	order = purchase_order_get(s);
	buy_show(order, card, purchase_merchant(s), b.merchant_arg);
	if (!b.yes && !buy_confirm()) {
		printf("cancelled: nothing was paid\n");
		goto done;
	}
	money_format(json_integer_value(json_object_get(order, "amount")),
	    json_string_value(json_object_get(order, "currency")), amount,
	    sizeof(amount));
	log = xcalloc(1, sizeof(*log));
	log->xid = xstrdup(purchase_xid(s));
	log->merchant = xstrdup(purchase_merchant(s));
	log->address = xstrdup(b.merchant_arg);
	log->order_id =
	    xstrdup(json_string_value(json_object_get(order, "order_id")));
	log->amount = json_integer_value(json_object_get(order, "amount"));
	log->currency =
	    xstrdup(json_string_value(json_object_get(order, "currency")));
	log->card = xstrdup(card->label);
	if (buy_pay(&b, s, w, card, &res) == -1) {
		/* Sent or not, the merchant may know it: ask it later. */
		log->status =
		    xstrdup(strcmp(purchase_error_code(s), "transport") == 0
		            ? "unknown"
		            : "failed");
		log->detail = xstrdup(purchase_error_code(s));
		buy_failed(&b, s, "the payment (PReq)");
		if (strcmp(log->status, "unknown") == 0)
			snprintf(b.err + strlen(b.err),
			    sizeof(b.err) - strlen(b.err),
			    "\nAsk the merchant later: set-wallet order %s",
			    log->xid);
	} else {
		log->status = xstrdup(res.status);
		log->detail = xstrdup(buy_detail(&res));
		buy_tell(&res, card->label, amount);
		if (strcmp(res.status, "authorized") == 0)
			rc = EXIT_OK;
	}
	if (wallet_purchase_save(w, log, lerr, sizeof(lerr)) == -1) {
		main_error("%s", lerr);
		rc = EXIT_FAIL;
	}
done:
	if (rc != EXIT_OK && b.err[0] != '\0') {
		if (b.usage)
			rc = main_usage(purchase_buy_usage, "%s", b.err);
		else
			main_error("%s", b.err);
	}
	wallet_purchases_free(log, log != NULL);
	purchase_session_free(s);
	wallet_cards_free(cards, n);
	wallet_close(w);
	free(ca_host);
	buy_clear(&b);
	return rc;
}

int
purchase_catalog_main(struct wallet_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ "merchant", 1, NULL, OPT_MERCHANT },
		{ "root", 1, NULL, OPT_ROOT }, { NULL, 0, NULL, 0 } };
	struct purchase_params pp;
	struct purchase_session *s = NULL;
	const char *merchant = NULL, *root = NULL, *cur;
	char *host = NULL, err[1024], price[48], *t1, *t2;
	json_t *cat = NULL, *v;
	size_t i;
	int c, rc, port;

	while ((rc = main_getopt(o, argc, argv, purchase_catalog_usage,
	            longopts, &c)) == -1 &&
	    c != -1) {
		if (c == OPT_MERCHANT)
			merchant = optarg;
		else if (c == OPT_ROOT)
			root = optarg;
	}
	if (rc != -1)
		return rc;
	if (optind < argc)
		return main_usage(purchase_catalog_usage,
		    "unexpected argument \"%s\"", argv[optind]);
	if (merchant == NULL || buy_hostport(merchant, &host, &port) == -1)
		return main_usage(purchase_catalog_usage,
		    "which merchant? give --merchant HOST:PORT");
	if (root == NULL) {
		free(host);
		return main_usage(purchase_catalog_usage,
		    "which root certificate do you trust? give --root "
		    "ROOT.pem");
	}
	rc = EXIT_FAIL;
	memset(&pp, 0, sizeof(pp));
	pp.host = host;
	pp.port = port;
	pp.root_file = root;
	pp.timeout = o->timeout;
	if ((s = purchase_session_new(&pp, err, sizeof(err))) == NULL) {
		main_error("%s", err);
		goto done;
	}
	if ((cat = purchase_catalog(s)) == NULL) {
		main_error("the catalog of %s: %s", merchant, err);
		goto done;
	}
	cur = json_string_value(json_object_get(cat, "currency"));
	t1 = buy_text(cat, "name");
	t2 = buy_text(cat, "merchant");
	printf("%s (%s), prices in %s\n", t1, t2, cur);
	free(t1);
	free(t2);
	printf("%-16s %-36s %14s %6s\n", "SKU", "NAME", "PRICE", "STOCK");
	json_array_foreach(json_object_get(cat, "items"), i, v)
	{
		money_format(json_integer_value(json_object_get(v, "price")),
		    cur, price, sizeof(price));
		t1 = buy_text(v, "sku");
		t2 = buy_text(v, "name");
		printf("%-16s %-36s %14s %6lld\n", t1, t2, price,
		    (long long)json_integer_value(json_object_get(v, "stock")));
		free(t1);
		free(t2);
	}
	rc = EXIT_OK;
done:
	json_decref(cat);
	purchase_session_free(s);
	free(host);
	return rc;
}

int
purchase_orders_main(struct wallet_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	struct wallet *w;
	struct wallet_purchase *ps;
	char err[512], amount[48], when[32], *line, *clean;
	struct tm tm;
	size_t n, i;
	int c, rc;

	if ((rc = main_getopt(
	         o, argc, argv, purchase_orders_usage, longopts, &c)) != -1)
		return rc;
	if (optind < argc)
		return main_usage(purchase_orders_usage,
		    "unexpected argument \"%s\"", argv[optind]);
	if ((w = wallet_open(o->dir, err, sizeof(err))) == NULL) {
		main_error("%s", err);
		return EXIT_FAIL;
	}
	if ((ps = wallet_purchases(w, NULL, &n, err, sizeof(err))) == NULL) {
		main_error("%s", err);
		wallet_close(w);
		return EXIT_FAIL;
	}
	if (n == 0)
		printf("no purchases yet\n");
	else
		printf("%-16s %-40s %-12s %-14s %12s %-12s %-10s %s\n", "DATE",
		    "XID", "MERCHANT", "ORDER", "AMOUNT", "CARD", "STATUS",
		    "CODE/REASON");
	for (i = 0; i < n; i++) {
		localtime_r(&ps[i].created, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		money_format(
		    ps[i].amount, ps[i].currency, amount, sizeof(amount));
		line = xasprintf("%s %-40s %-12s %-14s %12s %-12s %-10s %s",
		    when, ps[i].xid, ps[i].merchant, ps[i].order_id, amount,
		    ps[i].card, ps[i].status, ps[i].detail);
		clean = prompt_clean(line);
		printf("%s\n", clean);
		free(clean);
		free(line);
	}
	wallet_purchases_free(ps, n);
	wallet_close(w);
	return EXIT_OK;
}

int
purchase_order_main(struct wallet_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ "root", 1, NULL, OPT_ROOT }, { NULL, 0, NULL, 0 } };
	struct purchase_params pp;
	struct purchase_session *s = NULL;
	struct purchase_result res;
	struct wallet *w = NULL;
	struct wallet_purchase *ps = NULL;
	struct wallet_card *cards = NULL, *card;
	const char *root = NULL, *xid;
	char err[1024], amount[48], *host = NULL, *ca_host = NULL;
	size_t n = 0, ncards = 0;
	int c, rc, port, ca_port;

	while ((rc = main_getopt(
	            o, argc, argv, purchase_order_usage, longopts, &c)) == -1 &&
	    c != -1)
		if (c == OPT_ROOT)
			root = optarg;
	if (rc != -1)
		return rc;
	if (optind + 1 != argc)
		return main_usage(purchase_order_usage,
		    "which purchase? give its XID (see `set-wallet orders`)");
	xid = argv[optind];
	rc = EXIT_FAIL;
	err[0] = '\0';
	if ((w = wallet_open(o->dir, err, sizeof(err))) == NULL ||
	    (ps = wallet_purchases(w, xid, &n, err, sizeof(err))) == NULL)
		goto done;
	if (n != 1) {
		snprintf(err, sizeof(err),
		    "no purchase with XID %.64s in this wallet (see "
		    "`set-wallet "
		    "orders`)",
		    xid);
		goto done;
	}
	if ((cards = wallet_cards(w, &ncards, err, sizeof(err))) == NULL ||
	    (card = wallet_card_find(
	         cards, ncards, ps->card, err, sizeof(err))) == NULL ||
	    buy_card_ca(card, &ca_host, &ca_port, err, sizeof(err)) == -1)
		goto done;
	if (buy_hostport(ps->address, &host, &port) == -1) {
		snprintf(err, sizeof(err),
		    "the log's merchant address \"%s\" "
		    "is unusable",
		    ps->address);
		goto done;
	}
	memset(&pp, 0, sizeof(pp));
	pp.host = host;
	pp.port = port;
	pp.root_file = root;
	pp.root = card->root;
	pp.ca_host = ca_host;
	pp.ca_port = ca_port;
	pp.brand = card->brand;
	pp.timeout = o->timeout;
	if ((s = purchase_session_new(&pp, err, sizeof(err))) == NULL)
		goto done;
	if (purchase_inquire(s, xid, ps->merchant, &res) == -1) {
		char said[sizeof(err)];

		snprintf(said, sizeof(said), "%s", err);
		snprintf(err, sizeof(err), "asking %.64s about %s (%s): %.600s",
		    ps->address, xid, purchase_error_code(s), said);
		goto done;
	}
	money_format(ps->amount, ps->currency, amount, sizeof(amount));
	buy_tell(&res, ps->card, amount);
	free(ps->status);
	free(ps->detail);
	ps->status = xstrdup(res.status);
	ps->detail = xstrdup(buy_detail(&res));
	if (wallet_purchase_save(w, ps, err, sizeof(err)) == -1)
		goto done;
	rc = EXIT_OK;
done:
	if (rc != EXIT_OK && err[0] != '\0')
		main_error("%s", err);
	purchase_session_free(s);
	wallet_cards_free(cards, ncards);
	wallet_purchases_free(ps, n);
	wallet_close(w);
	free(host);
	free(ca_host);
	return rc;
}
