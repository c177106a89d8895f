/*
 * set-issuer: the issuer simulator of a SET payment system, the
 * cardholder's bank. One program, one command per job: `init` creates an
 * issuer, `serve` runs its daemon (card verification for the CA,
 * authorizations for the payment gateway), the others are the bank staff's
 * operator commands (operator.c).
 */
#include <stdio.h>
#include <string.h>

#include "issuer.h"

static const char usage[] =
    "usage: set-issuer COMMAND [options]\n"
    "\n"
    "Setting up:\n"
    "  init -D DIR --name NAME --brand BRAND --bin BIN [--bin BIN ...]\n"
    "       [--listen ADDR:PORT] [--currency CUR] [--tls DIR] "
    "[--client CN ...]\n"
    "       [--demo-cards] [--magic-amounts]\n"
    "                    create a new issuer in DIR\n"
    "  serve [-dnv] [-f config]\n"
    "                    run the issuer daemon\n"
    "\n"
    "Operating (each takes -f config, default $SET_ISSUER_CONFIG or\n"
    "./issuer.json; CARD is the full card number, or - to read it from\n"
    "standard input; amounts are integer minor units, 1999 for 19.99):\n"
    "  open --name NAME --postcode PC --limit MINOR [--currency CUR]\n"
    "       [--per-tx-limit MINOR] [--expiry YYYY-MM] [--bin BIN]\n"
    "                    open a card account; prints its number, expiry\n"
    "                    and CVV once\n"
    "  show CARD         one card account: status, limit, balance, "
    "holds\n"
    "  list [--status S] every card account (masked numbers)\n"
    "  block CARD | unblock CARD | lost CARD | stolen CARD | close CARD\n"
    "  statement CARD    the card's ledger entries and holds\n"
    "  payment CARD AMOUNT\n"
    "                    the cardholder pays towards the card\n"
    "  ledger-check      prove every ledger transaction sums to zero\n"
    "  audit             who did what\n"
    "\n"
    "`set-issuer COMMAND --help` describes one command; "
    "docs/issuer-sim.md\n"
    "has the whole guide.\n";

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
		return init_main(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return server_main(argc - 1, argv + 1);
	if ((rc = operator_main(cmd, argc - 1, argv + 1)) != -1)
		return rc;
	fprintf(stderr, "set-issuer: unknown command \"%s\"\n\n", cmd);
	fputs(usage, stderr);
	return 2;
}
