/*
 * `set-wallet register`: SET cardholder registration (SET Book 2), the
 * cardholder's side of it. The exchange with the CA and every check of what
 * it sends (CardCInit, RegForm, CertReq, PAN blinding, the issued
 * certificate) is common/register.c; this file is the person's side:
 *
 *	options		read and checked; what is malformed is a usage error
 *	the wallet	opened and unlocked, and the label chosen, before
 *			anything goes to the CA
 *	the form	register_start tells what the bank asks; what the
 *			options do not give is asked on the terminal
 *	the outcome	told as what happened and what to do (an unreachable
 *			CA, the CA's Error codes, the bank's refusal codes);
 *			an issued certificate is stored, encrypted, with the
 *			card and the CA material the session checked
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>

#include "caclient.h"
#include "pan.h"
#include "register.h"
#include "setcert.h"
#include "wallet.h"
#include "xmalloc.h"

const char registration_usage[] =
    "usage: set-wallet register --ca HOST:PORT --root ROOT.pem --brand BRAND\n"
    "           [--pan NUMBER] [--expiry YYYY-MM | MM/YY] [--cvv CODE]\n"
    "           [--name NAME] [--postcode CODE] [--label LABEL]\n"
    "           [-w DIR] [--passphrase-file FILE | --passphrase-fd N]\n"
    "           [--timeout SECONDS]\n"
    "\n"
    "Registers a payment card with the brand's certificate authority (CA):\n"
    "the card number goes to the CA sealed; the bank that issued the card\n"
    "checks the details its form asks for; the wallet receives a signature\n"
    "certificate that names the card only through a keyed hash. The card\n"
    "number, the key and the secret behind the hash are stored encrypted\n"
    "under the wallet's passphrase; the security code (CVV) is never "
    "stored.\n"
    "\n"
    "  --ca HOST:PORT     the CA of the card's brand\n"
    "  --root ROOT.pem    the root certificate you trust (from your bank)\n"
    "  --brand BRAND      the card's brand, e.g. Visa\n"
    "  --pan NUMBER       the card number (spaces and dashes are ignored)\n"
    "  --expiry DATE      the card's expiry, 2028-12 or 12/28\n"
    "  --cvv CODE         the 3 or 4 digit security code\n"
    "  --name NAME        the cardholder's name as on the card\n"
    "  --postcode CODE    the billing address's postcode\n"
    "  --label LABEL      a name for the card in this wallet (default: the\n"
    "                     brand and the last four digits, e.g. visa-4242)\n"
    "\n"
    "What the bank's form asks and the options do not give is asked on the\n"
    "terminal; without a terminal the command names the missing option.\n";

enum {
	OPT_CA = OPT_FIRST_FREE,
	OPT_ROOT,
	OPT_BRAND,
	OPT_PAN,
	OPT_EXPIRY,
	OPT_CVV,
	OPT_NAME,
	OPT_POSTCODE,
	OPT_LABEL
};

struct reg {
	struct wallet_opts *o;
	const char *ca_arg; /* HOST:PORT as given */
	char *host;
	int port;
	const char *root_file;
	const char *brand;
	char *pan, *expiry, *cvv, *name, *postcode, *label;
	char masked[24];
	struct register_session *s;
	/* From the form. */
	char *issuer; /* made safe to print */
	unsigned fields; /* REGISTER_FIELD_* */
	int usage; /* the failure is a usage error */
	char err[1024];
};

static int reg_fail(struct reg *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reg_fail(struct reg *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* A usage error: an option is missing or malformed. */
static int reg_usage(struct reg *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reg_usage(struct reg *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->usage = 1;
	return -1;
}

/* The card number without spaces and dashes; NULL if it is not one. */
static char *
reg_norm_pan(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s; s++)
		if (*s != ' ' && *s != '-')
			*o++ = *s;
	*o = '\0';
	if (!pan_luhn_ok(out, strlen(out))) {
		prompt_free(out);
		return NULL;
	}
	return out;
}

/* "2028-12", "12/28" or "12/2028" as "2028-12"; NULL if none of them. */
static char *
reg_norm_expiry(const char *s)
{
	char buf[16];
	size_t n = strlen(s);

	if (n == 7 && s[4] == '-') {
		snprintf(buf, sizeof(buf), "%s", s);
	} else if ((n == 5 || n == 7) && s[2] == '/' &&
	    isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]) &&
	    (n == 5 ||
	        (isdigit((unsigned char)s[5]) &&
	            isdigit((unsigned char)s[6])))) {
		if (n == 5)
			snprintf(buf, sizeof(buf), "20%.2s-%.2s", s + 3, s);
		else
			snprintf(buf, sizeof(buf), "%.4s-%.2s", s + 3, s);
	} else
		return NULL;
	return register_field_ok(REGISTER_FIELD_EXPIRY, buf) ? xstrdup(buf)
	                                                     : NULL;
}

