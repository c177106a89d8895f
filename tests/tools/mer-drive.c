/*
 * mer-drive: plays the cardholder's wallet against the real merchant daemon,
 * so the merchant can be tested (and attacked). The wallet's side of every
 * exchange and every check below is common/purchase.c, as the wallet's
 * `buy` uses it; this driver adds the card (kept in a folder, not a wallet)
 * and the attacks.
 *
 *	card		registers a card with the CA (register_card(),
 *			common/register.h), or reuses one kept in --card-dir
 *	shopping	GET /catalog, POST /orders: the merchant's prices and
 *			order description
 *	PInitReq	-> PInitRes, checked as a wallet must: signed by a
 *			merchant signature certificate of the brand, echoing
 *			our challenge and LID-C; the gateway's key-exchange
 *			certificate a gateway's of the brand; all with chain,
 *			validity and current CRLs (the brand's from the CA,
 *			crlfetch, and those the PInitRes carries)
 *	PReq		OIData and PIData, dual-signed, the PI sealed to the
 *			gateway (payment_preq_new); -> PRes, checked: signed by
 *			the same merchant, echoing XID and Chall-C
 *	InqReq		(--inquire XID) -> InqRes
 *
 * One option selects an attack or a variant; the outcome is printed as one
 * line: "authorized CODE", "declined REASON", "unresolved REASON",
 * "initiated XID" (--order, --pinit-only) or "error CODE: reason". Exit
 * status: 0 authorized (or initiated), 1 anything else, 2 usage, 3 the
 * driver could not set itself up (files, the root, card registration); the
 * CA unreachable for its CRLs is "error transport: ..." (exit 1).
 */

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "base64.h"
#include "log.h"
#include "pan.h"
#include "purchase.h"
#include "register.h"
#include "testcard.h"
#include "setcert.h"
#include "xmalloc.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_SETUP = 3 };

static const char usage[] =
    "usage: mer-drive --merchant HOST:PORT --root ROOT.pem --ca HOST:PORT\n"
    "                 --brand BRAND [card] [order] [variant] [--save DIR]\n"
    "card:     --card PAN --expiry YYYY-MM [--cvv CVV] [--name NAME]\n"
    "          [--postcode CODE] [--card-dir DIR]\n"
    "          (--card-dir keeps the registered card and reuses it)\n"
    "order:    [--item SKU:QTY ...] (default: one of the first item)\n"
    "          [--delivery standard|express] [--customer USER:PASS]\n"
    "variant:  --repeat          send the same PReq twice: the same PRes\n"
    "          --second-preq     then a new PReq for the same XID: refused\n"
    "          --tamper-oi       alter the OIData after signing\n"
    "          --wrong-chall     an OI with another merchant challenge\n"
    "          --wrong-amount    an OI whose HOD covers another amount\n"
    "          --pinit-only      stop after PInitRes: \"initiated XID\"\n"
    "          --order ORDER     PInitReq for an existing order, then stop\n"
    "          --inquire XID     only an InqReq for XID\n"
    "--save DIR writes order, xid, the PInitRes, PReq and PRes (wire, body,\n"
    "sig.der) and the dual signature with the PI-TBS bytes it covers, for\n"
    "`openssl cms -verify`.\n";

struct drive {
	const char *root_file, *brand, *save_dir, *card_dir;
	char *mer_host, *ca_host;
	int mer_port, ca_port, timeout;
	const char *card_pan, *expiry, *cvv, *name, *postcode;
	const char *items[64];
	size_t nitems;
	const char *delivery, *customer, *order_id, *inquire;
	int repeat, second, tamper_oi, wrong_chall, wrong_amount, pinit_only;
	struct purchase_session *s; /* the wallet's side: common/purchase.c */
	char err[1024];
	/* The card. */
	X509 *card;
	EVP_PKEY *card_key;
	STACK_OF(X509) *card_chain;
	unsigned char pan_secret[PAN_SECRET_LEN];
};

static void drive_setup_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
drive_setup_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("mer-drive: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SETUP);
}

static void
drive_hostport(const char *opt, const char *arg, char **host, int *port)
{
	const char *colon = strrchr(arg, ':');

	if (colon == NULL || colon == arg || atoi(colon + 1) <= 0) {
		fprintf(stderr, "mer-drive: %s wants HOST:PORT\n", opt);
		exit(EXIT_USAGE);
	}
	*host = xstrndup(arg, (size_t)(colon - arg));
	*port = atoi(colon + 1);
}

