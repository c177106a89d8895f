/*
 * set-wallet: the cardholder's wallet, a command-line program.
 *
 *	set-wallet [-w DIR] [--passphrase-file F | --passphrase-fd N] COMMAND
 *
 * This file reads the options every command shares, finds the command and
 * runs it; `init` and `passwd`, which only touch the wallet's key, live
 * here too. The other commands are in registration.c (register),
 * cards.c (cards, show, check) and purchase.c (catalog, buy, orders, order). Exit status: 0 success, 1 failure (the
 * message says what happened and what to do), 2 a usage error.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pan.h"
#include "wallet.h"
#include "xmalloc.h"

/* A passphrase shorter than this is refused at init and passwd. */
#define MAIN_PASS_MIN 8

static const char main_usage_text[] =
    "usage: set-wallet [-w DIR] [--passphrase-file FILE | --passphrase-fd N]\n"
    "                  COMMAND [ARGS]\n"
    "\n"
    "The cardholder's SET wallet: your payment cards, their certificates\n"
    "and keys, encrypted under your passphrase; paying merchants with them.\n"
    "\n"
    "Commands:\n"
    "  init          make a new wallet (asks for a passphrase twice)\n"
    "  register      register a card with its brand's certificate "
    "authority\n"
    "  cards         list the cards in the wallet\n"
    "  show CARD     a card's certificate and its status (--refresh: fetch\n"
    "                the current CRLs first)\n"
    "  check [CARD]  open the cards' secrets and check them against their\n"
    "                certificates\n"
    "  catalog       what a merchant sells (--merchant, --root)\n"
    "  buy           buy from a merchant with a card\n"
    "  orders        the wallet's log of purchases\n"
    "  order XID     ask the merchant what became of a purchase\n"
    "  passwd        change the passphrase\n"
    "  help [COMMAND]\n"
    "\n"
    "Options of every command:\n"
    "  -w, --wallet DIR         the wallet folder (default $SET_WALLET_DIR,\n"
    "                           else ~/.set-wallet)\n"
    "  --passphrase-file FILE   read the passphrase from FILE's first line\n"
    "  --passphrase-fd N        read it from file descriptor N\n"
    "                           (otherwise it is asked on the terminal)\n"
    "  --timeout SECONDS        per request to the CA (default 30)\n"
    "  -h, --help               this text; `set-wallet COMMAND --help`\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

static const char main_init_usage[] =
    "usage: set-wallet init [-w DIR] [--passphrase-file FILE | "
    "--passphrase-fd N]\n"
    "\n"
    "Makes a new, empty wallet in DIR (default $SET_WALLET_DIR, else\n"
    "~/.set-wallet): the folder (mode 0700) and its database (mode 0600).\n"
    "The passphrase (at least 8 characters) is asked twice on the terminal;\n"
    "it protects every card number and key in the wallet, and nobody can\n"
    "recover it. An existing wallet is never overwritten.\n";

static const char main_passwd_usage[] =
    "usage: set-wallet passwd [-w DIR] [--passphrase-file FILE | "
    "--passphrase-fd N]\n"
    "                         [--new-passphrase-file FILE]\n"
    "\n"
    "Changes the wallet's passphrase: asks the current one, then the new\n"
    "one twice (or reads it from the first line of --new-passphrase-file).\n"
    "The cards stay as they are; only the key that protects them is\n"
    "wrapped again.\n";

void
main_error(const char *fmt, ...)
{
	char buf[2048], *clean;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Never a full card number in an error message, whoever wrote it. */
	pan_scrub(buf);
	clean = prompt_clean(buf);
	fprintf(stderr, "set-wallet: %s\n", clean);
	free(clean);
}

int
main_usage(const char *usage, const char *fmt, ...)
{
	char buf[1024];
	const char *end;
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		main_error("%s", buf);
	}
	/* The synopsis only: the first paragraph. */
	end = strstr(usage, "\n\n");
	fprintf(stderr, "%.*s\n(--help tells more)\n",
	    end ? (int)(end - usage) : (int)strlen(usage), usage);
	return EXIT_USAGE;
}