/* A label: 1-32 of [A-Za-z0-9._-], not all digits (those are indexes). */
static int
reg_label_ok(const char *s)
{
	size_t n = strlen(s), i;
	int digits = 1;

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
		if (!isdigit((unsigned char)s[i]))
			digits = 0;
	}
	return !digits;
}

static int
reg_brand_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Reads and checks the command line. 0, or -1 (a usage error). */
static int
reg_options(struct reg *r, int argc, char **argv, int *done)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ "ca", 1, NULL, OPT_CA }, { "root", 1, NULL, OPT_ROOT },
		{ "brand", 1, NULL, OPT_BRAND }, { "pan", 1, NULL, OPT_PAN },
		{ "expiry", 1, NULL, OPT_EXPIRY }, { "cvv", 1, NULL, OPT_CVV },
		{ "name", 1, NULL, OPT_NAME },
		{ "postcode", 1, NULL, OPT_POSTCODE },
		{ "label", 1, NULL, OPT_LABEL }, { NULL, 0, NULL, 0 } };
	const char *pan = NULL, *expiry = NULL;
	char *colon;
	int c, rc;

	*done = -1;
	while ((rc = main_getopt(r->o, argc, argv, registration_usage, longopts,
	            &c)) == -1 &&
	    c != -1) {
		switch (c) {
		case OPT_CA:
			r->ca_arg = optarg;
			break;
		case OPT_ROOT:
			r->root_file = optarg;
			break;
		case OPT_BRAND:
			r->brand = optarg;
			break;
		case OPT_PAN:
			pan = optarg;
			break;
		case OPT_EXPIRY:
			expiry = optarg;
			break;
		case OPT_CVV:
			prompt_free(r->cvv);
			r->cvv = xstrdup(optarg);
			break;
		case OPT_NAME:
			free(r->name);
			r->name = xstrdup(optarg);
			break;
		case OPT_POSTCODE:
			free(r->postcode);
			r->postcode = xstrdup(optarg);
			break;
		case OPT_LABEL:
			free(r->label);
			r->label = xstrdup(optarg);
			break;
		}
	}
	if (rc != -1) {
		*done = rc;
		return 0;
	}
	if (optind < argc)
		return reg_usage(r, "unexpected argument \"%s\"", argv[optind]);
	if (r->ca_arg == NULL)
		return reg_usage(r, "which CA? give --ca HOST:PORT");
	if ((colon = strrchr(r->ca_arg, ':')) == NULL || colon == r->ca_arg ||
	    (r->port = atoi(colon + 1)) <= 0 || r->port > 65535 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return reg_usage(
		    r, "--ca: expected HOST:PORT, got \"%s\"", r->ca_arg);
	r->host = xstrndup(r->ca_arg, (size_t)(colon - r->ca_arg));
	if (r->root_file == NULL)
		return reg_usage(r,
		    "which root certificate do you trust? give --root "
		    "ROOT.pem");
	if (r->brand == NULL)
		return reg_usage(r,
		    "which brand is the card? give --brand "
		    "BRAND (e.g. Visa)");
	if (!reg_brand_ok(r->brand))
		return reg_usage(
		    r, "--brand: a brand is 1-32 letters and digits");
	if (pan != NULL && (r->pan = reg_norm_pan(pan)) == NULL)
		return reg_usage(r,
		    "--pan: that is not a card number (13-19 digits with a "
		    "valid check digit); check it");
	if (expiry != NULL && (r->expiry = reg_norm_expiry(expiry)) == NULL)
		return reg_usage(r,
		    "--expiry: expected the card's expiry as YYYY-MM or MM/YY");
	if (r->cvv != NULL && !register_field_ok(REGISTER_FIELD_CVV, r->cvv))
		return reg_usage(r,
		    "--cvv: expected the 3 or 4 digits of the "
		    "card's security code");
	if (r->name != NULL && !register_field_ok(REGISTER_FIELD_NAME, r->name))
		return reg_usage(r, "--name: 1 to 64 printable characters");
	if (r->postcode != NULL &&
	    !register_field_ok(REGISTER_FIELD_POSTCODE, r->postcode))
		return reg_usage(r, "--postcode: 1 to 16 printable characters");
	if (r->label != NULL && !reg_label_ok(r->label))
		return reg_usage(r,
		    "--label: 1-32 letters, digits, '.', '_' or '-', not only "
		    "digits");
	return 0;
}

