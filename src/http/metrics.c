#include "http/metrics.h"

#include "util/buf.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define DROPPED_NAME "omjob_metrics_dropped_series_total"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* One series. For histograms, buckets[i] counts observations in (bounds[i-1], bounds[i]]:
 * per bucket, made cumulative when rendered. Label values live in the same allocation. */
struct series {
    const char *values[METRICS_MAX_LABELS];
    double value; /* counter, gauge; histogram: sum */
    uint64_t count;
    uint64_t buckets[];
};

struct metric {
    struct metric *next;
    char *name;
    char *help;
    enum metric_type type;
    size_t nlabels;
    char *label_names[METRICS_MAX_LABELS];
    size_t nbounds;
    double bounds[METRICS_MAX_BUCKETS];
    double (*fn)(void *arg);
    void *fn_arg;
    struct series **series;
    size_t nseries;
    size_t series_cap;
    int cap_logged;
};

struct scrape_hook {
    void (*fn)(void *arg);
    void *arg;
};

static struct {
    struct metric *head;
    struct metric *tail;
    double dropped_series;
    struct scrape_hook hooks[METRICS_MAX_HOOKS];
    size_t nhooks;
} reg;

/* --- names -------------------------------------------------------------------------- */

static int
name_char_ok(char c, int first, int colon_ok)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return 1;
    if (c == ':')
        return colon_ok;
    return !first && c >= '0' && c <= '9';
}

static int
name_valid(const char *s, int colon_ok)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++)
        if (!name_char_ok(s[i], i == 0, colon_ok))
            return 0;
    return 1;
}

static struct metric *
find_family(const char *name)
{
    for (struct metric *m = reg.head; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static int
labels_valid(const char *const *label_names, enum metric_type type, size_t *n)
{
    size_t count = 0;
    for (; label_names && label_names[count]; count++) {
        const char *l = label_names[count];
        if (count == METRICS_MAX_LABELS || !name_valid(l, 0) || strncmp(l, "__", 2) == 0)
            return 0;
        if (type == METRIC_HISTOGRAM && strcmp(l, "le") == 0)
            return 0;
        for (size_t j = 0; j < count; j++)
            if (strcmp(label_names[j], l) == 0)
                return 0;
    }
    *n = count;
    return 1;
}

static int
bounds_valid(const double *bounds, size_t nbounds)
{
    if (nbounds == 0 || nbounds > METRICS_MAX_BUCKETS || !bounds)
        return 0;
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return 0;
    }
    return 1;
}

/* --- series ------------------------------------------------------------------------- */

static size_t
series_header_bytes(const struct metric *m)
{
    return sizeof(struct series) + m->nbounds * sizeof(uint64_t);
}

static struct series *
series_new(const struct metric *m, const char *const *values)
{
    size_t lens[METRICS_MAX_LABELS];
    size_t total = series_header_bytes(m);
    for (size_t i = 0; i < m->nlabels; i++) {
        lens[i] = strlen(values[i]);
        total += lens[i] + 1; /* bounded: each value <= METRICS_MAX_VALUE_LEN */
    }
    struct series *s = calloc(1, total);
    if (!s)
        return NULL;
    char *p = (char *)s + series_header_bytes(m);
    for (size_t i = 0; i < m->nlabels; i++) {
        memcpy(p, values[i], lens[i] + 1);
        s->values[i] = p;
        p += lens[i] + 1;
    }
    return s;
}

static int
series_matches(const struct metric *m, const struct series *s, const char *const *values)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return 0;
    return 1;
}

static struct series *
series_lookup(const struct metric *m, const char *const *values)
{
    for (size_t i = 0; i < m->nseries; i++)
        if (series_matches(m, m->series[i], values))
            return m->series[i];
    return NULL;
}

static void
note_dropped(struct metric *m, const char *why)
{
    reg.dropped_series += 1;
    if (!m->cap_logged) {
        m->cap_logged = 1;
        log_warn("metrics: dropping samples", "metric", m->name, "reason", why);
    }
}

