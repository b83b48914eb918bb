/* The operator process: connects, elects, runs the controllers on one loop until
 * SIGTERM/SIGINT. Returns the process exit code. */
#ifndef OMJ_OPERATOR_H
#define OMJ_OPERATOR_H

struct config;
int operator_run(const struct config *cfg);

#endif