static void
drive_setup(struct drive *d)
{
	struct purchase_params pp;

	memset(&pp, 0, sizeof(pp));
	pp.host = d->mer_host;
	pp.port = d->mer_port;
	pp.root_file = d->root_file;
	pp.ca_host = d->ca_host;
	pp.ca_port = d->ca_port;
	pp.brand = d->brand;
	pp.timeout = d->timeout;
	pp.save_dir = d->save_dir;
	if ((d->s = purchase_session_new(&pp, d->err, sizeof(d->err))) == NULL)
		drive_setup_fail("%s", d->err);
}

/* The wallet's card: kept from an earlier run, or registered now. */
static void
drive_card(struct drive *d)
{
	struct register_params rp;
	struct register_result rr;
	char err[512];

	if (d->card_pan == NULL || d->expiry == NULL)
		drive_setup_fail("--card and --expiry are required");
	memset(&rp, 0, sizeof(rp));
	rp.host = d->ca_host;
	rp.port = d->ca_port;
	rp.root_file = d->root_file;
	rp.brand = d->brand;
	rp.pan = d->card_pan;
	rp.expiry = d->expiry;
	rp.cvv = d->cvv;
	rp.name = d->name;
	rp.postcode = d->postcode;
	rp.timeout = d->timeout;
	if (testcard_get(&rp, d->card_dir, &rr, err, sizeof(err)) == -1)
		drive_setup_fail("card: %s", err);
	d->card = rr.cert;
	d->card_key = rr.key;
	d->card_chain = rr.chain;
	memcpy(d->pan_secret, rr.pan_secret, PAN_SECRET_LEN);
	rr.cert = NULL;
	rr.key = NULL;
	rr.chain = NULL;
	register_result_clear(&rr);
}

/* The outcome line of a failed step: "error CODE: reason". */
static int
drive_error(struct drive *d)
{
	printf("error %s: %s\n", purchase_error_code(d->s), d->err);
	return EXIT_REFUSED;
}

/* GET /catalog and POST /orders: the merchant prices the basket. */
static int
drive_order(struct drive *d)
{
	struct purchase_item items[64];
	struct purchase_basket b;
	json_t *cat;
	char *skus[64], *colon, *user = NULL;
	size_t i;
	int rc;

	memset(&b, 0, sizeof(b));
	memset(skus, 0, sizeof(skus));
	if ((cat = purchase_catalog(d->s)) == NULL)
		return -1;
	if (d->nitems == 0) {
		skus[0] = xstrdup(json_string_value(json_object_get(
		    json_array_get(json_object_get(cat, "items"), 0), "sku")));
		items[0].sku = skus[0];
		items[0].qty = 1;
		b.nitems = 1;
	}
	json_decref(cat);
	for (i = 0; i < d->nitems; i++) {
		skus[i] = xstrdup(d->items[i]);
		if ((colon = strrchr(skus[i], ':')) == NULL)
			drive_setup_fail("--item wants SKU:QTY");
		*colon = '\0';
		items[i].sku = skus[i];
		items[i].qty = atol(colon + 1);
		b.nitems = i + 1;
	}
	if (d->customer != NULL) {
		user = xstrdup(d->customer);
		if ((colon = strchr(user, ':')) == NULL)
			drive_setup_fail("--customer wants USER:PASS");
		*colon = '\0';
		b.username = user;
		b.password = colon + 1;
	}
	b.items = items;
	b.name = d->name ? d->name : "Alice Smith";
	b.address = "1 Rue de la Paix, 75002 Paris";
	b.method = d->delivery ? d->delivery : "standard";
	rc = purchase_order(d->s, &b);
	for (i = 0; i < sizeof(skus) / sizeof(skus[0]); i++)
		free(skus[i]);
	free(user);
	return rc;
}

/* Alters one byte of the signed OIData: "wallet-1" becomes "wallet-2". */
static void
drive_tamper(json_t *body)
{
	const char *s = json_string_value(json_object_get(body, "oidata"));
	unsigned char *raw;
	size_t n;
	char *p, *b64;

	if (s == NULL || (raw = base64_decode(s, strlen(s), &n)) == NULL)
		drive_setup_fail("--tamper-oi: no OIData");
	raw = xrealloc(raw, n + 1);
	raw[n] = '\0';
	if ((p = strstr((char *)raw, "wallet-1")) == NULL)
		drive_setup_fail("--tamper-oi: LID-C not found");
	p[7] = '2';
	b64 = base64_encode(raw, n);
	json_object_set_new(body, "oidata", json_string(b64));
	free(b64);
	free(raw);
}

