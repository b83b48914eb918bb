#include "t.h"

#include "kube/queue.h"
#include "loop.h"
#include "util/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs fn with the log going to a temporary file and returns what was written (static). */
static const char *
captured(void (*fn)(void *), void *arg)
{
    static char text[8192];
    char path[512];
    snprintf(path, sizeof path, "%s/log.txt", t_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return "";
    log_set_fd(fd);
    fn(arg);
    log_set_fd(-1);
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    text[n > 0 ? n : 0] = 0;
    return text;
}

static void
log_nested(void *arg)
{
    (void)arg;
    size_t m = log_ctx_mark();
    log_ctx_object("omjob", "team-a/nightly");
    log_ctx_add("run.id", "u-1");
    log_info("one", "pod", "nightly-main");
    size_t inner = log_ctx_mark();
    log_ctx_object("cronomjob", "team-a/every-hour");
    log_ctx_add("run.id", "u-2"); /* shadows u-1, not written twice */
    log_info("two");
    log_ctx_restore(inner);
    log_info("three", "omjob.name", "explicit");
    log_ctx_restore(m);
    log_info("four");
}

TEST(log_context_fields_nest_and_never_repeat_a_key)
{
    const char *out = captured(log_nested, NULL);
    T_CONTAINS(out, "\"msg\":\"one\",\"pod\":\"nightly-main\",\"omjob.namespace\":\"team-a\","
                    "\"omjob.name\":\"nightly\",\"run.id\":\"u-1\"}");
    T_CONTAINS(out, "\"msg\":\"two\",\"omjob.namespace\":\"team-a\",\"omjob.name\":\"nightly\","
                    "\"cronomjob.namespace\":\"team-a\",\"cronomjob.name\":\"every-hour\","
                    "\"run.id\":\"u-2\"}");
    /* the caller's own field wins; the restore brought the outer run id back */
    T_CONTAINS(out, "\"msg\":\"three\",\"omjob.name\":\"explicit\",\"omjob.namespace\":\"team-a\","
                    "\"run.id\":\"u-1\"}");
    T_CONTAINS(out, "\"msg\":\"four\"}");
    T_ASSERT(log_ctx_get("omjob.name") == NULL);
}

TEST(log_context_is_bounded)
{
    size_t m = log_ctx_mark();
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    log_ctx_add("k0", big);
    size_t cut = strlen(log_ctx_get("k0"));
    char k[16];
    for (int i = 1; i < LOG_CTX_MAX + 5; i++) {
        snprintf(k, sizeof k, "k%d", i);
        log_ctx_add(k, "v");
    }
    size_t full = log_ctx_mark();
    const char *dropped = log_ctx_get("k12");
    log_ctx_restore(m);
    T_EQ_INT(cut, LOG_CTX_VAL_MAX - 1);
    T_EQ_INT(full, LOG_CTX_MAX);
    T_ASSERT(dropped == NULL);
    T_EQ_INT(log_ctx_mark(), m);
    log_ctx_object("node", "clusterscoped");
    const char *name = log_ctx_get("node.name"), *ns = log_ctx_get("node.namespace");
    int name_ok = name && !strcmp(name, "clusterscoped");
    log_ctx_restore(m);
    T_ASSERT(name_ok);
    T_ASSERT(ns == NULL);
}

struct qrun {
    struct loop *l;
    struct workqueue *q;
    int seen;
};

static void
q_process(void *arg, const char *key)
{
    struct qrun *r = arg;
    (void)key;
    log_info("reconciling");
    r->seen++;
    loop_stop(r->l);
}

static void
run_queue(void *arg)
{
    struct qrun *r = arg;
    workqueue_add(r->q, "ns1/job-x");
    loop_run(r->l);
    log_info("after");
}

TEST(work_queue_sets_the_object_context_around_process)
{
    struct qrun r = {0};
    r.l = loop_new();
    T_ASSERT(r.l);
    r.q = workqueue_new(r.l, q_process, &r);
    T_ASSERT(r.q);
    workqueue_set_log_kind(r.q, "omjob");
    const char *out = captured(run_queue, &r);
    workqueue_free(r.q);
    loop_free(r.l);
    T_EQ_INT(r.seen, 1);
    T_CONTAINS(out, "\"msg\":\"reconciling\",\"omjob.namespace\":\"ns1\",\"omjob.name\":\"job-x\"}");
    T_CONTAINS(out, "\"msg\":\"after\"}");
}
