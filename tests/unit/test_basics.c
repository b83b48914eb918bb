#include "t.h"

#include "config.h"
#include "util/buf.h"
#include "util/log.h"

#include <stdlib.h>

TEST(buf_cap_is_enforced)
{
    struct buf b;
    buf_init(&b, 8);
    T_EQ_INT(buf_appends(&b, "12345678"), BUF_OK);
    T_EQ_INT(buf_appends(&b, "9"), BUF_TOO_BIG);
    T_EQ_STR(buf_str(&b), "12345678");
    buf_consume(&b, 3);
    T_EQ_STR(buf_str(&b), "45678");
    T_EQ_INT(buf_printf(&b, "%d", 123), BUF_OK);
    T_EQ_STR(buf_str(&b), "45678123");
    T_EQ_INT(buf_printf(&b, "%d", 4), BUF_TOO_BIG);
    char *s = buf_take(&b);
    T_EQ_STR(s, "45678123");
    T_EQ_INT(b.len, 0);
    free(s);
}

TEST(buf_printf_formats_in_place_or_grows_and_undoes_a_refusal)
{
    struct buf b;
    buf_init(&b, 200);
    T_EQ_INT(buf_appends(&b, "ab"), BUF_OK); /* capacity 64 */
    T_EQ_INT(buf_printf(&b, "-%d-", 42), BUF_OK); /* fits: formatted once */
    T_EQ_STR(buf_str(&b), "ab-42-");
    T_EQ_INT(buf_printf(&b, "%0100d", 7), BUF_OK); /* does not fit: grows, formats again */
    T_EQ_INT(b.len, 106);
    T_EQ_INT(b.data[105], '7');
    T_EQ_INT(b.data[106], '\0');
    T_EQ_INT(buf_printf(&b, "%0100d", 8), BUF_TOO_BIG); /* past the limit: unchanged */
    T_EQ_INT(b.len, 106);
    T_EQ_INT(b.data[106], '\0');
    buf_free(&b);
}

TEST(buf_json_escape)
{
    struct buf b;
    buf_init(&b, 100);
    T_EQ_INT(buf_append_json_escaped(&b, "a\"b\\c\n\x01"), BUF_OK);
    T_EQ_STR(buf_str(&b), "a\\\"b\\\\c\\n\\u0001");
    buf_reset(&b);
    b.limit = 3;
    T_EQ_INT(buf_append_json_escaped(&b, "ab\""), BUF_TOO_BIG);
    T_EQ_STR(buf_str(&b), ""); /* failed escape leaves the buffer unchanged */
    buf_free(&b);
}

TEST(buf_url_escape_keeps_only_unreserved_characters)
{
    struct buf b;
    buf_init(&b, 100);
    /* a hostile resourceVersion must not add query parameters (fuzz_list found it) */
    T_EQ_INT(buf_append_url_escaped(&b, "194&limit=1 +/%~._-Az9\xc3\xa9"), BUF_OK);
    T_EQ_STR(buf_str(&b), "194%26limit%3D1%20%2B%2F%25~._-Az9%C3%A9");
    buf_reset(&b);
    b.limit = 5;
    T_EQ_INT(buf_append_url_escaped(&b, "ab&c"), BUF_TOO_BIG);
    T_EQ_STR(buf_str(&b), ""); /* all or nothing */
    buf_free(&b);
}

TEST(log_levels_parse)
{
    T_EQ_INT(log_level_parse("DEBUG"), LOG_DEBUG);
    T_EQ_INT(log_level_parse("warning"), LOG_WARN);
    T_EQ_INT(log_level_parse("Error"), LOG_ERROR);
    T_EQ_INT(log_level_parse("loud"), -1);
}

TEST(config_defaults_env_and_flags)
{
    struct config c;
    char err[256];
    setenv("HEALTH_CHECK_PORT", "9090", 1);
    setenv("WATCH_NAMESPACES", "a,b", 1);
    const char *argv[] = {"x", "--metrics-port=9191", "--leader-elect=false", "--context", "kind", NULL};
    T_EQ_INT(config_load(&c, 5, argv, err, sizeof err), 0);
    T_EQ_INT(c.health_port, 9090);
    T_EQ_INT(c.metrics_port, 9191);
    T_EQ_INT(c.leader_elect, 0);
    T_EQ_STR(c.context, "kind");
    T_EQ_STR(c.watch_namespaces, "a,b");
    T_EQ_INT(c.lease_duration_s, 15);
    unsetenv("HEALTH_CHECK_PORT");
    unsetenv("WATCH_NAMESPACES");
}

TEST(config_rejects_bad_values_naming_the_source)
{
    struct config c;
    char err[256];
    setenv("METRICS_PORT", "70000", 1);
    const char *argv[] = {"x", NULL};
    T_EQ_INT(config_load(&c, 1, argv, err, sizeof err), -1);
    T_CONTAINS(err, "METRICS_PORT");
    unsetenv("METRICS_PORT");
    const char *argv2[] = {"x", "--nope", NULL};
    T_EQ_INT(config_load(&c, 2, argv2, err, sizeof err), -1);
    T_CONTAINS(err, "--nope");
    const char *argv3[] = {"x", "--qps", "ten", NULL};
    T_EQ_INT(config_load(&c, 3, argv3, err, sizeof err), -1);
    T_CONTAINS(err, "--qps");
}
