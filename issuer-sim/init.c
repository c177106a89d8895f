/*
 * `set-issuer init`: makes a new issuer's state folder: the config
 * (issuer.json), the secret that keys the card hashes (keys/card.key, mode
 * 0600), the database with the issuer's internal ledger accounts, and, on
 * request, the documented demo cards and the default test amounts
 * (docs/issuer-sim.md).
 *
 * Demo cards are fixed, so demos and tests can name them: each is the
 * first BIN, then a fixed nine-digit body (left-padded with zeros, or cut
 * from the left, to fill fifteen digits), then the Luhn check digit. For
 * BIN 424242 the first is the well-known 4242 4242 4242 4242.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "hex.h"
#include "issuer.h"
#include "log.h"
#include "pan.h"
#include "xmalloc.h"

static const char init_usage[] =
    "usage: set-issuer init -D DIR --name NAME --brand BRAND --bin BIN\n"
    "           [--bin BIN ...] [--listen ADDR:PORT] [--currency CUR]\n"
    "           [--tls DIR] [--client CN ...] [--demo-cards] "
    "[--magic-amounts]\n"
    "\n"
    "Creates a new issuer (a simulated card-issuing bank) in DIR:\n"
    "DIR/issuer.json, DIR/issuer.db and DIR/keys/card.key.\n"
    "\n"
    "  --name NAME         the bank's name (\"First Visa Bank\")\n"
    "  --brand BRAND       the card brand it issues (as the CA names it)\n"
    "  --bin BIN           a card-number prefix it owns, 4-11 digits;\n"
    "                      repeat for more (new cards use the first)\n"
    "  --listen ADDR:PORT  where the daemon listens (default "
    "127.0.0.1:8444;\n"
    "                      port 0 picks a free port, written to "
    "DIR/issuer.port)\n"
    "  --currency CUR      the accounts' default currency (default EUR)\n"
    "  --tls DIR           where the daemon's TLS files are (default\n"
    "                      DIR/tls; make them with `set-ca tls-cert --out`)\n"
    "  --client CN         a TLS client allowed to call the API; repeat\n"
    "                      (default: set-ca)\n"
    "  --demo-cards        open the documented demo cards\n"
    "  --magic-amounts     turn on the documented test amounts (declines,\n"
    "                      a slow answer, no answer): not for production\n";

struct init_opts {
	const char *dir, *name, *brand, *currency, *address, *tls;
	const char **bins, **clients;
	size_t nbins, nclients;
	int port;
	int demo, magic;
};

/* The demo cards, in the first BIN. */
static const struct init_demo {
	const char *body;
	const char *holder, *postcode;
	long long limit, per_tx;
	const char *expiry, *cvv, *status;
	const char *what;
} init_demos[] = {
	{ "424242424", "Alice Smith", "75001", 100000, 0, "2034-12", "123",
	    ACCOUNT_ACTIVE, "approves up to its limit" },
	{ "000000001", "Bob Martin", "75002", 1000, 0, "2034-12", "123",
	    ACCOUNT_ACTIVE, "tiny limit: insufficient-funds" },
	{ "000000002", "Carol Jones", "69001", 100000, 0, "2034-12", "123",
	    ACCOUNT_BLOCKED, "blocked" },
	{ "000000003", "Dave Brown", "13001", 100000, 0, "2034-12", "123",
	    ACCOUNT_LOST, "reported lost" },
	{ "000000004", "Erin White", "31000", 100000, 0, "2034-12", "123",
	    ACCOUNT_STOLEN, "reported stolen" },
	{ "000000005", "Frank Green", "33000", 100000, 0, "2021-01", "123",
	    ACCOUNT_ACTIVE, "expired" },
	{ "000000006", "Grace Hall", "44000", 100000, 5000, "2034-12", "123",
	    ACCOUNT_ACTIVE, "per-transaction limit 5000: over-limit" },
};

/* A demo card's number in bin: 16 digits with its Luhn digit. */
static void
init_demo_pan(const char *bin, const char *body, char out[ISSUER_PAN_LEN + 1])
{
	size_t binlen = strlen(bin), fill = ISSUER_PAN_LEN - 1 - binlen;
	size_t blen = strlen(body), i;

	memcpy(out, bin, binlen);
	for (i = 0; i < fill; i++)
		out[binlen + i] =
		    fill - i > blen ? '0' : body[blen - (fill - i)];
	out[ISSUER_PAN_LEN - 1] = pan_luhn_digit(out, ISSUER_PAN_LEN - 1);
	out[ISSUER_PAN_LEN] = '\0';
}