static int
series_append(struct metric *m, struct series *s)
{
    if (m->nseries == m->series_cap) {
        size_t ncap = m->series_cap ? m->series_cap * 2 : 4;
        if (ncap > METRICS_MAX_SERIES)
            ncap = METRICS_MAX_SERIES;
        struct series **p = realloc(m->series, ncap * sizeof *p);
        if (!p)
            return -1;
        m->series = p;
        m->series_cap = ncap;
    }
    m->series[m->nseries++] = s;
    return 0;
}

/* Finds or creates the series for values (NULL entries read as ""). NULL when dropped. */
static struct series *
series_get(struct metric *m, const char *const *values)
{
    const char *vals[METRICS_MAX_LABELS];
    for (size_t i = 0; i < m->nlabels; i++) {
        vals[i] = values && values[i] ? values[i] : "";
        if (strlen(vals[i]) > METRICS_MAX_VALUE_LEN) {
            note_dropped(m, "label value too long");
            return NULL;
        }
    }
    struct series *s = series_lookup(m, vals);
    if (s)
        return s;
    if (m->nseries >= METRICS_MAX_SERIES) {
        note_dropped(m, "series cap reached");
        return NULL;
    }
    s = series_new(m, vals);
    if (!s || series_append(m, s) != 0) {
        free(s);
        note_dropped(m, "out of memory");
        return NULL;
    }
    return s;
}

/* --- registration ------------------------------------------------------------------- */

static void
family_free(struct metric *m)
{
    for (size_t i = 0; i < m->nseries; i++)
        free(m->series[i]);
    free(m->series);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->label_names[i]);
    free(m->name);
    free(m->help);
    free(m);
}

static struct metric *
family_new(const char *name, const char *help, enum metric_type type,
           const char *const *label_names)
{
    size_t nlabels = 0;
    if (!name_valid(name, 1) || !labels_valid(label_names, type, &nlabels))
        return NULL;
    struct metric *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (!m->name || !m->help)
        goto err;
    for (; m->nlabels < nlabels; m->nlabels++) {
        m->label_names[m->nlabels] = strdup(label_names[m->nlabels]);
        if (!m->label_names[m->nlabels])
            goto err;
    }
    return m;
err:
    family_free(m);
    return NULL;
}

/* Links m into the registry; a label-less family gets its one series now. */
static struct metric *
family_register(struct metric *m, const char *name)
{
    if (!m || find_family(name) || strcmp(name, DROPPED_NAME) == 0) {
        log_warn("metrics: cannot register", "metric", name,
                 "reason", m ? "already registered" : "invalid name, labels or bounds");
        if (m)
            family_free(m);
        return NULL;
    }
    if (m->nlabels == 0 && !m->fn && !series_get(m, NULL)) {
        family_free(m);
        return NULL;
    }
    if (reg.tail)
        reg.tail->next = m;
    else
        reg.head = m;
    reg.tail = m;
    return m;
}

struct metric *
metrics_counter(const char *name, const char *help, const char *const *label_names)
{
    return family_register(family_new(name, help, METRIC_COUNTER, label_names), name);
}

struct metric *
metrics_gauge(const char *name, const char *help, const char *const *label_names)
{
    return family_register(family_new(name, help, METRIC_GAUGE, label_names), name);
}

struct metric *
metrics_histogram(const char *name, const char *help, const char *const *label_names,
                  const double *bounds, size_t nbounds)
{
    struct metric *m = NULL;
    if (bounds_valid(bounds, nbounds)) {
        m = family_new(name, help, METRIC_HISTOGRAM, label_names);
        if (m) {
            memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
            m->nbounds = nbounds;
        }
    }
    return family_register(m, name);
}

static struct metric *
fn_family(const char *name, const char *help, enum metric_type type, double (*fn)(void *),
          void *arg)
{
    struct metric *m = fn ? family_new(name, help, type, NULL) : NULL;
    if (m) {
        m->fn = fn;
        m->fn_arg = arg;
    }
    return family_register(m, name);
}

