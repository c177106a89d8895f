/*
 * set-gateway: the payment gateway of a SET payment system. One program, one
 * command per job: `init` creates the state folder, `enroll` gets the
 * gateway's certificates for a brand from the CA, `serve` runs the daemon,
 * `list` and `show` are the operator's commands (operator.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"
#include "gateway.h"
#include "log.h"
#include "xmalloc.h"

static const char usage[] =
    "usage: set-gateway COMMAND [options]\n"
    "\n"
    "Setting up:\n"
    "  init -D DIR --id ID --brand NAME [--brand NAME ...] --ca HOST:PORT\n"
    "       --root ROOT.pem [--listen ADDR:PORT]\n"
    "                    create a gateway's state folder in DIR\n"
    "  enroll [-f config] --brand NAME --token TOKEN [--name NAME]\n"
    "                    get the gateway's certificates for a brand from\n"
    "                    the CA\n"
    "  serve [-dnv] [-f config]\n"
    "                    run the gateway daemon\n"
    "\n"
    "Operating (each takes -f config, default $SET_GATEWAY_CONFIG or\n"
    "./gateway.json):\n"
    "  list [--status approved|declined]\n"
    "                    the transactions: XID, merchant, masked card,\n"
    "                    amount, status, authorization code\n"
    "  show XID          one transaction in full\n"
    "\n"
    "`set-gateway COMMAND --help` describes one command; docs/gateway.md\n"
    "has the whole guide.\n";

static const char init_usage[] =
    "usage: set-gateway init -D DIR --id ID --brand NAME [--brand NAME ...]\n"
    "                        --ca HOST:PORT --root ROOT.pem\n"
    "                        [--listen ADDR:PORT]\n"
    "\n"
    "Creates a payment gateway's state folder in DIR: gateway.json (the\n"
    "configuration), gateway.db (the database), root.pem (a copy of the\n"
    "trust anchor), keys/pan.key (the secret that keys the card-number\n"
    "HMAC, mode 0600) and certs/ for the certificates `enroll` gets.\n"
    "\n"
    "  --id ID              the gateway's id: its certificates' subject CN\n"
    "  --brand NAME         a card brand it serves; repeat for more\n"
    "  --ca HOST:PORT       the CA daemon (enrollment, CRLs)\n"
    "  --root ROOT.pem      the trust anchor, handed over out of band\n"
    "  --listen ADDR:PORT   where the daemon listens (default\n"
    "                       127.0.0.1:8444; port 0 picks a free port,\n"
    "                       written to DIR/gateway.port)\n"
    "\n"
    "Then: `set-gateway enroll` for every brand, and the TLS certificate\n"
    "with `set-ca tls-cert --id ID --brand BRAND --out DIR/tls`.\n";

static const char enroll_usage[] =
    "usage: set-gateway enroll [-f config] --brand NAME --token TOKEN\n"
    "                          [--name NAME]\n"
    "\n"
    "Enrolls the gateway with the CA for one brand (role gateway, the id\n"
    "of the config) with the operator's one-time token, and writes the\n"
    "keys and certificates to certs/BRAND/ in the state folder. One\n"
    "enrollment per brand; restart the daemon afterwards.\n";

/* "HOST:PORT" into host (xmalloc'd) and port; -1 when malformed. */
static int
main_hostport(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long p;

	if (colon == NULL || colon == s)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || p < 0 || p > 65535)
		return -1;
	*host = xstrndup(s, (size_t)(colon - s));
	*port = (int)p;
	return 0;
}

