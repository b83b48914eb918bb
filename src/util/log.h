/* Structured logging: one JSON object per line on stderr.
 *
 *   log_msg(LOG_INFO, "main pod completed", "omjob.name", name, "exitCode", "3", NULL);
 *
 * Fields are key/value string pairs terminated by NULL; a NULL value is written as null.
 * Keys and values are JSON-escaped. Never pass secrets (tokens, keys, env values). */
#ifndef OMJ_LOG_H
#define OMJ_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Parses DEBUG/INFO/WARN/WARNING/ERROR (any case). Returns -1 for anything else. */
int log_level_parse(const char *s);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Redirect output (tests). fd -1 restores stderr. */
void log_set_fd(int fd);

void log_msg(enum log_level level, const char *msg, ...)
#if defined(__GNUC__)
    __attribute__((sentinel))
#endif
    ;

/* Log context: fields every log line carries (after its own) until they are dropped, so a
 * line about an object can be found by the object's keys without each call naming them.
 * The work queue and the writer set it around a controller's callback for one object
 * (omjob.name, omjob.namespace, ...), the controller adds its run id and trace ids.
 *
 * A stack of at most LOG_CTX_MAX fields: log_ctx_mark() returns the depth, log_ctx_restore()
 * goes back to it (nesting is safe). Keys and values are copied, cut at LOG_CTX_KEY_MAX /
 * LOG_CTX_VAL_MAX bytes; a field past LOG_CTX_MAX is dropped. A key added again shadows
 * the earlier field until the restore that drops it. A field the log call passes itself
 * wins over a context field of the same key: no key appears twice in a line. */
#define LOG_CTX_MAX 10
#define LOG_CTX_KEY_MAX 32
#define LOG_CTX_VAL_MAX 256
size_t log_ctx_mark(void);
void log_ctx_restore(size_t mark);
/* Adds (or replaces) key=val; val NULL or "" removes nothing and adds nothing. */
void log_ctx_add(const char *key, const char *val);
/* The context of one object: "<kind>.namespace" and "<kind>.name" from a work-queue key
 * ("namespace/name", or "name" for cluster-scoped objects). */
void log_ctx_object(const char *kind, const char *key);
/* The value of key in the context, or NULL (tests). */
const char *log_ctx_get(const char *key);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__, (char *)NULL)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__, (char *)NULL)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__, (char *)NULL)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__, (char *)NULL)

#endif
