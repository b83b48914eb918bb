/* The pipeline client's API session: a loop and a kube client driven synchronously.
 *
 * The client is asynchronous (kube_submit + done callback); a command-line tool wants
 * "call and wait". cli_request() submits one request and runs the loop until it completes
 * or the timeout passes. Nothing else runs on the loop, so this never reorders work. */
#ifndef OMJ_CLI_CLI_H
#define OMJ_CLI_CLI_H

#include <stddef.h>

#include "kube/client.h"
#include "kube/config.h"

struct loop;

struct cli {
    struct loop *loop;
    struct kube_config kcfg;
    struct kube_client *client;
    long timeout_s; /* per request */
    char err[1024]; /* the last error: transport, or the API server's message ("" on 2xx) */
};

/* Loads the API configuration (kube_config_load order) and starts a client.
 * Returns 0, or -1 with the reason in c->err. */
int cli_open(struct cli *c, const char *kubeconfig, const char *context, long timeout_s);
void cli_close(struct cli *c);

/* One request, waited for. status: the HTTP status (0 when the request failed below HTTP,
 * then c->err says why). *resp_body (may be NULL to ignore): a NUL-terminated copy the
 * caller frees. GETs and DELETEs are retried on 5xx/429/connection errors.
 * Returns 0 when a response arrived (whatever its status), -1 on transport failure or
 * timeout. */
int cli_request(struct cli *c, const char *method, const char *path, const char *ctype,
                const char *body, long *status, char **resp_body);

/* A streamed GET (logs): data goes to `data` as it arrives. Returns like cli_request;
 * *resp_body gets the error Status body for non-2xx answers. */
int cli_stream(struct cli *c, const char *path, kube_data_fn data, void *arg, long *status,
               char **resp_body);


#endif
