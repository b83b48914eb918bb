/* `omjob-operator pipeline …`: OpenMetadata's Kubernetes pipeline lifecycle from the command
 * line (deploy, run, status, kill, toggle, delete, list, logs), in operator mode (OMJob,
 * CronOMJob) or job mode (Job, CronJob). See README "Pipeline client". */
#ifndef OMJ_CLI_PIPELINE_H
#define OMJ_CLI_PIPELINE_H

/* argv[0] is "pipeline". Returns the process exit code: 0 ok, 1 error, 2 usage. */
int cli_pipeline_main(int argc, char **argv);

#endif
