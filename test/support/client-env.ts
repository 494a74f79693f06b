// The environment for client programs the tests run (curl, python3): the
// sanitizer run preloads the ASan runtime into every process it starts, for
// the sake of node and the addon; clients we did not write should run as
// they are (curl under a preloaded libasan stalls).
export function clientEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  return env;
}
