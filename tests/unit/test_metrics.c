#include "t.h"

#include "http/metrics.h"
#include "util/buf.h"
#include "util/log.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DROPPED_TRAILER(n)                                                                         \
    "# HELP omjob_metrics_dropped_series_total Samples dropped because their metric family "       \
    "reached its series cap.\n"                                                                    \
    "# TYPE omjob_metrics_dropped_series_total counter\n"                                          \
    "omjob_metrics_dropped_series_total " n "\n"

/* Renders the registry into a static string (tests only). */
static const char *
render(void)
{
    static char text[65536];
    struct buf b;
    buf_init(&b, sizeof text - 1);
    if (metrics_render(&b) != BUF_OK) {
        buf_free(&b);
        return "(render failed)";
    }
    memcpy(text, buf_str(&b), b.len + 1);
    buf_free(&b);
    return text;
}

/* Silences the registry's warnings while a test provokes them. */
static int
quiet(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    log_set_fd(fd);
    return fd;
}

static void
unquiet(int fd)
{
    log_set_fd(-1);
    if (fd >= 0)
        close(fd);
}

TEST(metrics_counter_and_gauge_render_exactly)
{
    metrics_reset_all();
    struct metric *c = metrics_counter("omjob_requests_total", "Requests.", NULL);
    struct metric *g = metrics_gauge("omjob_queue_depth", "Queue depth.",
                                     (const char *const[]){"queue", NULL});
    T_ASSERT(c && g);
    metrics_add(c, 2);
    metrics_add(c, 1.5);
    metrics_add(c, -4); /* ignored: counters only go up */
    metrics_set(g, 3, "omjob");
    metrics_set(g, 7, "cron");
    metrics_add(g, -1, "omjob");
    T_EQ_STR(render(), "# HELP omjob_requests_total Requests.\n"
                       "# TYPE omjob_requests_total counter\n"
                       "omjob_requests_total 3.5\n"
                       "# HELP omjob_queue_depth Queue depth.\n"
                       "# TYPE omjob_queue_depth gauge\n"
                       "omjob_queue_depth{queue=\"omjob\"} 2\n"
                       "omjob_queue_depth{queue=\"cron\"} 7\n" DROPPED_TRAILER("0"));
    T_ASSERT(metrics_value(g, (const char *const[]){"cron"}) == 7);
    T_ASSERT(isnan(metrics_value(g, (const char *const[]){"nope"})));
    metrics_reset_all();
}

TEST(metrics_unused_family_renders_header_only)
{
    metrics_reset_all();
    T_ASSERT(metrics_counter("a_total", "A.", (const char *const[]){"x", NULL}));
    T_EQ_STR(render(), "# HELP a_total A.\n# TYPE a_total counter\n" DROPPED_TRAILER("0"));
    metrics_reset_all();
}

TEST(metrics_escaping_of_help_and_label_values)
{
    metrics_reset_all();
    struct metric *c = metrics_counter("esc_total", "Back\\slash, \"quote\" and\nnewline.",
                                       (const char *const[]){"a", "b", NULL});
    T_ASSERT(c);
    metrics_add(c, 1, "x\\y\"z\nw", "");
    metrics_add(c, 1, "plain", (const char *)NULL); /* NULL reads as "" */
    T_EQ_STR(render(), "# HELP esc_total Back\\\\slash, \"quote\" and\\nnewline.\n"
                       "# TYPE esc_total counter\n"
                       "esc_total{a=\"x\\\\y\\\"z\\nw\",b=\"\"} 1\n"
                       "esc_total{a=\"plain\",b=\"\"} 1\n" DROPPED_TRAILER("0"));
    metrics_reset_all();
}

