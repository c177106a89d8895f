/*
 * Unit tests for common/config.c: each getter against good values, wrong
 * types, out-of-range values, missing required keys and defaults; dotted
 * keys; unknown-key detection; load errors with file, line and column; and
 * relative paths resolved against the config file's folder.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"
#include "xmalloc.h"

/* Writes name (relative to the case's folder, which is also the cwd). */
static void
write_file(const char *name, const char *text)
{
	FILE *fp;

	if (chdir(unit_tmpdir()) == -1)
		unit_fail(__FILE__, __LINE__, "chdir %s", unit_tmpdir());
	if ((fp = fopen(name, "w")) == NULL)
		unit_fail(__FILE__, __LINE__, "cannot write %s", name);
	fputs(text, fp);
	fclose(fp);
}

static struct config *
load_ok(const char *name)
{
	char err[512] = "";
	struct config *cfg = config_load(name, err, sizeof(err));

	if (cfg == NULL)
		unit_fail(__FILE__, __LINE__, "config_load %s: %s", name, err);
	return cfg;
}

static const char sample[] =
    "{\n"
    "  \"name\": \"ca-1\",\n"
    "  \"empty\": \"\",\n"
    "  \"listen\": {\n"
    "    \"address\": \"127.0.0.1\",\n"
    "    \"port\": 8443,\n"
    "    \"bad\": \"abc\",\n"
    "    \"big\": 70000,\n"
    "    \"neg\": -1,\n"
    "    \"real\": 5.0,\n"
    "    \"tls\": { \"enabled\": true, \"strict\": false }\n"
    "  },\n"
    "  \"num\": 42,\n"
    "  \"flag\": \"yes\",\n"
    "  \"one\": 1,\n"
    "  \"nothing\": null,\n"
    "  \"list\": [1, 2],\n"
    "  \"huge\": 9223372036854775807,\n"
    "  \"db\": \"data/ca.db\",\n"
    "  \"up\": \"../shared/keys\",\n"
    "  \"abs\": \"/var/lib/set/ca.db\",\n"
    "  \"long\": \"0123456789012345678901234567890123456789"
    "0123456789\"\n"
    "}\n";

enum getter { G_STRING, G_INT, G_BOOL, G_PATH };

struct getter_case {
	enum getter g;
	const char *key;
	int has_def;
	const char *sdef; /* string and path defaults */
	long long idef; /* int and bool defaults */
	long long min, max;
	int rc;
	/* On success the value as text ("@" stands for the file's folder);
	 * on failure the whole error message. */
	const char *want;
};

#define ANY LLONG_MIN, LLONG_MAX