struct metric *
metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *), void *arg)
{
    return fn_family(name, help, METRIC_GAUGE, fn, arg);
}

struct metric *
metrics_counter_fn(const char *name, const char *help, double (*fn)(void *), void *arg)
{
    return fn_family(name, help, METRIC_COUNTER, fn, arg);
}

/* --- updates ------------------------------------------------------------------------ */

void
metrics_addv(struct metric *m, double v, const char *const *values)
{
    if (!m || m->fn || m->type == METRIC_HISTOGRAM)
        return;
    if (m->type == METRIC_COUNTER && !(v >= 0))
        return;
    struct series *s = series_get(m, values);
    if (s)
        s->value += v;
}

void
metrics_setv(struct metric *m, double v, const char *const *values)
{
    if (!m || m->fn || m->type == METRIC_HISTOGRAM)
        return;
    struct series *s = series_get(m, values);
    if (s)
        s->value = v;
}

void
metrics_observev(struct metric *m, double v, const char *const *values)
{
    if (!m || m->type != METRIC_HISTOGRAM)
        return;
    struct series *s = series_get(m, values);
    if (!s)
        return;
    for (size_t i = 0; i < m->nbounds; i++) {
        if (v <= m->bounds[i]) {
            s->buckets[i]++;
            break;
        }
    }
    s->count++;
    s->value += v;
}

/* Reads m->nlabels label values from ap (the caller still owns ap and ends it). */
static void
collect_values(const struct metric *m, va_list ap, const char **vals)
{
    for (size_t i = 0; i < m->nlabels; i++)
        vals[i] = va_arg(ap, const char *);
}

void
metrics_add(struct metric *m, double v, ...)
{
    const char *vals[METRICS_MAX_LABELS] = {0};
    if (!m)
        return;
    va_list ap;
    va_start(ap, v);
    collect_values(m, ap, vals);
    va_end(ap);
    metrics_addv(m, v, vals);
}

void
metrics_set(struct metric *m, double v, ...)
{
    const char *vals[METRICS_MAX_LABELS] = {0};
    if (!m)
        return;
    va_list ap;
    va_start(ap, v);
    collect_values(m, ap, vals);
    va_end(ap);
    metrics_setv(m, v, vals);
}

void
metrics_observe(struct metric *m, double v, ...)
{
    const char *vals[METRICS_MAX_LABELS] = {0};
    if (!m)
        return;
    va_list ap;
    va_start(ap, v);
    collect_values(m, ap, vals);
    va_end(ap);
    metrics_observev(m, v, vals);
}

double
metrics_value(const struct metric *m, const char *const *values)
{
    if (!m)
        return NAN;
    if (m->fn)
        return m->fn(m->fn_arg);
    const char *vals[METRICS_MAX_LABELS];
    for (size_t i = 0; i < m->nlabels; i++)
        vals[i] = values && values[i] ? values[i] : "";
    const struct series *s = series_lookup(m, vals);
    if (!s)
        return NAN;
    return m->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
}

int
metrics_on_scrape(void (*fn)(void *), void *arg)
{
    if (!fn || reg.nhooks == METRICS_MAX_HOOKS)
        return -1;
    reg.hooks[reg.nhooks].fn = fn;
    reg.hooks[reg.nhooks].arg = arg;
    reg.nhooks++;
    return 0;
}

void
metrics_on_scrape_remove(void (*fn)(void *), void *arg)
{
    for (size_t i = 0; i < reg.nhooks; i++) {
        if (reg.hooks[i].fn == fn && reg.hooks[i].arg == arg) {
            memmove(&reg.hooks[i], &reg.hooks[i + 1], (reg.nhooks - i - 1) * sizeof reg.hooks[0]);
            reg.nhooks--;
            return;
        }
    }
}

/* --- rendering ---------------------------------------------------------------------- */

