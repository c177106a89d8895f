/*
 * set-ca: the certificate authority of a SET payment system. One program,
 * one command per job: `init` creates a hierarchy, `serve` runs the daemon,
 * the others are the bank staff's operator commands (operator.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "log.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-ca COMMAND [options]\n"
    "\n"
    "Setting up:\n"
    "  init -D DIR --brand NAME [--brand NAME ...] [--name HOST ...]\n"
    "       [--listen ADDR:PORT] [--root-years N]\n"
    "                    create a new certificate hierarchy in DIR\n"
    "  serve [-dnv] [-f config]\n"
    "                    run the CA daemon\n"
    "\n"
    "Operating (each takes -f config, default $SET_CA_CONFIG or ./ca.json):\n"
    "  token --role merchant|gateway --id ID --brand BRAND [--valid 72h]\n"
    "                    make a one-time enrollment token\n"
    "  list [certs|requests|tokens|audit] [--status S]\n"
    "  show [--pem] SERIAL|REQUEST\n"
    "  approve REQUEST   issue the certificates of a pending request\n"
    "  reject [--reason TEXT] REQUEST\n"
    "  revoke [--reason REASON] SERIAL\n"
    "  crl [--text] CA-NAME\n"
    "                    print the current CRL of a CA (PEM)\n"
    "  tls-cert --id ID --brand BRAND --out DIR [--name HOST ...] [--days N]\n"
    "                    a TLS certificate for a bank service (issuer,\n"
    "                    acquirer) for mutual TLS inside the bank network\n"
    "  root-crl --root-key FILE [--revoke SERIAL]\n"
    "                    reissue the root CRL with the offline root key\n"
    "\n"
    "`set-ca COMMAND --help` describes one command; docs/ca.md has the "
    "whole guide.\n";

static const char init_usage[] =
    "usage: set-ca init -D DIR --brand NAME [--brand NAME ...]\n"
    "                   [--name HOST ...] [--listen ADDR:PORT] "
    "[--root-years N]\n"
    "\n"
    "Creates a SET certificate hierarchy in DIR: a root CA whose key is\n"
    "written to DIR/offline/root.key (move it off this machine), a brand\n"
    "CA per --brand with its cardholder, merchant and payment-gateway CAs,\n"
    "the daemon's TLS certificate (for each --name, default localhost and\n"
    "127.0.0.1), the first CRLs, and DIR/ca.json.\n"
    "\n"
    "  --listen ADDR:PORT   where the daemon listens (default "
    "127.0.0.1:8443;\n"
    "                       port 0 picks a free port, written to "
    "DIR/ca.port)\n";

static int
cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = { { "dir", 1, NULL, 'D' },
		{ "brand", 1, NULL, 'b' }, { "name", 1, NULL, 'n' },
		{ "listen", 1, NULL, 'l' }, { "root-years", 1, NULL, 'y' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	static const char *const default_names[] = { "localhost", "127.0.0.1" };
	struct hierarchy_opts o;
	const char **brands = xcalloc((size_t)argc, sizeof(*brands));
	const char **names = xcalloc((size_t)argc, sizeof(*names));
	char err[512], *colon, *end;
	int c, rc = 2;

	memset(&o, 0, sizeof(o));
	o.address = "127.0.0.1";
	o.port = 8443;
	o.root_years = 10;
	optind = 1;
	while ((c = getopt_long(argc, argv, "D:b:n:l:y:h", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'D':
			o.dir = optarg;
			break;
		case 'b':
			brands[o.nbrands++] = optarg;
			break;
		case 'n':
			names[o.nnames++] = optarg;
			break;
		case 'l':
			if ((colon = strrchr(optarg, ':')) == NULL) {
				fprintf(stderr,
				    "set-ca init: --listen wants "
				    "ADDR:PORT\n");
				goto done;
			}
			*colon = '\0';
			o.address = optarg;
			o.port = (int)strtol(colon + 1, &end, 10);
			if (*end != '\0' || o.port < 0 || o.port > 65535) {
				fprintf(stderr,
				    "set-ca init: bad port in "
				    "--listen\n");
				goto done;
			}
			break;
		case 'y':
			o.root_years = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || o.root_years < 1 ||
			    o.root_years > 30) {
				fprintf(stderr,
				    "set-ca init: --root-years "
				    "wants 1-30\n");
				goto done;
			}
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
	if (o.dir == NULL || o.nbrands == 0) {
		fprintf(stderr,
		    "set-ca init: -D DIR and at least one --brand "
		    "are required\n");
		fputs(init_usage, stderr);
		goto done;
	}
	if (o.nnames == 0) {
		names[0] = default_names[0];
		names[1] = default_names[1];
		o.nnames = 2;
	}
	o.brands = brands;
	o.names = names;
	log_init("set-ca", 1, 0);
	if (hierarchy_init(&o, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-ca init: %s\n", err);
		rc = 1;
		goto done;
	}
	printf("created a SET hierarchy in %s\n", o.dir);
	printf(
	    "  trust anchor:  %s/root.pem (hand it to every party)\n", o.dir);
	printf("  root key:      %s/offline/root.key (move it off this "
	       "machine)\n",
	    o.dir);
	printf("  config:        %s/ca.json\n", o.dir);
	printf("start the daemon with: set-ca serve -f %s/ca.json\n", o.dir);
	rc = 0;
done:
	free(brands);
	free(names);
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
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return server_main(argc - 1, argv + 1);
	if ((rc = operator_main(cmd, argc - 1, argv + 1)) != -1)
		return rc;
	fprintf(stderr, "set-ca: unknown command \"%s\"\n\n", cmd);
	fputs(usage, stderr);
	return 2;
}
