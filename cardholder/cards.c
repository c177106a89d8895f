/*
 * The cards in the wallet: `cards` lists them, `show` tells one card's
 * certificate and its status, `check` opens the secrets and proves they
 * still belong to the certificates.
 *
 * A certificate's status is computed here, offline, with the project's
 * checker (pki_verify) against what the wallet holds: the root it was
 * registered under, the chain, and the CRLs of the last exchange with the
 * CA. `show --refresh` first fetches the brand's current BCI and the CRLs it
 * names from the CA (common/caclient.c checks them: the BCI signed by the
 * brand CA, each CRL's SHA-256 the one the BCI names, no CRL older than one
 * held), stores them, and so learns about a revocation. Listing and showing
 * need no passphrase: nothing secret is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>

#include "caclient.h"
#include "pan.h"
#include "pki.h"
#include "setcert.h"
#include "wallet.h"
#include "xmalloc.h"

const char cards_list_usage[] =
    "usage: set-wallet cards [-w DIR]\n"
    "\n"
    "Lists the cards in the wallet: number (for `show`), label, brand, the\n"
    "masked card number, its expiry, and the certificate's status as the\n"
    "CRLs held know it (`show CARD --refresh` fetches current ones).\n"
    "No passphrase is needed.\n";

const char cards_show_usage[] =
    "usage: set-wallet show CARD [--refresh] [-w DIR] [--timeout SECONDS]\n"
    "\n"
    "Shows a card (CARD is its label or its number in `set-wallet cards`):\n"
    "its certificate's subject, serial, issuer and validity, and its status:\n"
    "valid, revoked, expired, or unknown when the CRLs held are out of date.\n"
    "\n"
    "  --refresh   first fetch the brand's current CRL list (BCI) and CRLs\n"
    "              from the CA the card was registered with, check and keep\n"
    "              them\n"
    "\n"
    "No passphrase is needed.\n";

const char cards_check_usage[] =
    "usage: set-wallet check [CARD] [-w DIR] [--passphrase-file FILE |\n"
    "                        --passphrase-fd N]\n"
    "\n"
    "Opens the secrets of every card (or of CARD) with the passphrase and\n"
    "checks them: the private key is the certificate's, and the certificate\n"
    "names this card (its name is the keyed hash of the card number, expiry\n"
    "and PANSecret). Also a way to test a passphrase.\n";

enum cards_state {
	CARDS_VALID,
	CARDS_REVOKED,
	CARDS_EXPIRED,
	CARDS_NOT_YET_VALID,
	CARDS_UNKNOWN, /* the CRLs held are out of date */
	CARDS_INVALID
};

struct cards_status {
	enum cards_state state;
	char word[64]; /* for the list */
	char text[512]; /* for show */
};

static void
cards_asn1_time(const ASN1_TIME *t, char *buf, size_t len, int with_time)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, len, with_time ? "%Y-%m-%d %H:%M UTC" : "%Y-%m-%d",
	        &tm) == 0)
		snprintf(buf, len, "?");
}

static void
cards_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, len, "never");
}

static const char *
cards_reason_name(int code)
{
	static const char *const names[] = { "unspecified", "keyCompromise",
		"caCompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "7", "removeFromCRL",
		"privilegeWithdrawn", "aaCompromise" };

	if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
		return "unspecified";
	return names[code];
}

/* The CRL entry that revokes cert, told as "on DATE (reason)". */
static int
cards_revocation(struct wallet_card *c, char *buf, size_t len)
{
	X509_REVOKED *rev;
	ASN1_ENUMERATED *reason;
	char when[40];
	int i, code = 0;

	for (i = 0; i < sk_X509_CRL_num(c->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(c->crls, i);

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
		        X509_get_issuer_name(c->cert)) != 0 ||
		    X509_CRL_get0_by_serial(
		        crl, &rev, X509_get0_serialNumber(c->cert)) != 1)
			continue;
		reason =
		    X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
		if (reason != NULL) {
			code = (int)ASN1_ENUMERATED_get(reason);
			ASN1_ENUMERATED_free(reason);
		}
		cards_asn1_time(X509_REVOKED_get0_revocationDate(rev), when,
		    sizeof(when), 1);
		snprintf(buf, len, "on %s (%s)", when, cards_reason_name(code));
		return 0;
	}
	return -1;
}