/* Shortest text that reads back as v, in the forms Prometheus parses (+Inf, -Inf, NaN). */
static void
fmt_double(char out[static 32], double v)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
    } else if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
    } else {
        snprintf(out, 32, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, 32, "%.17g", v);
    }
}

/* Appends s escaped: backslash and newline always, the double quote inside label values. */
static int
append_escaped(struct buf *out, const char *s, int quote)
{
    int rc = BUF_OK;
    for (const char *p = s; *p && rc == BUF_OK; p++) {
        if (*p == '\\')
            rc = buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rc = buf_append(out, "\\n", 2);
        else if (*p == '"' && quote)
            rc = buf_append(out, "\\\"", 2);
        else
            rc = buf_append(out, p, 1);
    }
    return rc;
}

/* Appends {a="x",b="y"[,le="bound"]}, or nothing when there are no labels at all. */
static int
append_labels(struct buf *out, const struct metric *m, const struct series *s, const char *le)
{
    if (m->nlabels == 0 && !le)
        return BUF_OK;
    int rc = buf_append(out, "{", 1);
    for (size_t i = 0; i < m->nlabels && rc == BUF_OK; i++) {
        rc = buf_printf(out, "%s%s=\"", i ? "," : "", m->label_names[i]);
        if (rc == BUF_OK)
            rc = append_escaped(out, s->values[i], 1);
        if (rc == BUF_OK)
            rc = buf_append(out, "\"", 1);
    }
    if (le && rc == BUF_OK)
        rc = buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    if (rc == BUF_OK)
        rc = buf_append(out, "}", 1);
    return rc;
}

static int
append_sample(struct buf *out, const struct metric *m, const char *suffix, const struct series *s,
              const char *le, double v)
{
    char num[32];
    fmt_double(num, v);
    int rc = buf_printf(out, "%s%s", m->name, suffix);
    if (rc == BUF_OK)
        rc = append_labels(out, m, s, le);
    if (rc == BUF_OK)
        rc = buf_printf(out, " %s\n", num);
    return rc;
}

static int
render_histogram_series(struct buf *out, const struct metric *m, const struct series *s)
{
    char le[32];
    uint64_t cumulative = 0;
    int rc = BUF_OK;
    for (size_t i = 0; i < m->nbounds && rc == BUF_OK; i++) {
        cumulative += s->buckets[i];
        fmt_double(le, m->bounds[i]);
        rc = append_sample(out, m, "_bucket", s, le, (double)cumulative);
    }
    if (rc == BUF_OK)
        rc = append_sample(out, m, "_bucket", s, "+Inf", (double)s->count);
    if (rc == BUF_OK)
        rc = append_sample(out, m, "_sum", s, NULL, s->value);
    if (rc == BUF_OK)
        rc = append_sample(out, m, "_count", s, NULL, (double)s->count);
    return rc;
}

static int
render_family(struct buf *out, const struct metric *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = buf_printf(out, "# HELP %s ", m->name);
    if (rc == BUF_OK)
        rc = append_escaped(out, m->help, 0);
    if (rc == BUF_OK)
        rc = buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
    if (rc == BUF_OK && m->fn)
        return append_sample(out, m, "", NULL, NULL, m->fn(m->fn_arg));
    for (size_t i = 0; i < m->nseries && rc == BUF_OK; i++) {
        const struct series *s = m->series[i];
        if (m->type == METRIC_HISTOGRAM)
            rc = render_histogram_series(out, m, s);
        else
            rc = append_sample(out, m, "", s, NULL, s->value);
    }
    return rc;
}

int
metrics_render(struct buf *out)
{
    for (size_t i = 0; i < reg.nhooks; i++)
        reg.hooks[i].fn(reg.hooks[i].arg);
    int rc = BUF_OK;
    for (const struct metric *m = reg.head; m && rc == BUF_OK; m = m->next)
        rc = render_family(out, m);
    if (rc == BUF_OK) {
        char num[32];
        fmt_double(num, reg.dropped_series);
        rc = buf_printf(out,
                        "# HELP " DROPPED_NAME " Samples dropped because their metric family "
                        "reached its series cap.\n"
                        "# TYPE " DROPPED_NAME " counter\n" DROPPED_NAME " %s\n",
                        num);
    }
    return rc;
}

