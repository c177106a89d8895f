/*
 * set-merchant: the merchant of a SET payment system, SET's "shopping
 * platform". One program, one command per job: `init` makes a state
 * folder, `serve` runs the daemon wallets talk to (server.c), the others
 * are the shop operator's commands (operator.c). Exit status: 0 success,
 * 1 failure (the message says why), 2 a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "merchant.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-merchant COMMAND [options]\n"
    "\n"
    "Setting up:\n"
    "  init -D DIR --id ID --name NAME --brand BRAND [--brand ...]\n"
    "       --ca HOST:PORT --root ROOT.pem --gateway HOST:PORT\n"
    "       [--listen ADDR:PORT] [--currency CUR]\n"
    "                    make a merchant's state folder in DIR\n"
    "  enroll --brand BRAND --token TOKEN [--poll]\n"
    "                    get the merchant's SET certificates from the CA\n"
    "  serve [-dnv] [-f config]\n"
    "                    run the merchant daemon\n"
    "\n"
    "Operating (each takes -f config, default $SET_MERCHANT_CONFIG or\n"
    "./merchant.json):\n"
    "  orders [--status S] list the orders\n"
    "  order ORDER       one order: items, amount, status, authorization,\n"
    "                    history\n"
    "  resolve ORDER     ask the gateway again about an unresolved order\n"
    "                    (the same recorded AuthReq: never twice)\n"
    "  catalog           the catalog with the stock on hand\n"
    "\n"
    "`set-merchant COMMAND --help` describes one command; docs/merchant.md\n"
    "has the whole guide.\n";

static const char init_usage[] =
    "usage: set-merchant init -D DIR --id ID --name NAME --brand BRAND\n"
    "           [--brand BRAND ...] --ca HOST:PORT --root ROOT.pem\n"
    "           --gateway HOST:PORT [--listen ADDR:PORT] [--currency CUR]\n"
    "\n"
    "Makes a merchant's state folder: DIR/merchant.json (the config),\n"
    "DIR/merchant.db, DIR/catalog.json (an example catalog to edit) and\n"
    "DIR/root.pem (a copy of the trust anchor).\n"
    "\n"
    "  --id ID              the merchant id the CA enrolls (1-64 of\n"
    "                       A-Z a-z 0-9 . _ -)\n"
    "  --name NAME          the shop's name\n"
    "  --brand BRAND        a card brand the shop accepts; repeat\n"
    "  --ca HOST:PORT       the CA daemon (enrollment, CRLs)\n"
    "  --root ROOT.pem      the hierarchy's root certificate\n"
    "  --gateway HOST:PORT  the payment gateway\n"
    "  --listen ADDR:PORT   where the daemon listens (default\n"
    "                       127.0.0.1:8444; port 0 picks a free port,\n"
    "                       written to DIR/merchant.port)\n"
    "  --currency CUR       the shop's currency (default EUR)\n";

/* "HOST:PORT" (port 0 allowed when zero_ok). */
static int
main_hostport(
    const char *opt, char *arg, int zero_ok, const char **host, int *port)
{
	char *colon = strrchr(arg, ':'), *end;
	long p;

	if (colon == NULL || colon == arg) {
		fprintf(stderr, "set-merchant init: %s wants HOST:PORT\n", opt);
		return -1;
	}
	*colon = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || p < (zero_ok ? 0 : 1) ||
	    p > 65535) {
		fprintf(stderr, "set-merchant init: bad port in %s\n", opt);
		return -1;
	}
	*host = arg;
	*port = (int)p;
	return 0;
}

static int
main_init(int argc, char **argv)
{
	static const struct option longopts[] = { { "dir", 1, NULL, 'D' },
		{ "id", 1, NULL, 'i' }, { "name", 1, NULL, 'n' },
		{ "brand", 1, NULL, 'b' }, { "ca", 1, NULL, 'c' },
		{ "root", 1, NULL, 'r' }, { "gateway", 1, NULL, 'g' },
		{ "listen", 1, NULL, 'l' }, { "currency", 1, NULL, 'C' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct merchant_init_opts o;
	const char **brands = xcalloc((size_t)argc + 1, sizeof(*brands));
	char err[1024];
	int c, rc = 2;

	memset(&o, 0, sizeof(o));
	o.currency = "EUR";
	o.address = "127.0.0.1";
	o.port = 8444;
	optind = 1;
	while ((c = getopt_long(argc, argv, "D:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			o.dir = optarg;
			break;
		case 'i':
			o.id = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'b':
			brands[o.nbrands++] = optarg;
			break;
		case 'c':
			if (main_hostport("--ca", optarg, 0, &o.ca_host,
			        &o.ca_port) == -1)
				goto done;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 'g':
			if (main_hostport("--gateway", optarg, 0, &o.gw_host,
			        &o.gw_port) == -1)
				goto done;
			break;
		case 'l':
			if (main_hostport("--listen", optarg, 1, &o.address,
			        &o.port) == -1)
				goto done;
			break;
		case 'C':
			o.currency = optarg;
			break;
		case 'h':
			fputs(init_usage, stdout);
			rc = 0;
			goto done;
		default:
			fputs(init_usage, stderr);
			goto done;
		}
	}
	if (o.dir == NULL || o.id == NULL || o.nbrands == 0 ||
	    o.ca_host == NULL || o.root == NULL || o.gw_host == NULL ||
	    optind != argc) {
		fprintf(stderr,
		    "set-merchant init: -D, --id, --brand, --ca, --root and "
		    "--gateway are required\n");
		fputs(init_usage, stderr);
		goto done;
	}
	if (o.name == NULL)
		o.name = o.id;
	o.brands = brands;
	log_init("set-merchant", 1, 0);
	if (merchant_init(&o, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-merchant init: %s\n", err);
		rc = 1;
		goto done;
	}
	printf("merchant %s created in %s\n", o.id, o.dir);
	printf("  config:   %s/merchant.json\n", o.dir);
	printf("  catalog:  %s/catalog.json (edit it; prices in minor units "
	       "of %s)\n",
	    o.dir, o.currency);
	printf("next:\n");
	printf("  1. get a token from the CA's operator and enroll:\n"
	       "     set-merchant enroll -f %s/merchant.json --brand %s "
	       "--token TOKEN\n",
	    o.dir, brands[0]);
	printf("  2. the bank issues the TLS certificate wallets see:\n"
	       "     set-ca tls-cert --id %s --brand %s --out %s/tls\n",
	    o.id, brands[0], o.dir);
	printf("  3. set-merchant serve -f %s/merchant.json\n", o.dir);
	rc = 0;
done:
	free(brands);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *cmd;
	int rc;

	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(cmd, "init") == 0)
		return main_init(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return server_main(argc - 1, argv + 1);
	if ((rc = operator_main(cmd, argc - 1, argv + 1)) != -1)
		return rc;
	fprintf(stderr, "set-merchant: unknown command \"%s\"\n\n", cmd);
	fputs(usage, stderr);
	return 2;
}
