#include "operator.h"

#include "config.h"
#include "util/log.h"
#include "version.h"

int
operator_run(const struct config *cfg)
{
    if (cfg->reconciliation_threads != 1)
        log_info("RECONCILIATION_THREADS is ignored: the operator runs on one event loop");
    log_error("the reactor and API client are not built yet (issue 2)", "version",
              version_string());
    return 1;
}