/* A number from min to max, or -1. */
static long
main_number(const char *s, long min, long max)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return -1;
	return v;
}

int
main_common_opt(struct wallet_opts *o, int c, const char *arg)
{
	switch (c) {
	case OPT_WALLET:
		if (arg[0] == '\0') {
			main_error("-w/--wallet needs a folder");
			return -1;
		}
		free(o->dir);
		o->dir = xstrdup(arg);
		return 1;
	case OPT_PASS_FILE:
		o->pass_file = arg;
		return 1;
	case OPT_PASS_FD:
		if ((o->pass_fd = (int)main_number(arg, 0, 65535)) < 0) {
			main_error("--passphrase-fd: expected a file "
			           "descriptor number, got \"%s\"",
			    arg);
			return -1;
		}
		return 1;
	case OPT_TIMEOUT:
		if ((o->timeout = (int)main_number(arg, 1, 3600)) < 0) {
			main_error("--timeout: expected 1 to 3600 seconds, got "
			           "\"%s\"",
			    arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

int
main_getopt(struct wallet_opts *o, int argc, char **argv, const char *usage,
    const struct option *longopts, int *c)
{
	int r;

	opterr = 0;
	while ((*c = getopt_long(
	            argc, argv, MAIN_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		if (*c == OPT_HELP) {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if ((r = main_common_opt(o, *c, optarg)) == -1)
			return main_usage(usage, NULL);
		if (r == 1)
			continue;
		if (*c >= OPT_FIRST_FREE)
			return -1; /* the caller's own option */
		return main_usage(usage,
		    "unknown option, or one without its "
		    "value: %s",
		    argv[optind - 1]);
	}
	return -1;
}

/* No argument may follow the options. */
static int
main_no_args(int argc, char **argv, const char *usage)
{
	if (optind < argc)
		return main_usage(
		    usage, "unexpected argument \"%s\"", argv[optind]);
	return -1;
}

static int
main_check_pass(const char *pass, char *err, size_t errlen)
{
	if (strlen(pass) < MAIN_PASS_MIN) {
		snprintf(err, errlen,
		    "a passphrase needs at least %d characters; a few words "
		    "are easy to remember and hard to guess",
		    MAIN_PASS_MIN);
		return -1;
	}
	return 0;
}

static int
main_init(struct wallet_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	char *pass = NULL, err[512];
	int c, rc, usage;

	if ((rc = main_getopt(o, argc, argv, main_init_usage, longopts, &c)) !=
	        -1 ||
	    (rc = main_no_args(argc, argv, main_init_usage)) != -1)
		return rc;
	if (prompt_passphrase(o, "Passphrase for the new wallet: ", 1, &pass,
	        &usage, err, sizeof(err)) == -1) {
		if (usage)
			return main_usage(main_init_usage, "%s", err);
		main_error("%s", err);
		return EXIT_FAIL;
	}
	rc = EXIT_FAIL;
	if (main_check_pass(pass, err, sizeof(err)) == -1 ||
	    wallet_create(o->dir, pass, err, sizeof(err)) == -1)
		main_error("%s", err);
	else {
		printf(
		    "wallet created in %s\n"
		    "Keep your passphrase safe: it protects the card numbers "
		    "and keys in this\nwallet, and nobody can recover it.\n",
		    o->dir);
		rc = EXIT_OK;
	}
	prompt_free(pass);
	return rc;
}

static int
main_passwd(struct wallet_opts *o, int argc, char **argv)
{
	enum { OPT_NEW_FILE = OPT_FIRST_FREE };
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ "new-passphrase-file", 1, NULL, OPT_NEW_FILE },
		{ NULL, 0, NULL, 0 } };
	const char *newfile = NULL;
	char *pass = NULL, *newpass = NULL, err[512];
	struct wallet *w = NULL;
	int c, rc, usage;

	while ((rc = main_getopt(
	            o, argc, argv, main_passwd_usage, longopts, &c)) == -1 &&
	    c == OPT_NEW_FILE)
		newfile = optarg;
	if (rc != -1 ||
	    (rc = main_no_args(argc, argv, main_passwd_usage)) != -1)
		return rc;
	if ((w = wallet_open(o->dir, err, sizeof(err))) == NULL) {
		main_error("%s", err);
		return EXIT_FAIL;
	}
	rc = EXIT_FAIL;
	if (prompt_passphrase(o, "Current passphrase: ", 0, &pass, &usage, err,
	        sizeof(err)) == -1) {
		rc = usage ? main_usage(main_passwd_usage, "%s", err)
		           : (main_error("%s", err), EXIT_FAIL);
		goto done;
	}
	if (wallet_unlock(w, pass, err, sizeof(err)) == -1) {
		main_error("%s", err);
		goto done;
	}
	if (prompt_new_passphrase(
	        newfile, &newpass, &usage, err, sizeof(err)) == -1) {
		rc = usage ? main_usage(main_passwd_usage, "%s", err)
		           : (main_error("%s", err), EXIT_FAIL);
		goto done;
	}
	if (main_check_pass(newpass, err, sizeof(err)) == -1 ||
	    wallet_rekey(w, newpass, err, sizeof(err)) == -1) {
		main_error("%s", err);
		goto done;
	}
	printf("passphrase changed for the wallet in %s\n", o->dir);
	rc = EXIT_OK;
done:
	prompt_free(pass);
	prompt_free(newpass);
	wallet_close(w);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(struct wallet_opts *, int, char **);
	const char *usage;
} main_commands[] = {
	{ "init", main_init, main_init_usage },
	{ "register", registration_main, registration_usage },
	{ "cards", cards_list_main, cards_list_usage },
	{ "show", cards_show_main, cards_show_usage },
	{ "check", cards_check_main, cards_check_usage },
	{ "catalog", purchase_catalog_main, purchase_catalog_usage },
	{ "buy", purchase_buy_main, purchase_buy_usage },
	{ "orders", purchase_orders_main, purchase_orders_usage },
	{ "order", purchase_order_main, purchase_order_usage },
	{ "passwd", main_passwd, main_passwd_usage },
};
#define MAIN_NCOMMANDS (sizeof(main_commands) / sizeof(main_commands[0]))

static int
main_find(const char *name)
{
	size_t i;

	for (i = 0; i < MAIN_NCOMMANDS; i++)
		if (strcmp(main_commands[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
main_help(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fputs(main_usage_text, stdout);
		return EXIT_OK;
	}
	if ((i = main_find(argv[1])) == -1)
		return main_usage(
		    main_usage_text, "no command \"%s\" to describe", argv[1]);
	fputs(main_commands[i].usage, stdout);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { MAIN_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	struct wallet_opts o;
	int c, i, r, rc;

	/* Everything the wallet writes is for this user alone. */
	umask(077);
	log_init("set-wallet", 1, getenv("SET_VERBOSE") != NULL);
	memset(&o, 0, sizeof(o));
	o.pass_fd = -1;
	o.timeout = 30;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+" MAIN_COMMON_SHORTOPTS, longopts,
	            NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(main_usage_text, stdout);
			return EXIT_OK;
		}
		if ((r = main_common_opt(&o, c, optarg)) == -1) {
			rc = main_usage(main_usage_text, NULL);
			goto done;
		}
		if (r == 0) {
			rc = main_usage(main_usage_text, "unknown option %s",
			    argv[optind - 1]);
			goto done;
		}
	}
	if (optind >= argc) {
		rc = main_usage(main_usage_text, "which command?");
		goto done;
	}
	if (strcmp(argv[optind], "help") == 0) {
		rc = main_help(argc - optind, argv + optind);
		goto done;
	}
	if ((i = main_find(argv[optind])) == -1) {
		rc = main_usage(
		    main_usage_text, "unknown command \"%s\"", argv[optind]);
		goto done;
	}
	if (o.dir == NULL)
		o.dir = wallet_default_dir();
	/* The command parses its own options from its name on. */
	argc -= optind;
	argv += optind;
	optind = 0;
	rc = main_commands[i].fn(&o, argc, argv);
done:
	free(o.dir);
	return rc;
}