static int
main_init(int argc, char **argv)
{
	static const struct option longopts[] = { { "dir", 1, NULL, 'D' },
		{ "id", 1, NULL, 'i' }, { "brand", 1, NULL, 'b' },
		{ "ca", 1, NULL, 'c' }, { "root", 1, NULL, 'r' },
		{ "listen", 1, NULL, 'l' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct gateway_init_opts o;
	const char **brands = xcalloc((size_t)argc, sizeof(*brands));
	char *ca_host = NULL, *listen_host = NULL, err[512];
	int c, rc = 2;

	memset(&o, 0, sizeof(o));
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
		case 'b':
			brands[o.nbrands++] = optarg;
			break;
		case 'c':
			free(ca_host);
			ca_host = NULL;
			if (main_hostport(optarg, &ca_host, &o.ca_port) == -1 ||
			    o.ca_port == 0) {
				fprintf(stderr,
				    "set-gateway init: --ca wants HOST:PORT\n");
				goto done;
			}
			o.ca_address = ca_host;
			break;
		case 'r':
			o.root_file = optarg;
			break;
		case 'l':
			free(listen_host);
			listen_host = NULL;
			if (main_hostport(optarg, &listen_host, &o.port) ==
			    -1) {
				fprintf(stderr,
				    "set-gateway init: --listen wants "
				    "ADDR:PORT\n");
				goto done;
			}
			o.address = listen_host;
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
	if (optind != argc || o.dir == NULL || o.id == NULL || o.nbrands == 0 ||
	    o.ca_address == NULL || o.root_file == NULL) {
		fprintf(stderr,
		    "set-gateway init: -D, --id, --brand, --ca and --root are "
		    "required\n");
		fputs(init_usage, stderr);
		goto done;
	}
	o.brands = brands;
	log_init("set-gateway", 1, 0);
	if (gateway_init(&o, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-gateway init: %s\n", err);
		rc = 1;
		goto done;
	}
	printf("created a payment gateway in %s\n", o.dir);
	printf("  config:  %s/gateway.json\n", o.dir);
	printf("next: set-gateway enroll -f %s/gateway.json --brand BRAND "
	       "--token TOKEN\n",
	    o.dir);
	printf("      set-ca tls-cert --id %s --brand BRAND --out %s/tls\n",
	    o.id, o.dir);
	rc = 0;
done:
	free(brands);
	free(ca_host);
	free(listen_host);
	return rc;
}

static int
main_enroll(int argc, char **argv)
{
	static const struct option longopts[] = { { "brand", 1, NULL, 'b' },
		{ "token", 1, NULL, 't' }, { "name", 1, NULL, 'n' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct enroll_params p;
	struct gateway *gw = NULL;
	struct gateway_brand *b;
	const char *config = NULL, *brand = NULL;
	char err[512], *outdir = NULL, *root = NULL;
	int c, rc = 2;

	memset(&p, 0, sizeof(p));
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			config = optarg;
			break;
		case 'b':
			brand = optarg;
			break;
		case 't':
			p.token = optarg;
			break;
		case 'n':
			p.name = optarg;
			break;
		case 'h':
			fputs(enroll_usage, stdout);
			return 0;
		default:
			fputs(enroll_usage, stderr);
			return 2;
		}
	}
	if (optind != argc || brand == NULL || p.token == NULL) {
		fprintf(stderr,
		    "set-gateway enroll: --brand and --token are required\n");
		fputs(enroll_usage, stderr);
		return 2;
	}
	if (config == NULL && (config = getenv("SET_GATEWAY_CONFIG")) == NULL)
		config = "gateway.json";
	log_init("set-gateway", 1, 0);
	rc = 1;
	if ((gw = gateway_open(config, 0, err, sizeof(err))) == NULL)
		goto fail;
	if ((b = gateway_brand_find(gw, brand)) == NULL) {
		snprintf(err, sizeof(err),
		    "the configuration does not name the brand %s (add it to "
		    "\"brands\" first)",
		    brand);
		goto fail;
	}
	if (config_path(gw->cfg, "root", "root.pem", &root) == -1) {
		snprintf(err, sizeof(err), "%s", config_error(gw->cfg));
		goto fail;
	}
	outdir = gateway_certs_dir(gw, b->name);
	p.host = gw->ca_address;
	p.port = gw->ca_port;
	p.root_file = root;
	p.role = "gateway";
	p.id = gw->id;
	p.brand = b->name;
	p.outdir = outdir;
	p.timeout = (int)gw->set.ca_timeout;
	switch (enroll_run(&p, err, sizeof(err))) {
	case ENROLL_ISSUED:
		printf("issued: the %s certificates of gateway %s are in %s\n",
		    b->name, gw->id, outdir);
		rc = 0;
		goto done;
	case ENROLL_PENDING:
		fprintf(stderr,
		    "set-gateway enroll: pending the CA operator's approval: "
		    "%s\n",
		    err);
		goto done;
	default:
		break;
	}
fail:
	fprintf(stderr, "set-gateway enroll: %s\n", err);
done:
	gateway_close(gw);
	free(outdir);
	free(root);
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
	if (strcmp(cmd, "enroll") == 0)
		return main_enroll(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return server_main(argc - 1, argv + 1);
	if ((rc = operator_main(cmd, argc - 1, argv + 1)) != -1)
		return rc;
	fprintf(stderr, "set-gateway: unknown command \"%s\"\n\n", cmd);
	fputs(usage, stderr);
	return 2;
}