/* Prints the outcome of a PRes or InqRes; returns the exit status. */
static int
drive_outcome(const struct purchase_result *r)
{
	if (strcmp(r->status, "authorized") == 0) {
		printf("authorized %s\n", r->auth_code);
		return EXIT_OK;
	}
	if (strcmp(r->status, "declined") == 0 ||
	    strcmp(r->status, "unresolved") == 0)
		printf("%s %s\n", r->status, r->reason);
	else
		printf("%s\n", r->status);
	return EXIT_REFUSED;
}

static int
drive_inquire(struct drive *d)
{
	struct purchase_result r;

	if (purchase_inquire(d->s, d->inquire, NULL, &r) == -1)
		return drive_error(d);
	return drive_outcome(&r);
}

static struct purchase_card
drive_purchase_card(struct drive *d)
{
	struct purchase_card c;

	memset(&c, 0, sizeof(c));
	c.cert = d->card;
	c.key = d->card_key;
	c.chain = d->card_chain;
	c.pan = d->card_pan;
	c.expiry = d->expiry;
	c.cvv = d->cvv;
	memcpy(c.pan_secret, d->pan_secret, PAN_SECRET_LEN);
	return c;
}

/* The whole purchase. */
static int
drive_purchase(struct drive *d)
{
	struct purchase_card card;
	struct purchase_result r, r2;
	json_t *body = NULL, *body2 = NULL;
	unsigned char *raw = NULL;
	const unsigned char *raw2;
	size_t rawlen, rawlen2;
	unsigned variant = 0;
	int rc = EXIT_REFUSED;

	memset(&card, 0, sizeof(card));
	if (d->order_id != NULL) {
		if (purchase_init(d->s, d->order_id) == -1)
			return drive_error(d);
		printf("initiated %s\n", purchase_xid(d->s));
		return EXIT_OK;
	}
	drive_card(d);
	if (drive_order(d) == -1 || purchase_init(d->s, NULL) == -1)
		return drive_error(d);
	if (d->pinit_only) {
		printf("initiated %s\n", purchase_xid(d->s));
		return EXIT_OK;
	}
	card = drive_purchase_card(d);
	if (d->wrong_chall)
		variant |= PURCHASE_WRONG_CHALL;
	if (d->wrong_amount)
		variant |= PURCHASE_WRONG_AMOUNT;
	if ((body = purchase_preq_body(d->s, &card, variant)) == NULL) {
		rc = drive_error(d);
		goto done;
	}
	if (d->tamper_oi)
		drive_tamper(body);
	if (purchase_send(d->s, body, &r) == -1) {
		rc = drive_error(d);
		goto done;
	}
	if (d->repeat) {
		/* The same PReq again: the stored PRes, byte for byte. */
		raw2 = purchase_reply(d->s, &rawlen);
		raw = xmemdup(raw2, rawlen);
		if (purchase_resend(d->s, &r2) == -1) {
			rc = drive_error(d);
			goto done;
		}
		raw2 = purchase_reply(d->s, &rawlen2);
		if (rawlen != rawlen2 || memcmp(raw, raw2, rawlen) != 0) {
			printf("error repeat-differs: the repeated PReq got "
			       "another PRes\n");
			goto done;
		}
	}
	if (d->second) {
		/* Another PReq for the same XID (a new RRPID, a new salt):
		 * a PReq produces at most one purchase. */
		fprintf(stderr, "mer-drive: first PReq: %s\n",
		    strcmp(r.status, "authorized") == 0 ? "authorized"
		                                        : "not authorized");
		if ((body2 = purchase_preq_body(d->s, &card, 0)) == NULL)
			rc = drive_error(d);
		else if (purchase_send(d->s, body2, &r2) == 0)
			printf("error accepted: a second PReq for XID %s was "
			       "answered with a PRes\n",
			    purchase_xid(d->s));
		else
			rc = drive_error(d);
		rc = EXIT_REFUSED;
		goto done;
	}
	rc = drive_outcome(&r);
done:
	OPENSSL_cleanse(&card, sizeof(card));
	json_decref(body);
	json_decref(body2);
	free(raw);
	return rc;
}

