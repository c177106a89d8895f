/*
 * `set-wallet register`: SET cardholder registration (SET Book 2), the
 * wallet's side. The CA is reached and checked through common/caclient.c,
 * exactly as merchants and gateways check it when they enroll.
 *
 *	CardCInitReq -> CardCInitRes	learn and check the brand's Cardholder
 *					CA: its chain to our root, its
 *					key-exchange certificate, the current
 *					CRLs named in the brand's signed BCI
 *	RegFormReq -> RegFormRes	the card number, sealed to the CA (and
 *					unsigned: we hold no key yet); the
 *					answer is the issuing bank's form: what
 *					it wants to know to recognise its
 *					cardholder
 *	CertReq -> CertRes		the filled form, a fresh signature key
 *					(PKCS#10) and CardSecret, signed with
 *					that key and sealed to the CA; the
 *					answer is the certificate and NonceCCA,
 *					or the bank's refusal
 *
 * PAN blinding: PANSecret = CardSecret XOR NonceCCA, and the certificate's
 * subject CN is pan_cert_hash(PANSecret, PAN, expiry), never the card
 * number. The wallet checks all of it before it stores anything: the chain,
 * role, usage and brand of the certificate, that it carries our key, that
 * its CN is the hash we compute, and that its DER holds no card number.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "caclient.h"
#include "hex.h"
#include "msg.h"
#include "pan.h"
#include "pki.h"
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

/* The fields an issuer's form may ask for. */
enum { FIELD_NAME = 1, FIELD_POSTCODE = 2, FIELD_EXPIRY = 4, FIELD_CVV = 8 };

struct reg {
	struct wallet_opts *o;
	const char *ca_arg; /* HOST:PORT as given */
	char *host;
	int port;
	const char *root_file;
	const char *brand;
	char *pan, *expiry, *cvv, *name, *postcode, *label;
	char masked[24];
	struct caclient cc;
	/* From the form. */
	char *issuer;
	char *form_id;
	unsigned fields;
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
	return pan_expiry_ok(buf) ? xstrdup(buf) : NULL;
}

static int
reg_cvv_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 3 || n > 4)
		return 0;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Printable text of 1 to max characters (a name, a postcode). */
static int
reg_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	const unsigned char *p;

	if (n == 0 || n > max)
		return 0;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
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
	if (r->cvv != NULL && !reg_cvv_ok(r->cvv))
		return reg_usage(r,
		    "--cvv: expected the 3 or 4 digits of the "
		    "card's security code");
	if (r->name != NULL && !reg_text_ok(r->name, 64))
		return reg_usage(r, "--name: 1 to 64 printable characters");
	if (r->postcode != NULL && !reg_text_ok(r->postcode, 16))
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
	return reg_cvv_ok(s) ? xstrdup(s) : NULL;
}

static char *
reg_norm_name(const char *s)
{
	return reg_text_ok(s, 64) ? xstrdup(s) : NULL;
}

static char *
reg_norm_postcode(const char *s)
{
	return reg_text_ok(s, 16) ? xstrdup(s) : NULL;
}

/* The answers to the bank's form: from the options, else the terminal. */
static int
reg_fill_form(struct reg *r)
{
	if ((r->fields & FIELD_NAME) &&
	    reg_ask(r, &r->name, "the cardholder's name", "--name NAME",
	        "Cardholder name (as on the card): ", 0, reg_norm_name) == -1)
		return -1;
	if ((r->fields & FIELD_POSTCODE) &&
	    reg_ask(r, &r->postcode, "the billing address's postcode",
	        "--postcode CODE", "Postcode of the billing address: ", 0,
	        reg_norm_postcode) == -1)
		return -1;
	/* The expiry is always sent: the certificate's hash covers it. */
	if (reg_ask(r, &r->expiry, "the card's expiry date", "--expiry YYYY-MM",
	        "Expiry date (MM/YY): ", 0, reg_norm_expiry) == -1)
		return -1;
	if ((r->fields & FIELD_CVV) &&
	    reg_ask(r, &r->cvv, "the card's security code (CVV)", "--cvv CODE",
	        "Security code (CVV, on the back of the card): ", 1,
	        reg_norm_cvv) == -1)
		return -1;
	return 0;
}

