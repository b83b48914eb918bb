/* Structured logging: one JSON object per line on stderr.
 *
 *   log_msg(LOG_INFO, "main pod completed", "omjob.name", name, "exitCode", "3", NULL);
 *
 * Fields are key/value string pairs terminated by NULL; a NULL value is written as null.
 * Keys and values are JSON-escaped. Never pass secrets (tokens, keys, env values). */
#ifndef OMJ_LOG_H
#define OMJ_LOG_H

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

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__, (char *)NULL)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__, (char *)NULL)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__, (char *)NULL)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__, (char *)NULL)

#endif