TEST(metrics_histogram_buckets_are_cumulative)
{
    metrics_reset_all();
    const double bounds[] = {0.005, 0.1, 1, 2.5};
    struct metric *h = metrics_histogram("lat_seconds", "Latency.",
                                         (const char *const[]){"verb", NULL}, bounds, 4);
    T_ASSERT(h);
    metrics_observe(h, 0.005, "GET"); /* le is inclusive */
    metrics_observe(h, 0.05, "GET");
    metrics_observe(h, 0.5, "GET");
    metrics_observe(h, 0.7, "GET");
    metrics_observe(h, 100, "GET"); /* only +Inf */
    metrics_observe(h, 1, "PATCH");
    T_EQ_STR(render(), "# HELP lat_seconds Latency.\n"
                       "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{verb=\"GET\",le=\"0.005\"} 1\n"
                       "lat_seconds_bucket{verb=\"GET\",le=\"0.1\"} 2\n"
                       "lat_seconds_bucket{verb=\"GET\",le=\"1\"} 4\n"
                       "lat_seconds_bucket{verb=\"GET\",le=\"2.5\"} 4\n"
                       "lat_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 5\n"
                       "lat_seconds_sum{verb=\"GET\"} 101.255\n"
                       "lat_seconds_count{verb=\"GET\"} 5\n"
                       "lat_seconds_bucket{verb=\"PATCH\",le=\"0.005\"} 0\n"
                       "lat_seconds_bucket{verb=\"PATCH\",le=\"0.1\"} 0\n"
                       "lat_seconds_bucket{verb=\"PATCH\",le=\"1\"} 1\n"
                       "lat_seconds_bucket{verb=\"PATCH\",le=\"2.5\"} 1\n"
                       "lat_seconds_bucket{verb=\"PATCH\",le=\"+Inf\"} 1\n"
                       "lat_seconds_sum{verb=\"PATCH\"} 1\n"
                       "lat_seconds_count{verb=\"PATCH\"} 1\n" DROPPED_TRAILER("0"));
    metrics_reset_all();
}

TEST(metrics_unlabelled_histogram_exists_from_registration)
{
    metrics_reset_all();
    const double bounds[] = {1};
    T_ASSERT(metrics_histogram("h", "H.", NULL, bounds, 1));
    T_EQ_STR(render(), "# HELP h H.\n# TYPE h histogram\n"
                       "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
                       DROPPED_TRAILER("0"));
    metrics_reset_all();
}

TEST(metrics_series_cap_drops_and_counts)
{
    metrics_reset_all();
    int fd = quiet();
    struct metric *c = metrics_counter("many_total", "Many.", (const char *const[]){"id", NULL});
    T_ASSERT(c);
    char id[32];
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf(id, sizeof id, "%d", i);
        metrics_add(c, 1, id);
    }
    metrics_add(c, 1, "0"); /* existing series still update past the cap */
    char long_value[METRICS_MAX_VALUE_LEN + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    metrics_add(c, 1, long_value);
    unquiet(fd);
    T_ASSERT(metrics_value(c, (const char *const[]){"0"}) == 2);
    T_ASSERT(isnan(metrics_value(c, (const char *const[]){"520"})));
    const char *text = render();
    T_CONTAINS(text, "many_total{id=\"511\"} 1\n");
    T_ASSERT(strstr(text, "many_total{id=\"512\"}") == NULL);
    T_CONTAINS(text, "omjob_metrics_dropped_series_total 11\n");
    metrics_reset_all();
}

TEST(metrics_rejects_bad_registrations)
{
    metrics_reset_all();
    int fd = quiet();
    const double ok_bounds[] = {1, 2};
    const double bad_bounds[] = {2, 1};
    const double inf_bounds[] = {1, INFINITY};
    T_ASSERT(metrics_counter("dup_total", "x", NULL));
    T_ASSERT(!metrics_counter("dup_total", "x", NULL));
    T_ASSERT(!metrics_gauge("9starts_with_digit", "x", NULL));
    T_ASSERT(!metrics_gauge("has space", "x", NULL));
    T_ASSERT(!metrics_gauge("", "x", NULL));
    T_ASSERT(!metrics_gauge(NULL, "x", NULL));
    T_ASSERT(!metrics_gauge("g1", "x", (const char *const[]){"a:b", NULL}));
    T_ASSERT(!metrics_gauge("g2", "x", (const char *const[]){"__reserved", NULL}));
    T_ASSERT(!metrics_gauge("g3", "x", (const char *const[]){"a", "a", NULL}));
    T_ASSERT(!metrics_gauge("g4", "x", (const char *const[]){"a", "b", "c", "d", "e", NULL}));
    T_ASSERT(metrics_gauge("g5", "x", (const char *const[]){"a", "b", "c", "d", NULL}));
    T_ASSERT(!metrics_histogram("h1", "x", (const char *const[]){"le", NULL}, ok_bounds, 2));
    T_ASSERT(!metrics_histogram("h2", "x", NULL, bad_bounds, 2));
    T_ASSERT(!metrics_histogram("h3", "x", NULL, inf_bounds, 2));
    T_ASSERT(!metrics_histogram("h4", "x", NULL, ok_bounds, 0));
    T_ASSERT(!metrics_counter("omjob_metrics_dropped_series_total", "x", NULL));
    T_ASSERT(!metrics_gauge_fn("f", "x", NULL, NULL));
    T_ASSERT(metrics_gauge("ns:colon_ok", "x", NULL));
    unquiet(fd);
    /* NULL families are accepted everywhere and do nothing. */
    metrics_add(NULL, 1);
    metrics_set(NULL, 1, "a");
    metrics_observe(NULL, 1);
    T_ASSERT(isnan(metrics_value(NULL, NULL)));
    metrics_reset_all();
}

