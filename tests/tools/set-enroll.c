/*
 * set-enroll: the enrollment client (common/enroll.c) as a command, so the
 * tests and the demo can enroll a merchant or a gateway before those daemons
 * exist. The merchant and gateway daemons expose the same client as their own
 * `enroll` command.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"
#include "log.h"
#include "setcert.h"

static const char usage[] =
    "usage: set-enroll --ca HOST:PORT --root root.pem --role merchant|gateway\n"
    "                  --id ID --brand BRAND --out DIR [--name NAME]\n"
    "                  [--token TOKEN] [--poll] [--tls-cert PEM --tls-key "
    "KEY]\n"
    "                  [--timeout SECONDS]\n"
    "\n"
    "Enrolls with the CA: writes keys and certificates into DIR.\n"
    "Without --token the request waits for the CA operator's approval;\n"
    "run again with --poll to collect the certificates.\n"
    "Exit status: 0 issued, 3 pending, 4 rejected, 1 error, 2 usage.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "ca", 1, NULL, 'c' },
		{ "root", 1, NULL, 'r' }, { "role", 1, NULL, 'R' },
		{ "id", 1, NULL, 'i' }, { "brand", 1, NULL, 'b' },
		{ "out", 1, NULL, 'o' }, { "name", 1, NULL, 'n' },
		{ "token", 1, NULL, 't' }, { "poll", 0, NULL, 'p' },
		{ "tls-cert", 1, NULL, 'C' }, { "tls-key", 1, NULL, 'K' },
		{ "timeout", 1, NULL, 'T' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct enroll_params p;
	const char *ca = NULL, *tls_cert = NULL, *tls_key = NULL;
	char err[512], *colon, *host = NULL;
	int c, poll = 0, rc;
	enum enroll_result r;

	memset(&p, 0, sizeof(p));
	p.timeout = 10;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ca = optarg;
			break;
		case 'r':
			p.root_file = optarg;
			break;
		case 'R':
			p.role = optarg;
			break;
		case 'i':
			p.id = optarg;
			break;
		case 'b':
			p.brand = optarg;
			break;
		case 'o':
			p.outdir = optarg;
			break;
		case 'n':
			p.name = optarg;
			break;
		case 't':
			p.token = optarg;
			break;
		case 'p':
			poll = 1;
			break;
		case 'C':
			tls_cert = optarg;
			break;
		case 'K':
			tls_key = optarg;
			break;
		case 'T':
			p.timeout = atoi(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (ca == NULL || p.root_file == NULL || p.role == NULL ||
	    p.id == NULL || p.brand == NULL || p.outdir == NULL ||
	    (colon = strrchr(ca, ':')) == NULL || p.timeout <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	host = strndup(ca, (size_t)(colon - ca));
	p.host = host;
	p.port = atoi(colon + 1);
	log_init("set-enroll", 1, getenv("SET_VERBOSE") != NULL);
	if (tls_cert != NULL || tls_key != NULL) {
		if (tls_cert == NULL || tls_key == NULL ||
		    (p.tls_cert = setcert_read_cert(
		         tls_cert, err, sizeof(err))) == NULL ||
		    (p.tls_key = setcert_read_key(tls_key, err, sizeof(err))) ==
		        NULL) {
			fprintf(stderr,
			    "set-enroll: --tls-cert and --tls-key "
			    "go together: %s\n",
			    err);
			free(host);
			return 2;
		}
	}
	r = poll ? enroll_poll(&p, err, sizeof(err))
	         : enroll_run(&p, err, sizeof(err));
	switch (r) {
	case ENROLL_ISSUED:
		printf("issued: certificates written to %s\n", p.outdir);
		rc = 0;
		break;
	case ENROLL_PENDING:
		printf("pending: %s; run again with --poll\n", err);
		rc = 3;
		break;
	case ENROLL_REJECTED:
		fprintf(stderr, "set-enroll: %s\n", err);
		rc = 4;
		break;
	default:
		fprintf(stderr, "set-enroll: %s\n", err);
		rc = 1;
	}
	X509_free(p.tls_cert);
	EVP_PKEY_free(p.tls_key);
	free(host);
	return rc;
}