/*
 * A failed exchange, told as what happened and what to do. The CA's own
 * words are kept (in r->err already, from caclient).
 */
static int
reg_ca_failed(struct reg *r)
{
	char said[sizeof(r->err)];

	snprintf(said, sizeof(said), "%s", r->err);
	switch (r->cc.failure) {
	case CACLIENT_UNREACHABLE:
		return reg_fail(r,
		    "%s\nNothing was registered. Check the address given "
		    "with --ca and that --root is the root certificate of "
		    "your bank's CA, then try again.",
		    said);
	case CACLIENT_REFUSED:
		if (strcmp(r->cc.code, "unknown-card") == 0)
			return reg_fail(r,
			    "no bank of %s registers the card %s (%s)\nCheck "
			    "the card number and --brand; if they are right, "
			    "ask your bank whether the card can be registered.",
			    r->brand, r->masked, said);
		if (strcmp(r->cc.code, "issuer-unavailable") == 0)
			return reg_fail(r,
			    "the CA cannot reach the bank that issued the "
			    "card just now (%s)\nNothing was registered; try "
			    "again later.",
			    said);
		if (strcmp(r->cc.code, "unknown-brand") == 0)
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

/* CardCInitReq -> CardCInitRes: the Cardholder CA and its material. */
static int
reg_card_init(struct reg *r)
{
	json_t *body = json_pack("{s:s}", "brand", r->brand);
	char *wire = NULL, *rrpid = hex_random(20);
	size_t len;
	struct msg m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (msg_build("CardCInitReq", rrpid, body, NULL, NULL, NULL, NULL,
	        &wire, &len, r->err, sizeof(r->err)) == -1)
		goto done;
	if (caclient_exchange(&r->cc, wire, len, "CardCInitRes", rrpid, &m) ==
	        -1 ||
	    caclient_take_material(&r->cc, &m) == -1 ||
	    caclient_check_signer(&r->cc, &m, SETCERT_CCA, "cardholder") ==
	        -1 ||
	    caclient_check_kex(&r->cc, SETCERT_CCA) == -1) {
		reg_ca_failed(r);
		goto done;
	}
	rc = 0;
done:
	msg_clear(&m);
	json_decref(body);
	free(wire);
	free(rrpid);
	return rc;
}

/* The form's fields; -1 when it asks what this wallet cannot give. */
static int
reg_form_fields(struct reg *r, json_t *fields)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = { { "name", FIELD_NAME }, { "postcode", FIELD_POSTCODE },
		{ "expiry", FIELD_EXPIRY }, { "cvv", FIELD_CVV } };
	size_t i, j;
	json_t *v;

	if (!json_is_array(fields))
		return reg_fail(r,
		    "the bank's form (RegFormRes) lists no "
		    "fields; nothing was registered");
	json_array_foreach(fields, i, v)
	{
		const char *f = json_string_value(v);

		for (j = 0; f != NULL && j < sizeof(known) / sizeof(known[0]);
		     j++)
			if (strcmp(f, known[j].name) == 0)
				break;
		if (f == NULL || j == sizeof(known) / sizeof(known[0]))
			return reg_fail(r,
			    "the bank's form asks for \"%.32s\", which this "
			    "wallet does not know how to fill; nothing was "
			    "registered",
			    f ? f : "?");
		r->fields |= known[j].bit;
	}
	return 0;
}

/* RegFormReq -> RegFormRes: the bank's form for this card. */
static int
reg_form(struct reg *r)
{
	json_t *body =
	    json_pack("{s:s, s:s}", "brand", r->brand, "pan", r->pan);
	char *wire = NULL, *rrpid = hex_random(20), *clean;
	const char *issuer, *form_id, *policy, *brand;
	size_t len;
	struct msg m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	/* Sealed to the CA's key-exchange certificate; unsigned, as in SET:
	 * the cardholder holds no key yet. */
	if (msg_build("RegFormReq", rrpid, body, NULL, NULL, NULL, r->cc.ca_kex,
	        &wire, &len, r->err, sizeof(r->err)) == -1)
		goto done;
	if (caclient_exchange(&r->cc, wire, len, "RegFormRes", rrpid, &m) ==
	        -1 ||
	    caclient_check_signer(&r->cc, &m, SETCERT_CCA, "cardholder") ==
	        -1) {
		reg_ca_failed(r);
		goto done;
	}
	brand = json_string_value(json_object_get(m.json, "brand"));
	issuer = json_string_value(json_object_get(m.json, "issuer"));
	form_id = json_string_value(json_object_get(m.json, "form_id"));
	policy = json_string_value(json_object_get(m.json, "policy"));
	if (brand == NULL || strcmp(brand, r->brand) != 0 || issuer == NULL ||
	    form_id == NULL || form_id[0] == '\0' || strlen(form_id) > 128 ||
	    strspn(form_id, "0123456789abcdef") != strlen(form_id)) {
		reg_fail(r,
		    "the bank's form (RegFormRes) lacks its brand, issuer or "
		    "form id; nothing was registered");
		goto done;
	}
	if (reg_form_fields(r, json_object_get(m.json, "fields")) == -1)
		goto done;
	r->issuer = prompt_clean(issuer);
	r->form_id = xstrdup(form_id);
	printf("Card %s is issued by %s.\n", r->masked, r->issuer);
	if (policy != NULL && policy[0] != '\0') {
		clean = prompt_clean(policy);
		printf("%s\n", clean);
		free(clean);
	}
	fflush(stdout);
	rc = 0;
done:
	msg_clear(&m);
	json_decref(body);
	if (wire != NULL)
		freezero_buf(wire, strlen(wire));
	free(rrpid);
	return rc;
}

/* A throwaway self-signed certificate for our new signature key: CMS
 * needs a certificate to sign with, and the CA checks only its key. */
static X509 *
reg_self_cert(struct reg *r, EVP_PKEY *key)
{
	struct setcert_spec s;
	time_t now = time(NULL);

	memset(&s, 0, sizeof(s));
	s.pubkey = key;
	s.issuer_key = key;
	s.cn = "cardholder";
	s.ou = "registration request";
	s.usage = SETCERT_SIGN;
	s.pathlen = -1;
	s.not_before = now - 300;
	s.not_after = now + 3600;
	return setcert_issue(&s, r->err, sizeof(r->err));
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

/* A memmem() for the PAN check (memmem is a GNU extension). */
static int
reg_contains(const unsigned char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; k > 0 && i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return 1;
	return 0;
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
 * The issued certificate: everything about it checked, then stored with
 * the secrets. card_secret is ours; the response carries NonceCCA.
 */
static int
reg_take_cert(struct reg *r, struct msg *m, EVP_PKEY *key,
    const unsigned char card_secret[PAN_SECRET_LEN], struct wallet *w)
{
	const char *nonce_hex =
	    json_string_value(json_object_get(m->json, "nonce_cca"));
	unsigned char nonce[PAN_SECRET_LEN], *der = NULL;
	size_t derlen = 0, i;
	char want[65], cn[256], pkierr[256];
	struct wallet_card card;
	X509 *cert = NULL;
	int rc = -1;

	memset(&card, 0, sizeof(card));
	if (caclient_take_material(&r->cc, m) == -1 ||
	    caclient_check_signer(&r->cc, m, SETCERT_CCA, "cardholder") == -1) {
		reg_ca_failed(r);
		goto done;
	}
	if (nonce_hex == NULL || strlen(nonce_hex) != 2 * PAN_SECRET_LEN ||
	    hex_decode(nonce_hex, nonce, sizeof(nonce)) == -1) {
		reg_fail(r,
		    "the CA's CertRes has no valid NonceCCA; nothing "
		    "was stored");
		goto done;
	}
	for (i = 0; i < PAN_SECRET_LEN; i++)
		card.pan_secret[i] = card_secret[i] ^ nonce[i];
	cert = caclient_b64_cert(
	    json_object_get(json_object_get(m->json, "certs"), "sig"));
	if (cert == NULL) {
		reg_fail(r,
		    "the certificate in the CA's CertRes does not "
		    "parse; nothing was stored");
		goto done;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		reg_fail(r,
		    "the certificate the CA issued does not carry our "
		    "key; nothing was stored");
		goto done;
	}
	if (pki_verify(r->cc.pki, cert, r->cc.ca_certs, SETCERT_CARD,
	        SETCERT_SIGN, r->brand, NULL, pkierr,
	        sizeof(pkierr)) != PKI_OK) {
		reg_fail(r,
		    "the certificate the CA issued does not verify as a %s "
		    "cardholder's: %s; nothing was stored",
		    r->brand, pkierr);
		goto done;
	}
	/* PAN blinding: the CN is the keyed hash, never the number. */
	if (pan_cert_hash(card.pan_secret, r->pan, r->expiry, want) == -1 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	        NID_commonName, cn, sizeof(cn)) <= 0 ||
	    strcmp(cn, want) != 0) {
		reg_fail(r,
		    "the certificate the CA issued is not bound to this card "
		    "(its name is not the hash of the card number, expiry "
		    "and PANSecret); nothing was stored");
		goto done;
	}
	der = setcert_der(cert, &derlen);
	if (reg_contains(der, derlen, r->pan)) {
		reg_fail(r,
		    "the certificate the CA issued contains the card "
		    "number; refused, nothing was stored");
		goto done;
	}

	/* The card borrows everything from r but brand and ca. */
	card.label = r->label;
	card.brand = xstrdup(r->brand);
	card.pan_masked = r->masked;
	card.expiry = r->expiry;
	card.issuer = r->issuer;
	card.ca = xstrdup(r->ca_arg);
	card.cert = cert;
	card.chain = r->cc.ca_certs;
	card.root = r->cc.p.root;
	card.crls = r->cc.crls;
	card.bci = r->cc.bci;
	card.bcilen = r->cc.bcilen;
	card.bci_number = r->cc.bci_number;
	card.pan = r->pan;
	card.key = key;
	if (wallet_card_add(w, &card, r->err, sizeof(r->err)) == -1)
		goto done;
	reg_report(r, cert);
	rc = 0;
done:
	free(der);
	free(card.brand);
	free(card.ca);
	X509_free(cert);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	OPENSSL_cleanse(card.pan_secret, sizeof(card.pan_secret));
	return rc;
}

/* CertReq -> CertRes: the form, our key and CardSecret. */
static int
reg_certreq(struct reg *r, struct wallet *w)
{
	unsigned char card_secret[PAN_SECRET_LEN], *csrder = NULL;
	size_t csrlen, len;
	char *secret_hex = NULL, *csr_b64 = NULL, *wire = NULL;
	char *rrpid = hex_random(20);
	const char *status, *id, *code, *reason;
	EVP_PKEY *key = setcert_keygen();
	X509_REQ *csr = NULL;
	X509 *self = NULL;
	json_t *body = NULL;
	struct msg m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (RAND_bytes(card_secret, sizeof(card_secret)) != 1) {
		reg_fail(r, "cannot make CardSecret: no randomness");
		goto done;
	}
	if ((csr = setcert_csr_new(
	         key, "cardholder", r->err, sizeof(r->err))) == NULL ||
	    (self = reg_self_cert(r, key)) == NULL)
		goto done;
	csrder = setcert_csr_der(csr, &csrlen);
	csr_b64 = base64_encode(csrder, csrlen);
	secret_hex = hex_encode(card_secret, sizeof(card_secret));
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "role",
	    "cardholder", "brand", r->brand, "form_id", r->form_id, "pan",
	    r->pan, "expiry", r->expiry, "card_secret", secret_hex, "sig_csr",
	    csr_b64);
	if (r->fields & FIELD_NAME)
		json_object_set_new(body, "name", json_string(r->name));
	if (r->fields & FIELD_POSTCODE)
		json_object_set_new(body, "postcode", json_string(r->postcode));
	if (r->fields & FIELD_CVV)
		json_object_set_new(body, "cvv", json_string(r->cvv));
	if (msg_build("CertReq", rrpid, body, self, key, NULL, r->cc.ca_kex,
	        &wire, &len, r->err, sizeof(r->err)) == -1)
		goto done;
	if (caclient_exchange(&r->cc, wire, len, "CertRes", rrpid, &m) == -1) {
		reg_ca_failed(r);
		goto done;
	}
	/* Judge the signer before believing even a refusal. */
	if (caclient_check_signer(&r->cc, &m, SETCERT_CCA, "cardholder") ==
	    -1) {
		reg_ca_failed(r);
		goto done;
	}
	status = json_string_value(json_object_get(m.json, "status"));
	id = json_string_value(json_object_get(m.json, "request_id"));
	if (status == NULL || id == NULL) {
		reg_fail(r, "the CA's CertRes lacks status or request_id");
		goto done;
	}
	if (strcmp(status, "rejected") == 0) {
		code = json_string_value(json_object_get(m.json, "code"));
		reason = json_string_value(json_object_get(m.json, "reason"));
		reg_fail(r,
		    "%s refused to register card %s (%s): %s\nThe bank said: "
		    "\"%.300s\" (request %.64s). Nothing was stored.",
		    r->issuer, r->masked, code ? code : "no code",
		    reg_reject_advice(code ? code : ""),
		    reason ? reason : "no reason given", id);
		goto done;
	}
	if (strcmp(status, "issued") != 0) {
		reg_fail(r,
		    "the CA answered \"%.32s\" for request %.64s; this "
		    "wallet can only take a certificate issued at once. "
		    "Nothing was stored: ask your bank.",
		    status, id);
		goto done;
	}
	rc = reg_take_cert(r, &m, key, card_secret, w);
done:
	msg_clear(&m);
	json_decref(body);
	OPENSSL_cleanse(card_secret, sizeof(card_secret));
	if (secret_hex != NULL)
		freezero_buf(secret_hex, strlen(secret_hex));
	if (wire != NULL)
		freezero_buf(wire, strlen(wire));
	free(csr_b64);
	free(csrder);
	free(rrpid);
	X509_REQ_free(csr);
	X509_free(self);
	EVP_PKEY_free(key);
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
	caclient_clear(&r->cc);
	free(r->host);
	prompt_free(r->pan);
	prompt_free(r->cvv);
	free(r->expiry);
	free(r->name);
	free(r->postcode);
	free(r->label);
	free(r->issuer);
	free(r->form_id);
}

int
registration_main(struct wallet_opts *o, int argc, char **argv)
{
	struct reg r;
	struct caclient_params cp;
	struct wallet *w = NULL;
	struct wallet_card *cards;
	X509 *root = NULL;
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
	if ((root = setcert_read_cert(r.root_file, r.err, sizeof(r.err))) ==
	    NULL)
		goto done;
	if ((w = reg_open_wallet(&r)) == NULL)
		goto done;
	if (r.label == NULL) {
		if ((cards = wallet_cards(w, &n, r.err, sizeof(r.err))) == NULL)
			goto done;
		r.label = reg_default_label(&r, cards, n);
		wallet_cards_free(cards, n);
	}
	memset(&cp, 0, sizeof(cp));
	cp.host = r.host;
	cp.port = r.port;
	cp.timeout = o->timeout;
	cp.root = root;
	cp.brand = r.brand;
	if (caclient_init(&r.cc, &cp, r.err, sizeof(r.err)) == -1 ||
	    reg_card_init(&r) == -1 || reg_form(&r) == -1 ||
	    reg_fill_form(&r) == -1 || reg_certreq(&r, w) == -1)
		goto done;
	rc = EXIT_OK;
done:
	if (rc != EXIT_OK && r.err[0] != '\0') {
		if (r.usage)
			rc = main_usage(registration_usage, "%s", r.err);
		else
			main_error("%s", r.err);
	}
	X509_free(root);
	wallet_close(w);
	reg_clear(&r);
	return rc;
}
