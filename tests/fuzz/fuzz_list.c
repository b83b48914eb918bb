/* LIST pages (kube/watch.c list_done), driven through informer_driver.h.
 * Input: the body of the first page. If it names a continue token, the next page is empty.
 * Invariants: callbacks agree with the cache (informer_driver.h); a page that is not a list
 * leaves the informer unsynced and backing off; after the list the informer watches; a
 * relist (forced by a 410 on the watch) with the same page ends with the same cache
 * (same keys, same resourceVersions). */
#include "informer_driver.h"

static void
dump_one(void *arg, struct kobj *o)
{
    buf_printf(arg, "%s=%s;", o->key, o->rv);
}

static char *
dump(void)
{
    struct buf c;
    buf_init(&c, 64u << 20);
    cache_foreach(informer_cache(drv.inf), dump_one, &c);
    return buf_take(&c);
}

/* Answers LIST requests with body (the first page) and then empty last pages. Returns 1 if
 * the list completed (a watch is in flight). */
static int
list(const char *body, size_t len)
{
    FUZZ_CHECK(drv_pending_is("limit="), "no LIST: %s", drv.req.path);
    drv_answer(200, body, len);
    for (int pages = 0; drv_pending_is("limit=") && pages < 3; pages++) {
        FUZZ_CHECK(strstr(drv.req.path, "&continue="), "another first page: %s", drv.req.path);
        drv_answer(200, drv_empty_list, sizeof drv_empty_list - 1);
    }
    return drv_pending_is("watch=1");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    drv_begin();
    int listed = list((const char *)data, size);
    FUZZ_CHECK(listed == informer_synced(drv.inf), "synced %d but watching %d",
               informer_synced(drv.inf), listed);
    if (listed) {
        char *first = dump();
        /* the watch says 410: relist, same page */
        drv_stream("", 0, 0, 410);
        FUZZ_CHECK(list((const char *)data, size), "the relist did not complete");
        char *second = dump();
        FUZZ_CHECK(!strcmp(first ? first : "", second ? second : ""),
                   "relist of the same page changed the cache");
        free(first);
        free(second);
    } else {
        FUZZ_CHECK(!drv.req.active, "a request in flight after a bad page: %s", drv.req.path);
    }
    drv_end();
    return 0;
}
