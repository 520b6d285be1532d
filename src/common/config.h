/*
 * config.h — job configuration by Flink key names.
 *
 * Every key Spate understands is declared once in the table in config.c
 * with its type, default and a one-line description (docs/configuration.md
 * lists the same table).  Setting an unknown key, or a value that does not
 * parse for the key's type, fails with SPATE_ECONFIG and a message naming
 * the key.  Values are kept as text and parsed on read.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include "common/common.h"

typedef struct sp_config sp_config_t;

sp_config_t *sp_config_create(void);
void sp_config_destroy(sp_config_t *c);
sp_config_t *sp_config_copy(const sp_config_t *c);
/* Validates and sets; error message via sp_set_error (spate_last_error). */
int sp_config_set(sp_config_t *c, const char *key, const char *value);
/* "KEY=VALUE" form, as given to `spate run --config`. */
int sp_config_set_pair(sp_config_t *c, const char *pair);
/* Effective value (set or default); NULL for an unknown key. */
const char *sp_config_get(const sp_config_t *c, const char *key);
bool sp_config_is_set(const sp_config_t *c, const char *key);
int64_t sp_config_get_int(const sp_config_t *c, const char *key);
double sp_config_get_double(const sp_config_t *c, const char *key);
/* Durations ("200 ms", "10s", "1 min", plain number = ms) in milliseconds. */
int64_t sp_config_get_duration_ms(const sp_config_t *c, const char *key);

/* Iterates over the known keys (for docs and --help): returns false past the end. */
bool sp_config_key_info(int i, const char **key, const char **type, const char **def, const char **desc);

/* Parses a duration; returns false when malformed. */
bool sp_parse_duration_ms(const char *s, int64_t *ms);

#endif