/* The certificate's status now, from what the wallet holds. */
static void
cards_status(struct wallet_card *c, struct cards_status *s)
{
	struct pki *pki = pki_new();
	char err[256], day[32], more[128];
	enum pki_result r;
	time_t now = time(NULL);
	int i;

	memset(s, 0, sizeof(*s));
	if (X509_cmp_time(X509_get0_notAfter(c->cert), &now) < 0) {
		cards_asn1_time(
		    X509_get0_notAfter(c->cert), day, sizeof(day), 0);
		s->state = CARDS_EXPIRED;
		snprintf(s->word, sizeof(s->word), "expired %s", day);
		snprintf(s->text, sizeof(s->text),
		    "expired on %s: register the card again for a new "
		    "certificate",
		    day);
		goto done;
	}
	if (X509_cmp_time(X509_get0_notBefore(c->cert), &now) > 0) {
		s->state = CARDS_NOT_YET_VALID;
		snprintf(s->word, sizeof(s->word), "not yet valid");
		snprintf(s->text, sizeof(s->text),
		    "not yet valid (check this computer's clock)");
		goto done;
	}
	pki_add_trusted(pki, c->root);
	for (i = 0; i < sk_X509_num(c->chain); i++)
		pki_add_ca(pki, sk_X509_value(c->chain, i));
	for (i = 0; i < sk_X509_CRL_num(c->crls); i++)
		pki_set_crl(
		    pki, sk_X509_CRL_value(c->crls, i), err, sizeof(err));
	r = pki_verify(pki, c->cert, c->chain, SETCERT_CARD, SETCERT_SIGN,
	    c->brand, NULL, err, sizeof(err));
	switch (r) {
	case PKI_OK:
		cards_asn1_time(
		    X509_get0_notAfter(c->cert), day, sizeof(day), 0);
		s->state = CARDS_VALID;
		snprintf(s->word, sizeof(s->word), "valid until %s", day);
		snprintf(s->text, sizeof(s->text), "valid");
		break;
	case PKI_ERR_REVOKED:
		s->state = CARDS_REVOKED;
		snprintf(s->word, sizeof(s->word), "REVOKED");
		if (cards_revocation(c, more, sizeof(more)) == 0)
			snprintf(s->text, sizeof(s->text),
			    "revoked %s: the card cannot pay with this "
			    "certificate; ask your bank, then register the "
			    "card again",
			    more);
		else
			snprintf(s->text, sizeof(s->text),
			    "revoked: a CA above it is revoked (%s)", err);
		break;
	case PKI_ERR_CRL:
		s->state = CARDS_UNKNOWN;
		snprintf(s->word, sizeof(s->word), "unknown (old CRLs)");
		snprintf(s->text, sizeof(s->text),
		    "unknown: the CRLs held are out of date; run `set-wallet "
		    "show %s --refresh`",
		    c->label);
		break;
	case PKI_ERR_EXPIRED:
		s->state = CARDS_EXPIRED;
		snprintf(s->word, sizeof(s->word), "expired (its CA)");
		snprintf(s->text, sizeof(s->text), "expired: %s", err);
		break;
	default:
		s->state = CARDS_INVALID;
		snprintf(s->word, sizeof(s->word), "INVALID");
		snprintf(s->text, sizeof(s->text), "invalid: %s: %s",
		    pki_result_code(r), err);
	}
done:
	pki_free(pki);
}

/* Opens the wallet and reads its cards; exit status on failure, else -1. */
static int
cards_load(struct wallet_opts *o, struct wallet **w, struct wallet_card **cards,
    size_t *n)
{
	char err[512];

	*cards = NULL;
	*n = 0;
	if ((*w = wallet_open(o->dir, err, sizeof(err))) == NULL ||
	    (*cards = wallet_cards(*w, n, err, sizeof(err))) == NULL) {
		main_error("%s", err);
		wallet_close(*w);
		*w = NULL;
		return EXIT_FAIL;
	}
	return -1;
}

int
cards_list_main(struct wallet_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	struct wallet *w = NULL;
	struct wallet_card *cards = NULL;
	struct cards_status s;
	size_t n, i;
	int c, rc;

	if ((rc = main_getopt(o, argc, argv, cards_list_usage, longopts, &c)) !=
	    -1)
		return rc;
	if (optind < argc)
		return main_usage(cards_list_usage,
		    "unexpected argument \"%s\" (`show CARD` shows one card)",
		    argv[optind]);
	if ((rc = cards_load(o, &w, &cards, &n)) != -1)
		return rc;
	if (n == 0)
		printf("No cards in the wallet at %s yet: add one with "
		       "`set-wallet register`.\n",
		    o->dir);
	else
		printf("%-3s %-20s %-10s %-19s %-7s  %s\n", "#", "LABEL",
		    "BRAND", "CARD", "EXPIRES", "CERTIFICATE");
	for (i = 0; i < n; i++) {
		cards_status(&cards[i], &s);
		printf("%-3d %-20s %-10s %-19s %-7s  %s\n", cards[i].index,
		    cards[i].label, cards[i].brand, cards[i].pan_masked,
		    cards[i].expiry, s.word);
	}
	wallet_cards_free(cards, n);
	wallet_close(w);
	return EXIT_OK;
}

