/* Watch streams (kube/watch.c): the framer (newline-delimited JSON events, whatever the
 * HTTP chunking) and the informer's handling of ADDED/MODIFIED/DELETED/BOOKMARK/ERROR
 * events, driven through informer_driver.h instead of the HTTP client.
 * Input: byte 0 seeds how the stream is split; the rest is the stream.
 * Invariants:
 *  - the framer yields the same events and the same oversized count for the whole stream
 *    and for any split of it (checked with a small cap, so oversized events occur), every
 *    event non-empty, without newline and within the cap;
 *  - the informer's callbacks agree with its cache at every step (informer_driver.h) and
 *    are the same, in the same order, for the whole stream and for a split one, including
 *    the relist that follows an ERROR 410; the cache ends the same. */
#include "informer_driver.h"

#define SMALL_CAP 64

struct events {
    struct buf all;
    size_t n;
};

static int
on_frame(void *arg, const char *ev, size_t len)
{
    struct events *e = arg;
    FUZZ_CHECK(len > 0, "empty event");
    FUZZ_CHECK(len <= SMALL_CAP, "event of %zu bytes past the cap", len);
    FUZZ_CHECK(memchr(ev, '\n', len) == NULL, "newline inside an event");
    buf_printf(&e->all, "%zu:", len);
    buf_append(&e->all, ev, len);
    e->n++;
    return 0;
}

static void
frame(const char *s, size_t len, unsigned seed, struct events *e, size_t *oversized)
{
    struct watch_framer f;
    framer_init(&f, SMALL_CAP);
    buf_init(&e->all, 64u << 20);
    e->n = 0;
    size_t off = 0;
    unsigned x = seed;
    while (off < len) {
        size_t n = len - off;
        if (seed) {
            x = x * 1103515245u + 12345u;
            n = 1 + (x >> 16) % (seed % 97 + 1);
            if (n > len - off) n = len - off;
        }
        FUZZ_CHECK(framer_feed(&f, s + off, n, on_frame, e) == 0, "framer stopped");
        off += n;
    }
    *oversized = f.oversized;
    framer_free(&f);
}

static void
dump_one(void *arg, struct kobj *o)
{
    buf_printf(arg, "%s=%s;", o->key, o->rv);
}

/* One informer run; returns its callback log and final cache (caller frees both). */
static void
run(const char *s, size_t len, unsigned seed, char **log, char **cache)
{
    drv_begin();
    FUZZ_CHECK(drv_pending_is("limit="), "no LIST first: %s", drv.req.path);
    drv_answer(200, drv_empty_list, sizeof drv_empty_list - 1);
    FUZZ_CHECK(drv_pending_is("watch=1"), "no watch after the LIST");
    drv_stream(s, len, seed, 200);
    if (drv_pending_is("limit=")) /* relist after 410: nothing exists any more */
        drv_answer(200, drv_empty_list, sizeof drv_empty_list - 1);
    struct buf c;
    buf_init(&c, 64u << 20);
    cache_foreach(informer_cache(drv.inf), dump_one, &c);
    *cache = buf_take(&c);
    *log = buf_take(&drv.log);
    drv_end();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    unsigned seed = data[0] | 1u;

    struct events whole, split;
    size_t ov_whole, ov_split;
    frame(s, len, 0, &whole, &ov_whole);
    frame(s, len, seed, &split, &ov_split);
    FUZZ_CHECK(whole.n == split.n && ov_whole == ov_split && whole.all.len == split.all.len &&
                   (whole.all.len == 0 || !memcmp(whole.all.data, split.all.data, whole.all.len)),
               "split %u: %zu events (%zu oversized) vs %zu (%zu)", seed, split.n, ov_split,
               whole.n, ov_whole);
    buf_free(&whole.all);
    buf_free(&split.all);

    char *log1, *cache1, *log2, *cache2;
    run(s, len, 0, &log1, &cache1);
    run(s, len, seed, &log2, &cache2);
    FUZZ_CHECK(!strcmp(log1 ? log1 : "", log2 ? log2 : ""), "callbacks differ for split %u", seed);
    FUZZ_CHECK(!strcmp(cache1 ? cache1 : "", cache2 ? cache2 : ""), "caches differ for split %u",
               seed);
    free(log1);
    free(cache1);
    free(log2);
    free(cache2);
    return 0;
}