static int
init_write_key(const char *dir, char *err, size_t errlen)
{
	unsigned char key[ISSUER_KEY_LEN];
	char *path = xasprintf("%s/keys/card.key", dir), *hex, *line;
	size_t len;
	int fd, rc = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	hex = hex_random(sizeof(key));
	line = xasprintf("%s\n", hex);
	len = strlen(line);
	if (write(fd, line, len) == (ssize_t)len && fsync(fd) == 0)
		rc = 0;
	else
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
	if (close(fd) == -1 && rc == 0) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	freezero_buf(hex, strlen(hex));
	freezero_buf(line, len);
	free(path);
	return rc;
}

static json_t *
init_test_section(void)
{
	return json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:{s:i}, s:[i]}",
	    "decline", "5101", "insufficient-funds", "5102", "lost-or-stolen",
	    "5103", "over-limit", "5104", "expired-card", "5105", "wrong-cvv",
	    "5106", "blocked", "slow_ms", "5201", 3000, "no_answer", 5301);
}

static int
init_write_config(const struct init_opts *o, char *err, size_t errlen)
{
	char *path = xasprintf("%s/issuer.json", o->dir);
	char *tmp = xasprintf("%s.tmp", path), *f;
	json_t *cfg, *bins = json_array(), *clients = json_array(), *tls;
	FILE *fp;
	size_t i;
	int rc = -1;

	for (i = 0; i < o->nbins; i++)
		json_array_append_new(bins, json_string(o->bins[i]));
	for (i = 0; i < o->nclients; i++)
		json_array_append_new(clients, json_string(o->clients[i]));
	tls = json_object();
	f = xasprintf("%s/tls.pem", o->tls);
	json_object_set_new(tls, "cert", json_string(f));
	free(f);
	f = xasprintf("%s/tls.key", o->tls);
	json_object_set_new(tls, "key", json_string(f));
	free(f);
	f = xasprintf("%s/chain.pem", o->tls);
	json_object_set_new(tls, "chain", json_string(f));
	json_object_set_new(tls, "client_cas", json_string(f));
	free(f);
	f = xasprintf("%s/root.pem", o->tls);
	json_object_set_new(tls, "root", json_string(f));
	free(f);
	f = xasprintf("%s/crl.pem", o->tls);
	json_object_set_new(tls, "crl", json_string(f));
	free(f);
	cfg = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:{s:s, s:i}, s:s, "
	                "s:s, s:o, s:o, s:{s:i, s:i}, s:{s:i}, s:{s:i}}",
	    "name", o->name, "brand", o->brand, "bins", bins, "currency",
	    o->currency, "database", "issuer.db", "card_key", "keys/card.key",
	    "listen", "address", o->address, "port", o->port, "pidfile",
	    "issuer.pid", "port_file", "issuer.port", "tls", tls, "clients",
	    clients, "limits", "max_body", 65536, "timeout", 10, "cards",
	    "expiry_years", 4, "holds", "expiry_hours", 168);
	if (cfg == NULL) {
		errbuf_set(err, errlen, "cannot build the config (bad text?)");
		goto done;
	}
	if (o->magic)
		json_object_set_new(cfg, "test", init_test_section());
	if ((fp = fopen(tmp, "w")) == NULL) {
		errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (json_dumpf(cfg, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == -1 ||
	    fputc('\n', fp) == EOF || fflush(fp) == EOF ||
	    fsync(fileno(fp)) == -1) {
		fclose(fp);
		errbuf_set(err, errlen, "%s: cannot write", tmp);
		goto done;
	}
	if (fclose(fp) == EOF || rename(tmp, path) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	json_decref(cfg);
	free(path);
	free(tmp);
	return rc;
}

/* The internal accounts, the demo cards and the audit entry, in one
 * transaction. */
static int
init_state(const struct init_opts *o, char *err, size_t errlen)
{
	char *path = xasprintf("%s/issuer.json", o->dir),
	     pan[ISSUER_PAN_LEN + 4];
	char cvv[5], expiry[8], *detail;
	struct account_spec sp;
	struct issuer *is;
	long long id;
	size_t i;
	int rc = -1;

	is = issuer_open(path, err, errlen);
	free(path);
	if (is == NULL)
		return -1;
	is->who = "set-issuer init";
	if (store_begin(is->store) == -1) {
		errbuf_set(err, errlen, "cannot write the database");
		goto done;
	}
	if (ledger_internal(is, "cash", is->currency, &id) == -1 ||
	    ledger_internal(is, "settlement", is->currency, &id) == -1) {
		errbuf_set(err, errlen, "cannot make the internal accounts");
		goto fail;
	}
	for (i = 0; o->demo && i < sizeof(init_demos) / sizeof(init_demos[0]);
	     i++) {
		const struct init_demo *d = &init_demos[i];
		char want[ISSUER_PAN_LEN + 1];

		init_demo_pan(is->bins[0], d->body, want);
		memset(&sp, 0, sizeof(sp));
		sp.holder = d->holder;
		sp.postcode = d->postcode;
		sp.limit = d->limit;
		sp.per_tx = d->per_tx;
		sp.expiry = d->expiry;
		sp.pan = want;
		sp.cvv = d->cvv;
		sp.status = d->status;
		sp.demo = 1;
		if (account_open(is, &sp, pan, cvv, expiry, err, errlen) == -1)
			goto fail;
		if (i == 0)
			printf("demo cards (CVV %s for all; "
			       "docs/issuer-sim.md):\n",
			    d->cvv);
		printf("  %s  %s  %-12s %-8s %s\n", pan, expiry, d->holder,
		    d->postcode, d->what);
	}
	detail = xasprintf("%s, brand %s, %zu BIN(s), %s%s", is->name,
	    is->brand, is->nbins, is->currency, o->demo ? ", demo cards" : "");
	rc = issuer_audit(is, "init", o->dir, detail);
	free(detail);
	if (rc == -1 || store_commit(is->store) == -1) {
		errbuf_set(err, errlen, "cannot write the database");
		rc = -1;
		goto fail;
	}
	rc = 0;
	goto done;
fail:
	store_rollback(is->store);
	rc = -1;
done:
	issuer_close(is);
	return rc;
}

static int
init_check(struct init_opts *o, char *err, size_t errlen)
{
	size_t i, n;

	if (o->dir == NULL || o->name == NULL || o->brand == NULL ||
	    o->nbins == 0) {
		errbuf_set(err, errlen,
		    "-D DIR, --name, --brand and at least "
		    "one --bin are required");
		return -1;
	}
	if (!api_text_ok(o->name)) {
		errbuf_set(err, errlen, "--name: 1-64 printable characters");
		return -1;
	}
	n = strlen(o->brand);
	if (n == 0 || n > 32 ||
	    strspn(o->brand,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789") != n) {
		errbuf_set(err, errlen, "--brand: 1-32 letters and digits");
		return -1;
	}
	for (i = 0; i < o->nbins; i++) {
		n = strlen(o->bins[i]);
		if (n < 4 || n > 11 || strspn(o->bins[i], "0123456789") != n) {
			errbuf_set(
			    err, errlen, "--bin %s: 4-11 digits", o->bins[i]);
			return -1;
		}
	}
	if (!issuer_currency_ok(o->currency)) {
		errbuf_set(err, errlen,
		    "--currency: an ISO 4217 code such as "
		    "EUR");
		return -1;
	}
	for (i = 0; i < o->nclients; i++)
		if (!api_text_ok(o->clients[i])) {
			errbuf_set(err, errlen, "--client: 1-64 characters");
			return -1;
		}
	return 0;
}

/* Makes DIR (and DIR/keys); refuses a folder that holds an issuer. */
static int
init_dirs(const char *dir, char *err, size_t errlen)
{
	char *p;
	int rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		errbuf_set(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	p = xasprintf("%s/issuer.json", dir);
	if (access(p, F_OK) == 0) {
		errbuf_set(err, errlen, "%s already holds an issuer", dir);
		goto done;
	}
	free(p);
	p = xasprintf("%s/issuer.db", dir);
	if (access(p, F_OK) == 0) {
		errbuf_set(err, errlen, "%s already holds a database", dir);
		goto done;
	}
	free(p);
	p = xasprintf("%s/keys", dir);
	if (mkdir(p, 0700) == -1 && errno != EEXIST) {
		errbuf_set(err, errlen, "%s: %s", p, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	free(p);
	return rc;
}

int
init_main(int argc, char **argv)
{
	static const struct option longopts[] = { { "dir", 1, NULL, 'D' },
		{ "name", 1, NULL, 'N' }, { "brand", 1, NULL, 'b' },
		{ "bin", 1, NULL, 'B' }, { "listen", 1, NULL, 'l' },
		{ "currency", 1, NULL, 'c' }, { "tls", 1, NULL, 't' },
		{ "client", 1, NULL, 'C' }, { "demo-cards", 0, NULL, 'd' },
		{ "magic-amounts", 0, NULL, 'm' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	static const char *const default_client = "set-ca";
	struct init_opts o;
	char err[512], *colon, *end, *tlsabs = NULL, *tlsdir, cwd[PATH_MAX];
	long port;
	int c, rc = 2;

	memset(&o, 0, sizeof(o));
	o.bins = xcalloc((size_t)argc + 1, sizeof(*o.bins));
	o.clients = xcalloc((size_t)argc + 1, sizeof(*o.clients));
	o.address = "127.0.0.1";
	o.port = 8444;
	o.currency = "EUR";
	o.tls = "tls";
	optind = 1;
	while ((c = getopt_long(argc, argv, "D:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			o.dir = optarg;
			break;
		case 'N':
			o.name = optarg;
			break;
		case 'b':
			o.brand = optarg;
			break;
		case 'B':
			o.bins[o.nbins++] = optarg;
			break;
		case 'l':
			if ((colon = strrchr(optarg, ':')) == NULL) {
				fprintf(stderr,
				    "set-issuer init: --listen "
				    "wants ADDR:PORT\n");
				goto done;
			}
			*colon = '\0';
			o.address = optarg;
			port = strtol(colon + 1, &end, 10);
			if (*end != '\0' || end == colon + 1 || port < 0 ||
			    port > 65535) {
				fprintf(stderr,
				    "set-issuer init: bad port in "
				    "--listen\n");
				goto done;
			}
			o.port = (int)port;
			break;
		case 'c':
			o.currency = optarg;
			break;
		case 't':
			o.tls = optarg;
			break;
		case 'C':
			o.clients[o.nclients++] = optarg;
			break;
		case 'd':
			o.demo = 1;
			break;
		case 'm':
			o.magic = 1;
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
	if (optind < argc) {
		fprintf(stderr, "set-issuer init: unexpected \"%s\"\n",
		    argv[optind]);
		goto done;
	}
	if (o.nclients == 0)
		o.clients[o.nclients++] = default_client;
	if (init_check(&o, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-issuer init: %s\n", err);
		fputs(init_usage, stderr);
		goto done;
	}
	/* Paths in the config are relative to its folder; a --tls typed
	 * relative to where we stand is made absolute. */
	if (strcmp(o.tls, "tls") != 0 && o.tls[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			fprintf(stderr, "set-issuer init: getcwd: %s\n",
			    strerror(errno));
			rc = 1;
			goto done;
		}
		tlsabs = xasprintf("%s/%s", cwd, o.tls);
		o.tls = tlsabs;
	}
	log_init("set-issuer", 1, 0);
	rc = 1;
	if (init_dirs(o.dir, err, sizeof(err)) == -1 ||
	    init_write_key(o.dir, err, sizeof(err)) == -1 ||
	    init_write_config(&o, err, sizeof(err)) == -1 ||
	    init_state(&o, err, sizeof(err)) == -1) {
		fprintf(stderr, "set-issuer init: %s\n", err);
		goto done;
	}
	printf("created issuer \"%s\" (%s) in %s\n", o.name, o.brand, o.dir);
	printf("  config:    %s/issuer.json\n", o.dir);
	printf("  card key:  %s/keys/card.key (back it up: without it no card "
	       "can be found)\n",
	    o.dir);
	tlsdir =
	    o.tls[0] == '/' ? xstrdup(o.tls) : xasprintf("%s/%s", o.dir, o.tls);
	printf("  TLS files: %s, from the CA: set-ca tls-cert --id ID "
	       "--brand %s --out %s\n",
	    tlsdir, o.brand, tlsdir);
	free(tlsdir);
	printf("start the daemon with: set-issuer serve -f %s/issuer.json\n",
	    o.dir);
	rc = 0;
done:
	free(o.bins);
	free(o.clients);
	free(tlsabs);
	return rc;
}
