/*
 * Config files are JSON. config_load() reads one file; typed getters take a
 * dotted key ("listen.port") and produce errors that name the file, the key
 * and the problem, so an operator can fix the file from the message alone.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <jansson.h>

struct config;

/*
 * Loads a JSON config file. Errors name the file and the problem:
 * "ca.json: line 3, column 5: ..." for bad JSON (duplicate keys included),
 * "ca.json: not found" etc. The top level must be an object. NULL with the
 * reason in err on failure.
 */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Frees the config and every value borrowed from it. NULL is fine. */
void config_free(struct config *);
/* The path as given to config_load(). */
const char *config_file(const struct config *);
/* The error message of the last getter that failed; "" after one that
 * succeeded. Owned by the config, valid until the next getter. */
const char *config_error(const struct config *);

/*
 * Getters take a dotted key ("listen.port"). def == NULL means the key is
 * required; a key set to JSON null counts as absent. On a wrong type, a
 * missing required key or a value out of range they return -1 and set an
 * error naming the file, the key and the problem, e.g.
 * 'ca.json: listen.port: expected an integer from 0 to 65535, got "abc"' or
 * 'ca.json: listen.address: required key is missing'. 0 on success.
 */
/* *out is borrowed from the config (or is def): valid until config_free(). */
int config_string(
    struct config *, const char *key, const char *def, const char **out);
/* Only JSON integers: 5.0 and "5" are refused. A default is not checked
 * against min and max. */
int config_int(struct config *, const char *key, const long long *def,
    long long min, long long max, long long *out);
/* Only JSON true and false. */
int config_bool(struct config *, const char *key, const int *def, int *out);
/*
 * A path value (or def) resolved relative to the config file's folder
 * (absolute paths kept). The folder itself is made absolute when the file is
 * loaded, so the result does not depend on a later chdir(). An empty string
 * is refused. xmalloc'd in *out: the caller frees it.
 */
int config_path(struct config *, const char *key, const char *def, char **out);
/* The value at key, borrowed from the config; NULL when absent. "" is the
 * top-level object. */
json_t *config_get(struct config *, const char *key);
/*
 * Refuses keys in the object at `key` ("" = top level) that are not in the
 * NULL-terminated allowed list: "ca.json: lisen: unknown key (a typo?)",
 * naming the first such key with its full dotted name. An absent object
 * passes; a value that is not an object is an error.
 */
int config_check_keys(
    struct config *, const char *key, const char *const *allowed);

#endif