/* Fetches the brand's current CRLs for c from its CA and keeps them. */
static int
cards_refresh(struct wallet_opts *o, struct wallet *w, struct wallet_card *c,
    char *err, size_t errlen)
{
	struct caclient cc;
	struct caclient_params cp;
	char *host = NULL, *colon;
	int i, rc = -1;

	memset(&cc, 0, sizeof(cc));
	if ((colon = strrchr(c->ca, ':')) == NULL) {
		snprintf(err, errlen,
		    "the CA address \"%s\" of card %s is "
		    "not HOST:PORT",
		    c->ca, c->label);
		return -1;
	}
	host = xstrndup(c->ca, (size_t)(colon - c->ca));
	memset(&cp, 0, sizeof(cp));
	cp.host = host;
	cp.port = atoi(colon + 1);
	cp.timeout = o->timeout;
	cp.root = c->root;
	cp.brand = c->brand;
	if (caclient_init(&cc, &cp, err, errlen) == -1)
		goto done;
	for (i = 0; i < sk_X509_num(c->chain); i++)
		caclient_add_ca(&cc, sk_X509_value(c->chain, i));
	/* What we hold first: the CA may not roll us back to older CRLs. */
	for (i = 0; i < sk_X509_CRL_num(c->crls); i++)
		caclient_add_crl(&cc, sk_X509_CRL_value(c->crls, i));
	if (caclient_refresh(&cc) == -1) {
		if (cc.failure == CACLIENT_UNREACHABLE)
			snprintf(err + strlen(err), errlen - strlen(err),
			    "\nNothing was changed. Check that the CA is "
			    "running, then try again.");
		else
			snprintf(err + strlen(err), errlen - strlen(err),
			    "\nThe CRLs from the CA cannot be trusted; the "
			    "wallet keeps the ones it had.");
		goto done;
	}
	if (cc.bci_number < c->bci_number) {
		snprintf(err, errlen,
		    "the CA sent an older CRL list (number %lld) than the one "
		    "the wallet holds (number %lld); the wallet keeps its "
		    "own",
		    cc.bci_number, c->bci_number);
		goto done;
	}
	sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
	c->crls = cc.crls;
	cc.crls = NULL;
	free(c->bci);
	c->bci = cc.bci;
	c->bcilen = cc.bcilen;
	cc.bci = NULL;
	c->bci_number = cc.bci_number;
	rc = wallet_card_set_crls(w, c, err, errlen);
done:
	caclient_clear(&cc);
	free(host);
	return rc;
}

/* A name as one RFC 2253 line, xmalloc'd. */
static char *
cards_name(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	if (b == NULL)
		return xstrdup("?");
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &p);
	out = xstrndup(p, (size_t)len);
	BIO_free(b);
	return out;
}

static void
cards_print(struct wallet_card *c)
{
	struct cards_status s;
	char *subject = setcert_subject(c->cert);
	char *serial = setcert_serial_hex(c->cert);
	char *issuer = cards_name(X509_get_issuer_name(c->cert));
	char from[40], until[40], created[40], refreshed[40];

	cards_status(c, &s);
	cards_asn1_time(X509_get0_notBefore(c->cert), from, sizeof(from), 1);
	cards_asn1_time(X509_get0_notAfter(c->cert), until, sizeof(until), 1);
	cards_time(c->created, created, sizeof(created));
	cards_time(c->refreshed, refreshed, sizeof(refreshed));
	printf("card          %s\n"
	       "label         %s (#%d)\n"
	       "brand         %s\n"
	       "expires       %s\n"
	       "issued by     %s\n"
	       "registered    %s with the CA at %s\n"
	       "certificate\n"
	       "  subject     %s\n"
	       "  serial      %s\n"
	       "  issuer      %s\n"
	       "  valid from  %s\n"
	       "  valid until %s\n"
	       "status        %s\n"
	       "CRLs          as of %s (the brand's CRL list number %lld)\n",
	    c->pan_masked, c->label, c->index, c->brand, c->expiry, c->issuer,
	    created, c->ca, subject, serial, issuer, from, until, s.text,
	    refreshed, c->bci_number);
	free(subject);
	free(serial);
	free(issuer);
}