TEST(metrics_number_formats)
{
    metrics_reset_all();
    struct metric *g = metrics_gauge("n", "N.", (const char *const[]){"k", NULL});
    metrics_set(g, 0.1, "a");
    metrics_set(g, 1e21, "b");
    metrics_set(g, -2, "c");
    metrics_set(g, INFINITY, "d");
    metrics_set(g, -INFINITY, "e");
    metrics_set(g, NAN, "f");
    metrics_set(g, 123456789012, "g");
    metrics_set(g, 1.0 / 3.0, "h");
    T_EQ_STR(render(), "# HELP n N.\n# TYPE n gauge\n"
                       "n{k=\"a\"} 0.1\nn{k=\"b\"} 1e+21\nn{k=\"c\"} -2\nn{k=\"d\"} +Inf\n"
                       "n{k=\"e\"} -Inf\nn{k=\"f\"} NaN\nn{k=\"g\"} 123456789012\n"
                       "n{k=\"h\"} 0.33333333333333331\n" DROPPED_TRAILER("0"));
    metrics_reset_all();
}

static double
answer(void *arg)
{
    return *(const double *)arg;
}

static void
hook_sets_gauge(void *arg)
{
    metrics_set(arg, 42);
}

TEST(metrics_fn_families_and_scrape_hooks)
{
    metrics_reset_all();
    double v = 5;
    T_ASSERT(metrics_gauge_fn("fn_g", "G.", answer, &v));
    T_ASSERT(metrics_counter_fn("fn_total", "C.", answer, &v));
    struct metric *g = metrics_gauge("hooked", "H.", NULL);
    T_EQ_INT(metrics_on_scrape(hook_sets_gauge, g), 0);
    v = 6;
    T_EQ_STR(render(), "# HELP fn_g G.\n# TYPE fn_g gauge\nfn_g 6\n"
                       "# HELP fn_total C.\n# TYPE fn_total counter\nfn_total 6\n"
                       "# HELP hooked H.\n# TYPE hooked gauge\nhooked 42\n" DROPPED_TRAILER("0"));
    metrics_on_scrape_remove(hook_sets_gauge, g);
    metrics_set(g, 1);
    T_CONTAINS(render(), "hooked 1\n");
    metrics_reset_all();
}

TEST(metrics_process_metrics_are_plausible)
{
    metrics_reset_all();
    T_EQ_INT(metrics_register_process(), 0);
    const char *text = render();
    T_CONTAINS(text, "# TYPE process_cpu_seconds_total counter\n");
    T_CONTAINS(text, "# TYPE process_resident_memory_bytes gauge\n");
    T_CONTAINS(text, "# TYPE process_start_time_seconds gauge\n");
    T_CONTAINS(text, "# TYPE process_open_fds gauge\n");
    const char *p = strstr(text, "\nprocess_resident_memory_bytes ");
    T_ASSERT(p);
    T_ASSERT(strtod(p + strlen("\nprocess_resident_memory_bytes "), NULL) > 100000);
    p = strstr(text, "\nprocess_open_fds ");
    T_ASSERT(p);
    double fds = strtod(p + strlen("\nprocess_open_fds "), NULL);
    T_ASSERT(fds >= 3 && fds < 10000);
    p = strstr(text, "\nprocess_start_time_seconds ");
    T_ASSERT(p);
    double start = strtod(p + strlen("\nprocess_start_time_seconds "), NULL);
    T_ASSERT(start > 1.5e9 && start < 4e9);
    T_ASSERT(strstr(text, "NaN") == NULL);
    metrics_reset_all();
}

TEST(metrics_render_respects_buffer_cap)
{
    metrics_reset_all();
    T_ASSERT(metrics_counter("x_total", "X.", NULL));
    struct buf b;
    buf_init(&b, 20);
    T_EQ_INT(metrics_render(&b), BUF_TOO_BIG);
    buf_free(&b);
    metrics_reset_all();
}