static const struct getter_case getter_cases[] = {
	/* Strings. */
	{ G_STRING, "name", 0, NULL, 0, 0, 0, 0, "ca-1" },
	{ G_STRING, "empty", 0, NULL, 0, 0, 0, 0, "" },
	{ G_STRING, "listen.address", 0, NULL, 0, 0, 0, 0, "127.0.0.1" },
	{ G_STRING, "missing", 1, "dflt", 0, 0, 0, 0, "dflt" },
	{ G_STRING, "nothing", 1, "was null", 0, 0, 0, 0, "was null" },
	{ G_STRING, "name", 1, "dflt", 0, 0, 0, 0, "ca-1" },
	{ G_STRING, "listen.missing", 0, NULL, 0, 0, 0, -1,
	    "c.json: listen.missing: required key is missing" },
	{ G_STRING, "nothing", 0, NULL, 0, 0, 0, -1,
	    "c.json: nothing: required key is missing" },
	{ G_STRING, "num", 0, NULL, 0, 0, 0, -1,
	    "c.json: num: expected a string, got 42" },
	{ G_STRING, "listen", 0, NULL, 0, 0, 0, -1,
	    "c.json: listen: expected a string, got an object" },
	{ G_STRING, "list", 0, NULL, 0, 0, 0, -1,
	    "c.json: list: expected a string, got an array" },
	{ G_STRING, "name.first", 0, NULL, 0, 0, 0, -1,
	    "c.json: name: expected an object, got \"ca-1\"" },
	{ G_STRING, "listen.port.x", 1, "d", 0, 0, 0, -1,
	    "c.json: listen.port: expected an object, got 8443" },
	{ G_STRING, "no.such.thing", 1, "deep", 0, 0, 0, 0, "deep" },

	/* Integers. */
	{ G_INT, "listen.port", 0, NULL, 0, 0, 65535, 0, "8443" },
	{ G_INT, "listen.port", 0, NULL, 0, 8443, 8443, 0, "8443" },
	{ G_INT, "listen.neg", 0, NULL, 0, ANY, 0, "-1" },
	{ G_INT, "huge", 0, NULL, 0, ANY, 0, "9223372036854775807" },
	{ G_INT, "listen.missing", 1, NULL, 8080, 0, 65535, 0, "8080" },
	{ G_INT, "listen.bad", 0, NULL, 0, 0, 65535, -1,
	    "c.json: listen.bad: expected an integer from 0 to 65535, "
	    "got \"abc\"" },
	{ G_INT, "listen.big", 0, NULL, 0, 0, 65535, -1,
	    "c.json: listen.big: expected an integer from 0 to 65535, "
	    "got 70000" },
	{ G_INT, "listen.neg", 0, NULL, 0, 1, LLONG_MAX, -1,
	    "c.json: listen.neg: expected an integer of at least 1, got -1" },
	{ G_INT, "num", 0, NULL, 0, LLONG_MIN, 10, -1,
	    "c.json: num: expected an integer of at most 10, got 42" },
	{ G_INT, "listen.real", 0, NULL, 0, ANY, -1,
	    "c.json: listen.real: expected an integer, got 5.0" },
	{ G_INT, "flag", 1, NULL, 7, ANY, -1,
	    "c.json: flag: expected an integer, got \"yes\"" },
	{ G_INT, "listen.tls.enabled", 0, NULL, 0, ANY, -1,
	    "c.json: listen.tls.enabled: expected an integer, got true" },
	{ G_INT, "listen.port2", 0, NULL, 0, 0, 65535, -1,
	    "c.json: listen.port2: required key is missing" },

	/* Booleans. */
	{ G_BOOL, "listen.tls.enabled", 0, NULL, 0, 0, 0, 0, "1" },
	{ G_BOOL, "listen.tls.strict", 1, NULL, 1, 0, 0, 0, "0" },
	{ G_BOOL, "listen.tls.missing", 1, NULL, 1, 0, 0, 0, "1" },
	{ G_BOOL, "listen.tls.missing", 1, NULL, 0, 0, 0, 0, "0" },
	{ G_BOOL, "flag", 0, NULL, 0, 0, 0, -1,
	    "c.json: flag: expected true or false, got \"yes\"" },
	{ G_BOOL, "one", 0, NULL, 0, 0, 0, -1,
	    "c.json: one: expected true or false, got 1" },
	{ G_BOOL, "debug", 0, NULL, 0, 0, 0, -1,
	    "c.json: debug: required key is missing" },

	/* Paths. */
	{ G_PATH, "db", 0, NULL, 0, 0, 0, 0, "@/data/ca.db" },
	{ G_PATH, "up", 0, NULL, 0, 0, 0, 0, "@/../shared/keys" },
	{ G_PATH, "abs", 0, NULL, 0, 0, 0, 0, "/var/lib/set/ca.db" },
	{ G_PATH, "logdir", 1, "log", 0, 0, 0, 0, "@/log" },
	{ G_PATH, "logdir", 1, "/tmp/log", 0, 0, 0, 0, "/tmp/log" },
	{ G_PATH, "empty", 0, NULL, 0, 0, 0, -1,
	    "c.json: empty: expected a path, got an empty string" },
	{ G_PATH, "num", 0, NULL, 0, 0, 0, -1,
	    "c.json: num: expected a string, got 42" },
	{ G_PATH, "keys", 0, NULL, 0, 0, 0, -1,
	    "c.json: keys: required key is missing" },

	/* Long values are cut in the message. */
	{ G_INT, "long", 0, NULL, 0, ANY, -1,
	    "c.json: long: expected an integer, got "
	    "\"012345678901234567890123456789012345678..." },
};