/*
 * Asks the terminal for a value until it is valid, or fails naming the
 * option when there is no terminal. *value is set on success.
 */
static int
reg_ask(struct reg *r, char **value, const char *what, const char *option,
    const char *question, int secret, char *(*norm)(const char *))
{
	char *line, *v;

	if (*value != NULL)
		return 0;
	if (!prompt_interactive())
		return reg_usage(r, "%s is needed: give %s", what, option);
	for (;;) {
		if ((line = prompt_line(question, secret)) == NULL)
			return reg_fail(
			    r, "%s was not given; nothing was sent", what);
		v = norm(line);
		prompt_free(line);
		if (v != NULL) {
			*value = v;
			return 0;
		}
		fprintf(stderr, "That does not look right; try again.\n");
	}
}

static char *
reg_norm_cvv(const char *s)
{
	return register_field_ok(REGISTER_FIELD_CVV, s) ? xstrdup(s) : NULL;
}

static char *
reg_norm_name(const char *s)
{
	return register_field_ok(REGISTER_FIELD_NAME, s) ? xstrdup(s) : NULL;
}

static char *
reg_norm_postcode(const char *s)
{
	return register_field_ok(REGISTER_FIELD_POSTCODE, s) ? xstrdup(s)
	                                                     : NULL;
}

/* The answers to the bank's form: from the options, else the terminal. */
static int
reg_fill_form(struct reg *r)
{
	if ((r->fields & REGISTER_FIELD_NAME) &&
	    reg_ask(r, &r->name, "the cardholder's name", "--name NAME",
	        "Cardholder name (as on the card): ", 0, reg_norm_name) == -1)
		return -1;
	if ((r->fields & REGISTER_FIELD_POSTCODE) &&
	    reg_ask(r, &r->postcode, "the billing address's postcode",
	        "--postcode CODE", "Postcode of the billing address: ", 0,
	        reg_norm_postcode) == -1)
		return -1;
	/* The expiry is always sent: the certificate's hash covers it. */
	if (reg_ask(r, &r->expiry, "the card's expiry date", "--expiry YYYY-MM",
	        "Expiry date (MM/YY): ", 0, reg_norm_expiry) == -1)
		return -1;
	if ((r->fields & REGISTER_FIELD_CVV) &&
	    reg_ask(r, &r->cvv, "the card's security code (CVV)", "--cvv CODE",
	        "Security code (CVV, on the back of the card): ", 1,
	        reg_norm_cvv) == -1)
		return -1;
	return 0;
}

/*
 * A failed step of the registration, told as what happened and what to do.
 * The CA client's own words are kept (in r->err already); a failure the
 * session tells completely (CACLIENT_OK) is left as it is.
 */
static int
reg_failed(struct reg *r)
{
	char said[sizeof(r->err)];
	const char *code;

	snprintf(said, sizeof(said), "%s", r->err);
	switch (register_failure(r->s, &code)) {
	case CACLIENT_OK:
		return -1;
	case CACLIENT_UNREACHABLE:
		return reg_fail(r,
		    "%s\nNothing was registered. Check the address given "
		    "with --ca and that --root is the root certificate of "
		    "your bank's CA, then try again.",
		    said);
	case CACLIENT_REFUSED:
		if (strcmp(code, "unknown-card") == 0)
			return reg_fail(r,
			    "no bank of %s registers the card %s (%s)\nCheck "
			    "the card number and --brand; if they are right, "
			    "ask your bank whether the card can be registered.",
			    r->brand, r->masked, said);
		if (strcmp(code, "issuer-unavailable") == 0)
			return reg_fail(r,
			    "the CA cannot reach the bank that issued the "
			    "card just now (%s)\nNothing was registered; try "
			    "again later.",
			    said);
		if (strcmp(code, "unknown-brand") == 0)
			return reg_fail(r,
			    "this CA does not register %s cards (%s)\nCheck "
			    "--brand and --ca.",
			    r->brand, said);
		return reg_fail(r, "%s\nNothing was registered.", said);
	default:
		return reg_fail(r,
		    "%s\nThe CA's answer cannot be trusted, so nothing was "
		    "stored. Check that --root is your bank's root "
		    "certificate; if it is, tell the CA's operator.",
		    said);
	}
}

