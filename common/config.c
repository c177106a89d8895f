/*
 * JSON config files. A daemon loads its file once at start-up (and again on
 * SIGHUP), reads each setting through a typed getter, and refuses unknown
 * keys so that a typo is an error rather than a silently ignored setting.
 * Every message starts with the file and the dotted key, in the form
 * "ca.json: listen.port: expected ...", ready for the log or for stderr.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "xmalloc.h"

/* How much of a wrong value an error message quotes. */
#define CONFIG_QUOTE_MAX 40

struct config {
	char *path; /* as given */
	char *dir; /* the file's folder, absolute */
	json_t *root;
	char error[512];
};

static void config_seterr(struct config *cfg, const char *key, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
config_seterr(struct config *cfg, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(
	    cfg->error, sizeof(cfg->error), "%s: %s: ", cfg->path, key);
	if (n < 0 || (size_t)n >= sizeof(cfg->error))
		return;
	va_start(ap, fmt);
	vsnprintf(cfg->error + n, sizeof(cfg->error) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A short description of a value for "got ...": quoted scalars, or its kind. */
static void
config_describe(const json_t *v, char *buf, size_t len)
{
	char *s;

	if (json_is_object(v)) {
		snprintf(buf, len, "an object");
		return;
	}
	if (json_is_array(v)) {
		snprintf(buf, len, "an array");
		return;
	}
	if ((s = json_dumps(v, JSON_ENCODE_ANY)) == NULL) {
		snprintf(buf, len, "an unprintable value");
		return;
	}
	if (strlen(s) > CONFIG_QUOTE_MAX)
		snprintf(buf, len, "%.*s...", CONFIG_QUOTE_MAX, s);
	else
		snprintf(buf, len, "%s", s);
	free(s);
}

static void
config_wrong(
    struct config *cfg, const char *key, const char *expected, const json_t *v)
{
	char got[CONFIG_QUOTE_MAX + 16];

	config_describe(v, got, sizeof(got));
	config_seterr(cfg, key, "expected %s, got %s", expected, got);
}

/*
 * Walks a dotted key. 0 with *out set when the value is there, 1 when it is
 * absent (or null), -1 when a step on the way is not an object (error set).
 */
static int
config_lookup(struct config *cfg, const char *key, json_t **out)
{
	json_t *v = cfg->root, *next;
	const char *p = key, *dot;
	size_t len;

	*out = NULL;
	if (*key == '\0') {
		*out = v;
		return 0;
	}
	for (;;) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (!json_is_object(v)) {
			char *parent = xstrndup(key, (size_t)(p - key - 1));

			config_wrong(cfg, parent, "an object", v);
			free(parent);
			return -1;
		}
		if ((next = json_object_getn(v, p, len)) == NULL ||
		    json_is_null(next))
			return 1;
		v = next;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	*out = v;
	return 0;
}

/* The lookup shared by the getters: 0 found, 1 use the default, -1 error. */
static int
config_find(struct config *cfg, const char *key, int has_default, json_t **out)
{
	int rc;

	cfg->error[0] = '\0';
	if ((rc = config_lookup(cfg, key, out)) == 1 && !has_default) {
		config_seterr(cfg, key, "required key is missing");
		return -1;
	}
	return rc;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	json_error_t jerr;
	struct stat sb;
	json_t *root = NULL;
	const char *slash;
	char *dir = NULL, *abs, cwd[PATH_MAX];
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path,
		    errno == ENOENT ? "not found" : strerror(errno));
		goto fail;
	}
	if (fstat(fileno(fp), &sb) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (sb.st_size == 0) {
		snprintf(err, errlen,
		    "%s: the file is empty (expected a JSON "
		    "object)",
		    path);
		goto fail;
	}
	root = json_loadf(fp, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		if (jerr.line >= 1)
			snprintf(err, errlen, "%s: line %d, column %d: %s",
			    path, jerr.line, jerr.column, jerr.text);
		else
			snprintf(err, errlen, "%s: %s", path, jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen,
		    "%s: the top level must be a JSON object ({ ... })", path);
		goto fail;
	}

	/* The folder, made absolute now, for config_path(). */
	if ((slash = strrchr(path, '/')) == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	if ((abs = realpath(dir, NULL)) != NULL) {
		free(dir);
		dir = xstrdup(abs);
		free(abs);
	} else if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
		abs = xasprintf("%s/%s", cwd, dir);
		free(dir);
		dir = abs;
	}

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	cfg->dir = dir;
	cfg->root = root;
	fclose(fp);
	return cfg;
fail:
	if (fp != NULL)
		fclose(fp);
	json_decref(root);
	free(dir);
	return NULL;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	json_decref(cfg->root);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const char *
config_file(const struct config *cfg)
{
	return cfg->path;
}

const char *
config_error(const struct config *cfg)
{
	return cfg->error;
}

int
config_string(
    struct config *cfg, const char *key, const char *def, const char **out)
{
	json_t *v;
	int rc;

	if ((rc = config_find(cfg, key, def != NULL, &v)) == -1)
		return -1;
	if (rc == 1) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v)) {
		config_wrong(cfg, key, "a string", v);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int
config_int(struct config *cfg, const char *key, const long long *def,
    long long min, long long max, long long *out)
{
	char expected[96];
	long long n;
	json_t *v;
	int rc;

	if ((rc = config_find(cfg, key, def != NULL, &v)) == -1)
		return -1;
	if (rc == 1) {
		*out = *def;
		return 0;
	}
	if (min == LLONG_MIN && max == LLONG_MAX)
		snprintf(expected, sizeof(expected), "an integer");
	else if (max == LLONG_MAX)
		snprintf(expected, sizeof(expected),
		    "an integer of at least %lld", min);
	else if (min == LLONG_MIN)
		snprintf(expected, sizeof(expected),
		    "an integer of at most %lld", max);
	else
		snprintf(expected, sizeof(expected),
		    "an integer from %lld to %lld", min, max);
	if (!json_is_integer(v)) {
		config_wrong(cfg, key, expected, v);
		return -1;
	}
	n = (long long)json_integer_value(v);
	if (n < min || n > max) {
		config_wrong(cfg, key, expected, v);
		return -1;
	}
	*out = n;
	return 0;
}

int
config_bool(struct config *cfg, const char *key, const int *def, int *out)
{
	json_t *v;
	int rc;

	if ((rc = config_find(cfg, key, def != NULL, &v)) == -1)
		return -1;
	if (rc == 1) {
		*out = *def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		config_wrong(cfg, key, "true or false", v);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int
config_path(struct config *cfg, const char *key, const char *def, char **out)
{
	const char *s;

	*out = NULL;
	if (config_string(cfg, key, def, &s) == -1)
		return -1;
	if (*s == '\0') {
		config_seterr(cfg, key, "expected a path, got an empty string");
		return -1;
	}
	if (s[0] == '/')
		*out = xstrdup(s);
	else if (strcmp(cfg->dir, "/") == 0)
		*out = xasprintf("/%s", s);
	else
		*out = xasprintf("%s/%s", cfg->dir, s);
	return 0;
}

json_t *
config_get(struct config *cfg, const char *key)
{
	json_t *v;

	cfg->error[0] = '\0';
	if (config_lookup(cfg, key, &v) != 0)
		return NULL;
	return v;
}

int
config_check_keys(
    struct config *cfg, const char *key, const char *const *allowed)
{
	const char *k;
	json_t *obj, *v;
	size_t i;
	int rc;

	cfg->error[0] = '\0';
	if ((rc = config_lookup(cfg, key, &obj)) != 0)
		return rc == 1 ? 0 : -1;
	if (!json_is_object(obj)) {
		config_wrong(cfg, key, "an object", obj);
		return -1;
	}
	json_object_foreach(obj, k, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL) {
			char *full =
			    *key ? xasprintf("%s.%s", key, k) : xstrdup(k);

			config_seterr(cfg, full, "unknown key (a typo?)");
			free(full);
			return -1;
		}
	}
	return 0;
}
