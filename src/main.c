/* omjob-operator: flags/env → config, then either the `pipeline` client or the operator. */
#include "cli/pipeline.h"
#include "config.h"
#include "operator.h"
#include "util/log.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "pipeline"))
        return cli_pipeline_main(argc - 1, argv + 1);
    struct config cfg;
    char err[512];
    if (config_load(&cfg, argc, (const char *const *)argv, err, sizeof err)) {
        fprintf(stderr, "omjob-operator: %s\n", err);
        return 2;
    }
    if (cfg.show_help) {
        config_usage(argv[0]);
        return 0;
    }
    if (cfg.show_version) {
        version_print(stdout);
        return 0;
    }
    int level = log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "omjob-operator: LOG_LEVEL/--log-level: \"%s\" is not one of DEBUG, "
                        "INFO, WARN, ERROR\n", cfg.log_level);
        return 2;
    }
    log_set_level((enum log_level)level);
    return operator_run(&cfg);
}
