#include "t.h"

#include "ctl/naming.h"

static void
repeat(char *out, char c, size_t n)
{
    memset(out, c, n);
    out[n] = '\0';
}

TEST(naming_short_parent_is_plain)
{
    char out[64];
    T_EQ_INT(naming_child(out, "ingest-42", "main"), 0);
    T_EQ_STR(out, "ingest-42-main");
    T_EQ_INT(naming_child(out, "ingest-42", "exit-1"), 0);
    T_EQ_STR(out, "ingest-42-exit-1");
}

TEST(naming_exactly_63_is_plain_64_is_hashed)
{
    char parent[80], out[64];
    repeat(parent, 'a', 58); /* 58 + "-main" = 63 */
    T_EQ_INT(naming_child(out, parent, "main"), 0);
    T_EQ_INT(strlen(out), 63);
    T_ASSERT(naming_is_dns1123_label(out));
    repeat(parent, 'a', 59);
    T_EQ_INT(naming_child(out, parent, "main"), 1);
    T_ASSERT(strlen(out) <= 63);
    T_ASSERT(naming_is_dns1123_label(out));
    T_ASSERT(strncmp(out, "aaaa", 4) == 0);
    T_ASSERT(strlen(out) > 5 && strcmp(out + strlen(out) - 5, "-main") == 0);
}

TEST(naming_long_parents_with_same_prefix_differ)
{
    char a[260], b[260], oa[64], ob[64];
    repeat(a, 'x', 250);
    repeat(b, 'x', 250);
    b[249] = 'y';
    T_EQ_INT(naming_child(oa, a, "exit"), 1);
    T_EQ_INT(naming_child(ob, b, "exit"), 1);
    T_ASSERT(strcmp(oa, ob) != 0);
    T_ASSERT(naming_is_dns1123_label(oa) && naming_is_dns1123_label(ob));
    /* deterministic */
    char again[64];
    naming_child(again, a, "exit");
    T_EQ_STR(again, oa);
}

TEST(naming_child_sanitizes_dots_and_trims_edges)
{
    char out[64];
    /* a subdomain-style OMJob name is not a DNS label: hashed, dots become dashes */
    T_EQ_INT(naming_child(out, "pipe.v1", "main"), 1);
    T_ASSERT(naming_is_dns1123_label(out));
    T_ASSERT(strncmp(out, "pipe-v1-", 8) == 0);
    /* a prefix cut that would end in '-' is trimmed */
    char parent[80];
    repeat(parent, 'a', 70);
    parent[48] = '-'; /* room for "main" is 63-4-10 = 49 chars: index 48 is the last one */
    T_EQ_INT(naming_child(out, parent, "main"), 1);
    T_ASSERT(naming_is_dns1123_label(out));
    T_ASSERT(strstr(out, "--") == NULL);
    /* nothing usable in the prefix: just hash-suffix */
    T_EQ_INT(naming_child(out, "----", "main"), 1);
    T_EQ_INT(strlen(out), 13);
    T_ASSERT(naming_is_dns1123_label(out));
}

TEST(naming_child_rejects_bad_input)
{
    char out[64];
    T_EQ_INT(naming_child(out, "", "main"), -1);
    T_EQ_STR(out, "");
    T_EQ_INT(naming_child(out, NULL, "main"), -1);
    T_EQ_INT(naming_child(out, "a", ""), -1);
    T_EQ_INT(naming_child(out, "a", "Main"), -1);
    T_EQ_INT(naming_child(out, "a", "main-"), -1);
    T_EQ_INT(naming_child(out, "a", "0123456789012345678901234567890123"), -1);
}

TEST(naming_hash_is_fnv1a_64)
{
    /* published FNV-1a 64 test vectors: stability across builds is part of the contract */
    T_ASSERT(naming_hash("") == 0xcbf29ce484222325ull);
    T_ASSERT(naming_hash("a") == 0xaf63dc4c8601ec8cull);
    T_ASSERT(naming_hash("foobar") == 0x85944171f73967e8ull);
}

TEST(naming_dns1123_checks)
{
    char s[300];
    T_ASSERT(naming_is_dns1123_label("a"));
    T_ASSERT(naming_is_dns1123_label("a-1"));
    T_ASSERT(!naming_is_dns1123_label(""));
    T_ASSERT(!naming_is_dns1123_label("-a"));
    T_ASSERT(!naming_is_dns1123_label("a-"));
    T_ASSERT(!naming_is_dns1123_label("A"));
    T_ASSERT(!naming_is_dns1123_label("a.b"));
    T_ASSERT(!naming_is_dns1123_label("Bad_Name"));
    T_ASSERT(!naming_is_dns1123_label(NULL));
    repeat(s, 'a', 63);
    T_ASSERT(naming_is_dns1123_label(s));
    repeat(s, 'a', 64);
    T_ASSERT(!naming_is_dns1123_label(s));
    T_ASSERT(naming_is_dns1123_subdomain(s)); /* per-label length is not checked */
    T_ASSERT(naming_is_dns1123_subdomain("a.b-c.d"));
    T_ASSERT(!naming_is_dns1123_subdomain("a..b"));
    T_ASSERT(!naming_is_dns1123_subdomain(".a"));
    T_ASSERT(!naming_is_dns1123_subdomain("a."));
    repeat(s, 'a', 253);
    T_ASSERT(naming_is_dns1123_subdomain(s));
    repeat(s, 'a', 254);
    T_ASSERT(!naming_is_dns1123_subdomain(s));
}

TEST(naming_label_values_and_keys)
{
    T_ASSERT(naming_is_label_value(""));
    T_ASSERT(naming_is_label_value("Run_1.a-b"));
    T_ASSERT(!naming_is_label_value("-a"));
    T_ASSERT(!naming_is_label_value("a b"));
    T_ASSERT(naming_is_qualified_name("app.kubernetes.io/run-id"));
    T_ASSERT(naming_is_qualified_name("team"));
    T_ASSERT(!naming_is_qualified_name("/x"));
    T_ASSERT(!naming_is_qualified_name("Bad.Prefix/x"));
    T_ASSERT(!naming_is_qualified_name("a/"));
    T_ASSERT(!naming_is_qualified_name(""));
}

TEST(naming_label_value_shortens_with_hash)
{
    char out[64], v[300], w[300], o2[64];
    T_EQ_INT(naming_label_value(out, "my-omjob"), 0);
    T_EQ_STR(out, "my-omjob");
    T_EQ_INT(naming_label_value(out, ""), 0);
    T_EQ_STR(out, "");
    repeat(v, 'a', 63);
    T_EQ_INT(naming_label_value(out, v), 0);
    repeat(v, 'a', 200);
    repeat(w, 'a', 200);
    w[199] = 'b';
    T_EQ_INT(naming_label_value(out, v), 1);
    T_EQ_INT(naming_label_value(o2, w), 1);
    T_ASSERT(strlen(out) <= 63 && naming_is_label_value(out));
    T_ASSERT(strcmp(out, o2) != 0);
    T_EQ_INT(naming_label_value(out, "has space"), 1);
    T_ASSERT(naming_is_label_value(out));
    T_ASSERT(strncmp(out, "has-space-", 10) == 0);
    T_EQ_INT(naming_label_value(out, NULL), -1);
}
