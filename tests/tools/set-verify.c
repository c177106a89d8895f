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

#include "crlfetch.h"
#include "log.h"
#include "pki.h"
#include "setcert.h"
#include "tls.h"

static const char usage[] =
    "usage: set-verify --root root.pem [--chain chain.pem] [--crl crl.pem]\n"
    "                  [--role ROLE] [--usage sign|kex|tls-server]\n"
    "                  [--brand BRAND] [--at EPOCH] [--no-crl]\n"
    "                  [--fetch HOST:PORT] cert.pem\n"
    "--fetch learns the brand's CA certificates and current CRLs from the CA\n"
    "(common/crlfetch.c) instead of --chain/--crl files; needs --brand.\n"
    "ROLE: cardholder, merchant, gateway, cca, mca, pca, bca, rca\n";

static const struct {
	const char *name;
	unsigned type;
} roles[] = { { "cardholder", SETCERT_CARD }, { "merchant", SETCERT_MER },
	{ "gateway", SETCERT_PGWY }, { "cca", SETCERT_CCA },
	{ "mca", SETCERT_MCA }, { "pca", SETCERT_PCA }, { "bca", SETCERT_BCA },
	{ "rca", SETCERT_RCA } };

static int
tls_verify_cb(
    X509 *leaf, STACK_OF(X509) *chain, void *arg, char *err, size_t errlen)
{
	return pki_verify(arg, leaf, chain, 0, SETCERT_TLS_SERVER, NULL, NULL,
	           err, errlen) == PKI_OK
	    ? 0
	    : -1;
}

/* Learns the brand's CA certificates and CRLs from the CA at addr. */
static int
do_fetch(
    struct pki *pki, const char *root_file, const char *addr, const char *brand)
{
	struct pki *tls_pki = pki_new();
	const char *colon = strrchr(addr, ':');
	char err[512], *host;
	X509 *root = NULL;
	SSL_CTX *ssl = NULL;
	int rc = -1;

	if (root_file == NULL || brand == NULL || colon == NULL) {
		fputs(usage, stderr);
		pki_free(tls_pki);
		return -1;
	}
	host = strndup(addr, (size_t)(colon - addr));
	if ((root = setcert_read_cert(root_file, err, sizeof(err))) == NULL)
		goto done;
	pki_add_trusted(tls_pki, root);
	pki_set_crl_check(tls_pki, 0);
	if ((ssl = tls_client_ctx(NULL, NULL, NULL, tls_verify_cb, tls_pki, err,
	         sizeof(err))) == NULL)
		goto done;
	if (crlfetch_refresh(pki, root, ssl, host, atoi(colon + 1), brand, 10,
	        err, sizeof(err)) >= 1)
		rc = 0;
done:
	if (rc == -1)
		fprintf(stderr, "set-verify: --fetch: %s\n", err);
	SSL_CTX_free(ssl);
	X509_free(root);
	pki_free(tls_pki);
	free(host);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "root", 1, NULL, 'r' },
		{ "chain", 1, NULL, 'c' }, { "crl", 1, NULL, 'l' },
		{ "role", 1, NULL, 'R' }, { "usage", 1, NULL, 'u' },
		{ "brand", 1, NULL, 'b' }, { "at", 1, NULL, 'a' },
		{ "no-crl", 0, NULL, 'N' }, { "fetch", 1, NULL, 'F' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct pki *pki = pki_new();
	STACK_OF(X509) *chain = NULL;
	const char *brand = NULL, *fetch = NULL, *root_file = NULL;
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
			root_file = optarg;
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
		case 'F':
			fetch = optarg;
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
	if (fetch != NULL && do_fetch(pki, root_file, fetch, brand) == -1)
		return 2;
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