static void
run_getter_case(
    struct config *cfg, const struct getter_case *c, const char *dir)
{
	char got[512], *path = NULL, *want;
	const char *s = NULL, *at;
	long long n = 0, idef = c->idef;
	int b = 0, bdef = (int)c->idef, rc = -2;

	got[0] = '\0';
	switch (c->g) {
	case G_STRING:
		rc =
		    config_string(cfg, c->key, c->has_def ? c->sdef : NULL, &s);
		if (rc == 0)
			snprintf(got, sizeof(got), "%s", s);
		break;
	case G_INT:
		rc = config_int(
		    cfg, c->key, c->has_def ? &idef : NULL, c->min, c->max, &n);
		if (rc == 0)
			snprintf(got, sizeof(got), "%lld", n);
		break;
	case G_BOOL:
		rc = config_bool(cfg, c->key, c->has_def ? &bdef : NULL, &b);
		if (rc == 0)
			snprintf(got, sizeof(got), "%d", b);
		break;
	case G_PATH:
		rc = config_path(
		    cfg, c->key, c->has_def ? c->sdef : NULL, &path);
		if (rc == 0)
			snprintf(got, sizeof(got), "%s", path);
		else if (path != NULL)
			unit_fail(__FILE__, __LINE__, "%s: path set on error",
			    c->key);
		free(path);
		break;
	}
	if (rc != c->rc)
		unit_fail(__FILE__, __LINE__,
		    "key %s: returned %d, expected %d (value \"%s\", "
		    "error \"%s\")",
		    c->key, rc, c->rc, got, config_error(cfg));
	if (rc == 0) {
		if ((at = strchr(c->want, '@')) != NULL)
			want = xasprintf("%.*s%s%s", (int)(at - c->want),
			    c->want, dir, at + 1);
		else
			want = xstrdup(c->want);
		if (strcmp(got, want) != 0)
			unit_fail(__FILE__, __LINE__,
			    "key %s: got \"%s\", expected \"%s\"", c->key, got,
			    want);
		if (config_error(cfg)[0] != '\0')
			unit_fail(__FILE__, __LINE__,
			    "key %s: error left after success: \"%s\"", c->key,
			    config_error(cfg));
		free(want);
	} else if (strcmp(config_error(cfg), c->want) != 0)
		unit_fail(__FILE__, __LINE__,
		    "key %s: error \"%s\", expected \"%s\"", c->key,
		    config_error(cfg), c->want);
}

static void
test_getters(void)
{
	struct config *cfg;
	char *dir;
	size_t i;

	write_file("c.json", sample);
	dir = realpath(unit_tmpdir(), NULL);
	ASSERT_PTR_NOT_NULL(dir);
	cfg = load_ok("c.json");
	ASSERT_STR_EQ(config_file(cfg), "c.json");
	for (i = 0; i < UNIT_N(getter_cases); i++)
		run_getter_case(cfg, &getter_cases[i], dir);
	config_free(cfg);
	free(dir);
}

static void
test_get(void)
{
	struct config *cfg;
	json_t *v;

	write_file("c.json", sample);
	cfg = load_ok("c.json");
	v = config_get(cfg, "listen.tls");
	ASSERT_TRUE(json_is_object(v));
	ASSERT_TRUE(json_is_true(json_object_get(v, "enabled")));
	v = config_get(cfg, "list");
	ASSERT_INT_EQ(json_array_size(v), 2);
	ASSERT_TRUE(json_is_object(config_get(cfg, "")));
	ASSERT_TRUE(json_object_get(config_get(cfg, ""), "name") != NULL);
	ASSERT_PTR_NULL(config_get(cfg, "nothing"));
	ASSERT_PTR_NULL(config_get(cfg, "listen.nope"));
	ASSERT_PTR_NULL(config_get(cfg, "name.deeper"));
	ASSERT_INT_EQ(json_integer_value(config_get(cfg, "listen.port")), 8443);
	config_free(cfg);
}