/* CardCInit and RegForm; then the bank and its policy are shown. */
static int
reg_form(struct reg *r)
{
	struct register_form form;
	char *clean;

	if (register_start(r->s, &form) == -1)
		return reg_failed(r);
	r->issuer = prompt_clean(form.issuer);
	r->fields = form.fields;
	printf("Card %s is issued by %s.\n", r->masked, r->issuer);
	if (form.policy != NULL && form.policy[0] != '\0') {
		clean = prompt_clean(form.policy);
		printf("%s\n", clean);
		free(clean);
	}
	fflush(stdout);
	return 0;
}

/* What each refusal means for the cardholder, and what to do. */
static const char *
reg_reject_advice(const char *code)
{
	static const struct {
		const char *code, *advice;
	} advice[] = {
		{ "wrong-cvv",
		    "the security code (CVV) is not the card's: check the "
		    "digits on the back of the card and try again" },
		{ "wrong-expiry",
		    "the expiry date is not the card's: check it on the card "
		    "and try again" },
		{ "card-expired",
		    "the card has expired: register the new card your bank "
		    "sent you" },
		{ "details-mismatch",
		    "the name or postcode does not match the bank's records: "
		    "give them as the bank knows them" },
		{ "card-blocked", "the card is blocked: call your bank" },
		{ "card-lost", "the card was reported lost: call your bank" },
		{ "card-stolen",
		    "the card was reported stolen: call your bank" },
		{ "card-closed",
		    "the card's account is closed: call your bank" },
		{ "unknown-card",
		    "the bank does not know this card: check the number" },
	};
	size_t i;

	for (i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
		if (strcmp(advice[i].code, code) == 0)
			return advice[i].advice;
	return "ask your bank why";
}

/* Tells the cardholder what was registered and where it came from. */
static void
reg_report(struct reg *r, X509 *cert)
{
	char until[32], issuer[256], *serial = setcert_serial_hex(cert);
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1 ||
	    strftime(until, sizeof(until), "%Y-%m-%d", &tm) == 0)
		snprintf(until, sizeof(until), "?");
	if (X509_NAME_get_text_by_NID(X509_get_issuer_name(cert),
	        NID_commonName, issuer, sizeof(issuer)) <= 0)
		snprintf(issuer, sizeof(issuer), "the CA");
	printf("registered %s card %s as \"%s\"\n"
	       "certificate %s from %s (CA at %s), valid until %s\n",
	    r->brand, r->masked, r->label, serial, issuer, r->ca_arg, until);
	free(serial);
}

/*
 * Stores the issued certificate (checked by the session) with the secrets
 * and the CA material the session checked.
 */
static int
reg_store(struct reg *r, struct register_result *res, struct wallet *w)
{
	const struct caclient *ca = register_ca(r->s);
	struct wallet_card card;
	int rc = -1;

	/* The card borrows everything from r, res and ca but brand and ca. */
	memset(&card, 0, sizeof(card));
	card.label = r->label;
	card.brand = xstrdup(r->brand);
	card.pan_masked = r->masked;
	card.expiry = r->expiry;
	card.issuer = r->issuer;
	card.ca = xstrdup(r->ca_arg);
	card.cert = res->cert;
	card.chain = res->chain;
	card.root = ca->p.root;
	card.crls = ca->crls;
	card.bci = ca->bci;
	card.bcilen = ca->bcilen;
	card.bci_number = ca->bci_number;
	card.pan = r->pan;
	memcpy(card.pan_secret, res->pan_secret, PAN_SECRET_LEN);
	card.key = res->key;
	if (wallet_card_add(w, &card, r->err, sizeof(r->err)) == -1)
		goto done;
	reg_report(r, res->cert);
	rc = 0;
done:
	free(card.brand);
	free(card.ca);
	OPENSSL_cleanse(card.pan_secret, sizeof(card.pan_secret));
	return rc;
}

/* CertReq with the form's answers: stored, or told why not. */
static int
reg_certreq(struct reg *r, struct wallet *w)
{
	struct register_params filled;
	struct register_result res;
	int rc;

	memset(&filled, 0, sizeof(filled));
	filled.expiry = r->expiry;
	filled.cvv = r->cvv;
	filled.name = r->name;
	filled.postcode = r->postcode;
	switch (register_finish(r->s, &filled, &res)) {
	case 0:
		rc = reg_store(r, &res, w);
		break;
	case 2:
		rc = reg_fail(r,
		    "%s refused to register card %s (%s): %s\nThe bank said: "
		    "\"%.300s\" (request %.64s). Nothing was stored.",
		    r->issuer, r->masked, res.code[0] ? res.code : "no code",
		    reg_reject_advice(res.code),
		    res.reason[0] ? res.reason : "no reason given",
		    register_request_id(r->s));
		break;
	default:
		rc = reg_failed(r);
		break;
	}
	register_result_clear(&res);
	return rc;
}