void
metrics_reset_all(void)
{
    struct metric *m = reg.head;
    while (m) {
        struct metric *next = m->next;
        family_free(m);
        m = next;
    }
    memset(&reg, 0, sizeof reg);
}

/* --- process metrics ---------------------------------------------------------------- */

/* Reads a small /proc file into out (NUL-terminated). Returns the length, or -1. */
static ssize_t
read_small_file(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, out + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    out[len] = '\0';
    return (ssize_t)len;
}

/* Field `field` (1-based, as in proc(5)) of /proc/self/stat; -1 when unreadable. The command
 * name (field 2) may hold spaces and parentheses, so counting starts after its last ')'. */
static double
proc_stat_field(int field)
{
    char text[1024];
    if (read_small_file("/proc/self/stat", text, sizeof text) <= 0)
        return -1;
    const char *p = strrchr(text, ')');
    if (!p || field < 3)
        return -1;
    p++;
    for (int f = 3; f <= field; f++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (f == field)
            return strtod(p, NULL);
        p += strcspn(p, " ");
    }
    return -1;
}

static double
process_cpu_seconds(void *arg)
{
    (void)arg;
    double utime = proc_stat_field(14), stime = proc_stat_field(15);
    long hz = sysconf(_SC_CLK_TCK);
    if (utime < 0 || stime < 0 || hz <= 0)
        return NAN;
    return (utime + stime) / (double)hz;
}

static double
process_rss_bytes(void *arg)
{
    (void)arg;
    double pages = proc_stat_field(24);
    long page_size = sysconf(_SC_PAGESIZE);
    return pages < 0 || page_size <= 0 ? NAN : pages * (double)page_size;
}

static double
process_vsize_bytes(void *arg)
{
    (void)arg;
    double bytes = proc_stat_field(23);
    return bytes < 0 ? NAN : bytes;
}

static double
process_open_fds(void *arg)
{
    (void)arg;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return NAN;
    double n = 0;
    for (const struct dirent *e = readdir(d); e; e = readdir(d))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static double
process_max_fds(void *arg)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return NAN;
    return (double)rl.rlim_cur;
}

/* Seconds since the epoch: now - uptime + the start tick from /proc/self/stat. Computed once
 * at registration; it never changes. */
static double process_start_s;

static double
process_start_time(void *arg)
{
    (void)arg;
    return process_start_s;
}

static double
compute_start_time_s(void)
{
    char text[128];
    struct timespec now;
    double start_ticks = proc_stat_field(22);
    long hz = sysconf(_SC_CLK_TCK);
    if (start_ticks < 0 || hz <= 0 || read_small_file("/proc/uptime", text, sizeof text) <= 0 ||
        clock_gettime(CLOCK_REALTIME, &now) != 0)
        return NAN;
    double uptime_s = strtod(text, NULL);
    double now_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    return (double)(int64_t)(now_s - uptime_s + start_ticks / (double)hz); /* no libm */
}

int
metrics_register_process(void)
{
    process_start_s = compute_start_time_s();
    int ok = metrics_counter_fn("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                process_cpu_seconds, NULL) != NULL;
    ok &= metrics_gauge_fn("process_open_fds", "Number of open file descriptors.",
                           process_open_fds, NULL) != NULL;
    ok &= metrics_gauge_fn("process_max_fds", "Maximum number of open file descriptors.",
                           process_max_fds, NULL) != NULL;
    ok &= metrics_gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.",
                           process_rss_bytes, NULL) != NULL;
    ok &= metrics_gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           process_vsize_bytes, NULL) != NULL;
    ok &= metrics_gauge_fn("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           process_start_time, NULL) != NULL;
    return ok ? 0 : -1;
}