enum {
	O_MERCHANT = 256,
	O_ROOT,
	O_CA,
	O_BRAND,
	O_CARD,
	O_EXPIRY,
	O_CVV,
	O_NAME,
	O_POSTCODE,
	O_CARD_DIR,
	O_ITEM,
	O_DELIVERY,
	O_CUSTOMER,
	O_REPEAT,
	O_SECOND,
	O_TAMPER,
	O_WRONG_CHALL,
	O_WRONG_AMOUNT,
	O_PINIT_ONLY,
	O_ORDER,
	O_INQUIRE,
	O_SAVE,
	O_TIMEOUT
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "merchant", 1, NULL,
		                                      O_MERCHANT },
		{ "root", 1, NULL, O_ROOT }, { "ca", 1, NULL, O_CA },
		{ "brand", 1, NULL, O_BRAND }, { "card", 1, NULL, O_CARD },
		{ "expiry", 1, NULL, O_EXPIRY }, { "cvv", 1, NULL, O_CVV },
		{ "name", 1, NULL, O_NAME },
		{ "postcode", 1, NULL, O_POSTCODE },
		{ "card-dir", 1, NULL, O_CARD_DIR },
		{ "item", 1, NULL, O_ITEM },
		{ "delivery", 1, NULL, O_DELIVERY },
		{ "customer", 1, NULL, O_CUSTOMER },
		{ "repeat", 0, NULL, O_REPEAT },
		{ "second-preq", 0, NULL, O_SECOND },
		{ "tamper-oi", 0, NULL, O_TAMPER },
		{ "wrong-chall", 0, NULL, O_WRONG_CHALL },
		{ "wrong-amount", 0, NULL, O_WRONG_AMOUNT },
		{ "pinit-only", 0, NULL, O_PINIT_ONLY },
		{ "order", 1, NULL, O_ORDER },
		{ "inquire", 1, NULL, O_INQUIRE }, { "save", 1, NULL, O_SAVE },
		{ "timeout", 1, NULL, O_TIMEOUT }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct drive d;
	int c, rc;

	memset(&d, 0, sizeof(d));
	d.timeout = 20;
	log_init("mer-drive", 1, 0);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_MERCHANT:
			drive_hostport(
			    "--merchant", optarg, &d.mer_host, &d.mer_port);
			break;
		case O_ROOT:
			d.root_file = optarg;
			break;
		case O_CA:
			drive_hostport("--ca", optarg, &d.ca_host, &d.ca_port);
			break;
		case O_BRAND:
			d.brand = optarg;
			break;
		case O_CARD:
			d.card_pan = optarg;
			break;
		case O_EXPIRY:
			d.expiry = optarg;
			break;
		case O_CVV:
			d.cvv = optarg;
			break;
		case O_NAME:
			d.name = optarg;
			break;
		case O_POSTCODE:
			d.postcode = optarg;
			break;
		case O_CARD_DIR:
			d.card_dir = optarg;
			break;
		case O_ITEM:
			if (d.nitems == sizeof(d.items) / sizeof(d.items[0])) {
				fputs(usage, stderr);
				rc = EXIT_USAGE;
				goto done;
			}
			d.items[d.nitems++] = optarg;
			break;
		case O_DELIVERY:
			d.delivery = optarg;
			break;
		case O_CUSTOMER:
			d.customer = optarg;
			break;
		case O_REPEAT:
			d.repeat = 1;
			break;
		case O_SECOND:
			d.second = 1;
			break;
		case O_TAMPER:
			d.tamper_oi = 1;
			break;
		case O_WRONG_CHALL:
			d.wrong_chall = 1;
			break;
		case O_WRONG_AMOUNT:
			d.wrong_amount = 1;
			break;
		case O_PINIT_ONLY:
			d.pinit_only = 1;
			break;
		case O_ORDER:
			d.order_id = optarg;
			break;
		case O_INQUIRE:
			d.inquire = optarg;
			break;
		case O_SAVE:
			d.save_dir = optarg;
			break;
		case O_TIMEOUT:
			d.timeout = atoi(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			rc = EXIT_OK;
			goto done;
		default:
			fputs(usage, stderr);
			rc = EXIT_USAGE;
			goto done;
		}
	}
	if (optind != argc || d.mer_host == NULL || d.root_file == NULL ||
	    d.ca_host == NULL || d.brand == NULL || d.timeout < 1) {
		fputs(usage, stderr);
		rc = EXIT_USAGE;
		goto done;
	}
	drive_setup(&d);
	rc = d.inquire != NULL ? drive_inquire(&d) : drive_purchase(&d);
done:
	purchase_session_free(d.s);
	X509_free(d.card);
	EVP_PKEY_free(d.card_key);
	sk_X509_pop_free(d.card_chain, X509_free);
	OPENSSL_cleanse(d.pan_secret, sizeof(d.pan_secret));
	free(d.mer_host);
	free(d.ca_host);
	return rc;
}