/* A label nobody in the wallet has: brand-last4, then -2, -3, ... */
static char *
reg_default_label(struct reg *r, struct wallet_card *cards, size_t n)
{
	char base[48], *label;
	size_t i;
	int k;

	snprintf(
	    base, sizeof(base), "%s-%s", r->brand, r->pan + strlen(r->pan) - 4);
	for (i = 0; base[i]; i++)
		base[i] = (char)tolower((unsigned char)base[i]);
	label = xstrdup(base);
	for (k = 2; wallet_label_taken(cards, n, label); k++) {
		free(label);
		label = xasprintf("%s-%d", base, k);
	}
	return label;
}

/* Opens the wallet and unlocks it, before anything goes to the CA. */
static struct wallet *
reg_open_wallet(struct reg *r)
{
	struct wallet *w;
	struct wallet_card *cards;
	size_t n;
	char *pass = NULL;
	int usage;

	if ((w = wallet_open(r->o->dir, r->err, sizeof(r->err))) == NULL)
		return NULL;
	if ((cards = wallet_cards(w, &n, r->err, sizeof(r->err))) == NULL)
		goto fail;
	if (r->label != NULL && wallet_label_taken(cards, n, r->label)) {
		reg_fail(r,
		    "a card labelled \"%s\" is in the wallet already: "
		    "choose another --label",
		    r->label);
		wallet_cards_free(cards, n);
		goto fail;
	}
	wallet_cards_free(cards, n);
	if (prompt_passphrase(r->o, "Wallet passphrase: ", 0, &pass, &usage,
	        r->err, sizeof(r->err)) == -1) {
		r->usage = usage;
		goto fail;
	}
	if (wallet_unlock(w, pass, r->err, sizeof(r->err)) == -1) {
		prompt_free(pass);
		goto fail;
	}
	prompt_free(pass);
	return w;
fail:
	wallet_close(w);
	return NULL;
}

static void
reg_clear(struct reg *r)
{
	register_session_free(r->s);
	free(r->host);
	prompt_free(r->pan);
	prompt_free(r->cvv);
	free(r->expiry);
	free(r->name);
	free(r->postcode);
	free(r->label);
	free(r->issuer);
}

int
registration_main(struct wallet_opts *o, int argc, char **argv)
{
	struct reg r;
	struct register_params rp;
	struct wallet *w = NULL;
	struct wallet_card *cards;
	size_t n;
	int rc = EXIT_FAIL, done;

	memset(&r, 0, sizeof(r));
	r.o = o;
	if (reg_options(&r, argc, argv, &done) == -1)
		goto done;
	if (done != -1) {
		rc = done;
		goto done;
	}
	if (reg_ask(&r, &r.pan, "the card number", "--pan NUMBER",
	        "Card number: ", 0, reg_norm_pan) == -1)
		goto done;
	pan_mask(r.pan, r.masked, sizeof(r.masked));
	/* The root is read now; nothing is sent before the wallet opens. */
	memset(&rp, 0, sizeof(rp));
	rp.host = r.host;
	rp.port = r.port;
	rp.root_file = r.root_file;
	rp.brand = r.brand;
	rp.pan = r.pan;
	rp.timeout = o->timeout;
	if ((r.s = register_session_new(&rp, r.err, sizeof(r.err))) == NULL)
		goto done;
	if ((w = reg_open_wallet(&r)) == NULL)
		goto done;
	if (r.label == NULL) {
		if ((cards = wallet_cards(w, &n, r.err, sizeof(r.err))) == NULL)
			goto done;
		r.label = reg_default_label(&r, cards, n);
		wallet_cards_free(cards, n);
	}
	if (reg_form(&r) == -1 || reg_fill_form(&r) == -1 ||
	    reg_certreq(&r, w) == -1)
		goto done;
	rc = EXIT_OK;
done:
	if (rc != EXIT_OK && r.err[0] != '\0') {
		if (r.usage)
			rc = main_usage(registration_usage, "%s", r.err);
		else
			main_error("%s", r.err);
	}
	wallet_close(w);
	reg_clear(&r);
	return rc;
}