static void
test_unknown_keys(void)
{
	static const char *const top[] = { "listen", "name", NULL };
	static const char *const listen[] = { "address", "port", "tls", NULL };
	static const char *const tls[] = { "enabled", "strict", NULL };
	static const char *const none[] = { NULL };
	struct config *cfg;

	write_file("t.json",
	    "{ \"name\": \"x\",\n"
	    "  \"lisen\": { \"port\": 1 } }\n");
	cfg = load_ok("t.json");
	ASSERT_INT_EQ(config_check_keys(cfg, "", top), -1);
	ASSERT_STR_EQ(
	    config_error(cfg), "t.json: lisen: unknown key (a typo?)");
	/* An absent object has no unknown keys. */
	ASSERT_INT_EQ(config_check_keys(cfg, "listen", listen), 0);
	ASSERT_STR_EQ(config_error(cfg), "");
	ASSERT_INT_EQ(config_check_keys(cfg, "name", none), -1);
	ASSERT_STR_EQ(
	    config_error(cfg), "t.json: name: expected an object, got \"x\"");
	config_free(cfg);

	write_file("c.json",
	    "{ \"name\": \"ca\", \"listen\": {"
	    " \"address\": \"::1\", \"port\": 1,"
	    " \"tls\": { \"enabled\": true,"
	    " \"strcit\": false } } }");
	cfg = load_ok("c.json");
	ASSERT_INT_EQ(config_check_keys(cfg, "", top), 0);
	ASSERT_INT_EQ(config_check_keys(cfg, "listen", listen), 0);
	ASSERT_INT_EQ(config_check_keys(cfg, "listen.tls", tls), -1);
	ASSERT_STR_EQ(config_error(cfg),
	    "c.json: listen.tls.strcit: unknown key (a typo?)");
	ASSERT_INT_EQ(config_check_keys(cfg, "listen", none), -1);
	ASSERT_STR_EQ(
	    config_error(cfg), "c.json: listen.address: unknown key (a typo?)");
	config_free(cfg);
}

struct load_case {
	const char *name;
	const char *text; /* NULL: no file is written */
	const char *want; /* the whole error, or a prefix ending in "..." */
};

static const struct load_case load_cases[] = {
	{ "missing.json", NULL, "missing.json: not found" },
	{ "bad.json", "{\n  \"a\": 1,\n  \"b\": ,\n  \"c\": 3\n}\n",
	    "bad.json: line 3, column 8: ..." },
	{ "dup.json", "{\n  \"port\": 1,\n  \"port\": 2\n}\n",
	    "dup.json: line 3, column 8: duplicate object key..." },
	{ "trail.json", "{ \"a\": 1 }\n}\n",
	    "trail.json: line 2, column 1: ..." },
	{ "array.json", "[1, 2]\n",
	    "array.json: the top level must be a JSON object ({ ... })" },
	{ "scalar.json", "42\n",
	    "scalar.json: the top level must be a JSON object ({ ... })" },
	{ "empty.json", "",
	    "empty.json: the file is empty (expected a JSON object)" },
	{ "space.json", "\n\n  ", "space.json: line 3, column 2: ..." },
	{ "sub", "", "sub: not a regular file" },
};

