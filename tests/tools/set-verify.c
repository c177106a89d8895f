/*
 * set-verify: the project's own certificate checker (common/pki.c) as a
 * command, so the tests can ask it the same questions they ask the stock
 * `openssl verify`, plus the SET ones openssl cannot answer: is this
 * certificate a merchant's, a gateway's, a signature or a key-exchange key?
 *
 * Prints "OK brand=NAME" or "REFUSED: code: reason"; exits 0 or 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pki.h"
#include "setcert.h"

static const char usage[] =
    "usage: set-verify --root root.pem [--chain chain.pem] [--crl crl.pem]\n"
    "                  [--role ROLE] [--usage sign|kex|tls-server]\n"
    "                  [--brand BRAND] [--at EPOCH] [--no-crl] cert.pem\n"
    "ROLE: cardholder, merchant, gateway, cca, mca, pca, bca, rca\n";

static const struct {
	const char *name;
	unsigned type;
} roles[] = { { "cardholder", SETCERT_CARD }, { "merchant", SETCERT_MER },
	{ "gateway", SETCERT_PGWY }, { "cca", SETCERT_CCA },
	{ "mca", SETCERT_MCA }, { "pca", SETCERT_PCA }, { "bca", SETCERT_BCA },
	{ "rca", SETCERT_RCA } };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "root", 1, NULL, 'r' },
		{ "chain", 1, NULL, 'c' }, { "crl", 1, NULL, 'l' },
		{ "role", 1, NULL, 'R' }, { "usage", 1, NULL, 'u' },
		{ "brand", 1, NULL, 'b' }, { "at", 1, NULL, 'a' },
		{ "no-crl", 0, NULL, 'N' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct pki *pki = pki_new();
	STACK_OF(X509) *chain = NULL;
	const char *brand = NULL;
	unsigned want_types = 0, want_usage = 0;
	char err[512], *got_brand = NULL;
	X509 *cert;
	enum pki_result r;
	size_t i;
	int c, found;

	log_init("set-verify", 1, 0);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (pki_load_certs(pki, optarg, 1, err, sizeof(err))) {
				fprintf(stderr, "set-verify: %s\n", err);
				return 2;
			}
			break;
		case 'c':
			if ((chain = setcert_read_certs(
			         optarg, err, sizeof(err))) == NULL ||
			    pki_load_certs(pki, optarg, 0, err, sizeof(err))) {
				fprintf(stderr, "set-verify: %s\n", err);
				return 2;
			}
			break;
		case 'l':
			if (pki_load_crl(pki, optarg, err, sizeof(err))) {
				fprintf(stderr, "set-verify: %s\n", err);
				return 2;
			}
			break;
		case 'R':
			for (i = 0, found = 0;
			     i < sizeof(roles) / sizeof(roles[0]); i++)
				if (strcmp(roles[i].name, optarg) == 0) {
					want_types = roles[i].type;
					found = 1;
				}
			if (!found) {
				fputs(usage, stderr);
				return 2;
			}
			break;
		case 'u':
			if (strcmp(optarg, "sign") == 0)
				want_usage = SETCERT_SIGN;
			else if (strcmp(optarg, "kex") == 0)
				want_usage = SETCERT_KEYEX;
			else if (strcmp(optarg, "tls-server") == 0)
				want_usage = SETCERT_TLS_SERVER;
			else {
				fputs(usage, stderr);
				return 2;
			}
			break;
		case 'b':
			brand = optarg;
			break;
		case 'a':
			pki_set_time(pki, (time_t)atoll(optarg));
			break;
		case 'N':
			pki_set_crl_check(pki, 0);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	if ((cert = setcert_read_cert(argv[optind], err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "set-verify: %s\n", err);
		return 2;
	}
	r = pki_verify(pki, cert, chain, want_types, want_usage, brand,
	    &got_brand, err, sizeof(err));
	if (r == PKI_OK)
		printf("OK brand=%s\n", got_brand ? got_brand : "-");
	else
		printf("REFUSED: %s: %s\n", pki_result_code(r), err);
	free(got_brand);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	pki_free(pki);
	return r == PKI_OK ? 0 : 1;
}