int
cards_show_main(struct wallet_opts *o, int argc, char **argv)
{
	enum { OPT_REFRESH = OPT_FIRST_FREE };
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ "refresh", 0, NULL, OPT_REFRESH }, { NULL, 0, NULL, 0 } };
	struct wallet *w = NULL;
	struct wallet_card *cards = NULL, *c;
	size_t n;
	char err[1024];
	int ch, rc, refresh = 0;

	while ((rc = main_getopt(
	            o, argc, argv, cards_show_usage, longopts, &ch)) == -1 &&
	    ch == OPT_REFRESH)
		refresh = 1;
	if (rc != -1)
		return rc;
	if (optind >= argc)
		return main_usage(cards_show_usage,
		    "which card? give its label or its number from "
		    "`set-wallet cards`");
	if (optind + 1 < argc)
		return main_usage(cards_show_usage,
		    "one card at a time (\"%s\" is one too many)",
		    argv[optind + 1]);
	if ((rc = cards_load(o, &w, &cards, &n)) != -1)
		return rc;
	rc = EXIT_FAIL;
	if ((c = wallet_card_find(cards, n, argv[optind], err, sizeof(err))) ==
	    NULL) {
		main_error("%s", err);
		goto done;
	}
	if (refresh && cards_refresh(o, w, c, err, sizeof(err)) == -1) {
		main_error("%s", err);
		goto done;
	}
	cards_print(c);
	rc = EXIT_OK;
done:
	wallet_cards_free(cards, n);
	wallet_close(w);
	return rc;
}

/* Opens c's secrets and checks them against its certificate. */
static int
cards_check_one(struct wallet *w, struct wallet_card *c)
{
	char err[512], want[65], cn[256], masked[24];

	if (wallet_card_unseal(w, c, err, sizeof(err)) == -1) {
		main_error("%s", err);
		return -1;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(c->cert), c->key) != 1) {
		main_error("card %s: the private key is not the certificate's",
		    c->label);
		return -1;
	}
	pan_mask(c->pan, masked, sizeof(masked));
	if (pan_cert_hash(c->pan_secret, c->pan, c->expiry, want) == -1 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(c->cert),
	        NID_commonName, cn, sizeof(cn)) <= 0 ||
	    strcmp(cn, want) != 0 || strcmp(masked, c->pan_masked) != 0) {
		main_error("card %s: the certificate does not name this card "
		           "(the hash of its number, expiry and PANSecret "
		           "differs)",
		    c->label);
		return -1;
	}
	printf("%s: %s: the key and the card number match the certificate "
	       "(CN %s)\n",
	    c->label, c->pan_masked, want);
	return 0;
}

int
cards_check_main(struct wallet_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	struct wallet *w = NULL;
	struct wallet_card *cards = NULL, *c;
	size_t n, i;
	char err[1024], *pass = NULL;
	int ch, rc, usage, bad = 0;

	if ((rc = main_getopt(
	         o, argc, argv, cards_check_usage, longopts, &ch)) != -1)
		return rc;
	if (optind + 1 < argc)
		return main_usage(cards_check_usage,
		    "one card at a time (\"%s\" is one too many)",
		    argv[optind + 1]);
	if ((rc = cards_load(o, &w, &cards, &n)) != -1)
		return rc;
	rc = EXIT_FAIL;
	c = NULL;
	if (optind < argc &&
	    (c = wallet_card_find(cards, n, argv[optind], err, sizeof(err))) ==
	        NULL) {
		main_error("%s", err);
		goto done;
	}
	if (prompt_passphrase(o, "Wallet passphrase: ", 0, &pass, &usage, err,
	        sizeof(err)) == -1) {
		rc = usage ? main_usage(cards_check_usage, "%s", err)
		           : (main_error("%s", err), EXIT_FAIL);
		goto done;
	}
	if (wallet_unlock(w, pass, err, sizeof(err)) == -1) {
		main_error("%s", err);
		goto done;
	}
	if (c != NULL)
		bad = cards_check_one(w, c) == -1;
	else
		for (i = 0; i < n; i++)
			bad += cards_check_one(w, &cards[i]) == -1;
	if (n == 0)
		printf("the passphrase opens the wallet; it holds no card "
		       "yet\n");
	rc = bad ? EXIT_FAIL : EXIT_OK;
done:
	prompt_free(pass);
	wallet_cards_free(cards, n);
	wallet_close(w);
	return rc;
}