static void
test_load_errors(void)
{
	char err[512];
	size_t i, n;

	for (i = 0; i < UNIT_N(load_cases); i++) {
		const struct load_case *c = &load_cases[i];
		struct config *cfg;

		if (strcmp(c->name, "sub") == 0) {
			ASSERT_INT_EQ(chdir(unit_tmpdir()), 0);
			ASSERT_INT_EQ(mkdir("sub", 0755), 0);
		} else if (c->text != NULL)
			write_file(c->name, c->text);
		snprintf(err, sizeof(err), "(unset)");
		cfg = config_load(c->name, err, sizeof(err));
		if (cfg != NULL)
			unit_fail(__FILE__, __LINE__, "%s: loaded", c->name);
		n = strlen(c->want);
		if (n > 3 && strcmp(c->want + n - 3, "...") == 0) {
			if (strncmp(err, c->want, n - 3) != 0)
				unit_fail(__FILE__, __LINE__,
				    "%s: error \"%s\", expected \"%s\"",
				    c->name, err, c->want);
		} else if (strcmp(err, c->want) != 0)
			unit_fail(__FILE__, __LINE__,
			    "%s: error \"%s\", expected \"%s\"", c->name, err,
			    c->want);
	}
}

static void
test_relative_path(void)
{
	char *dir, *path = NULL, *want, *cfgpath;
	struct config *cfg;

	ASSERT_INT_EQ(chdir(unit_tmpdir()), 0);
	ASSERT_INT_EQ(mkdir("etc", 0755), 0);
	write_file("etc/ca.json", "{ \"db\": \"ca.db\" }");
	dir = realpath(unit_tmpdir(), NULL);
	ASSERT_PTR_NOT_NULL(dir);

	/* Loaded by a relative name: the result is still absolute. */
	cfg = load_ok("etc/ca.json");
	ASSERT_INT_EQ(chdir("/"), 0);
	ASSERT_INT_EQ(config_path(cfg, "db", NULL, &path), 0);
	want = xasprintf("%s/etc/ca.db", dir);
	ASSERT_STR_EQ(path, want);
	free(path);
	config_free(cfg);

	/* Loaded by an absolute name. */
	cfgpath = xasprintf("%s/etc/ca.json", unit_tmpdir());
	cfg = load_ok(cfgpath);
	ASSERT_STR_EQ(config_file(cfg), cfgpath);
	ASSERT_INT_EQ(config_path(cfg, "db", NULL, &path), 0);
	ASSERT_STR_EQ(path, want);
	free(path);
	config_free(cfg);

	/* A bare file name in the current folder. */
	ASSERT_INT_EQ(chdir(unit_tmpdir()), 0);
	ASSERT_INT_EQ(chdir("etc"), 0);
	cfg = load_ok("ca.json");
	ASSERT_INT_EQ(config_path(cfg, "db", NULL, &path), 0);
	ASSERT_STR_EQ(path, want);
	free(path);
	config_free(cfg);
	free(want);
	free(cfgpath);
	free(dir);
}

static void
test_error_names_file(void)
{
	char *cfgpath = xasprintf("%s/gw.json", unit_tmpdir());
	struct config *cfg;
	long long port;

	write_file("gw.json", "{ \"listen\": { \"port\": \"abc\" } }");
	cfg = load_ok(cfgpath);
	ASSERT_INT_EQ(
	    config_int(cfg, "listen.port", NULL, 0, 65535, &port), -1);
	ASSERT_STR_CONTAINS(config_error(cfg), cfgpath);
	ASSERT_STR_CONTAINS(config_error(cfg), "listen.port");
	ASSERT_STR_CONTAINS(config_error(cfg), "\"abc\"");
	config_free(cfg);
	free(cfgpath);
}

static const struct unit_case cases[] = {
	{ "getters: values, types, ranges, defaults", test_getters },
	{ "config_get and nested keys", test_get },
	{ "unknown keys are refused", test_unknown_keys },
	{ "load errors name file, line and column", test_load_errors },
	{ "relative paths resolve against the file's folder",
	    test_relative_path },
	{ "errors name the file as given and the key", test_error_names_file },
};

int
main(void)
{
	return unit_main("config", cases, UNIT_N(cases));
}
