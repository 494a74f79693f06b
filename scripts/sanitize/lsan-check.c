// A tiny Node-API module for sanitizer runs only (built by scripts/sanitize.sh
// into build-asan/, never shipped): leakCheck() runs LeakSanitizer now, in
// this process, and returns 1 if it found leaks, 0 if not, -1 if no
// LeakSanitizer runtime is loaded.
//
// Why in-process: vitest ends its fork workers with SIGTERM and then SIGKILL
// 500 ms later, so the at-exit leak check either never runs or is cut off.
// scripts/sanitize/preload.cjs calls this just before a worker reports
// "stopped", when the test file has finished and torn down.
#include <dlfcn.h>
#include <node_api.h>

static napi_value LeakCheck(napi_env env, napi_callback_info info) {
  (void)info;
  int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "__lsan_do_recoverable_leak_check");
  napi_value result;
  napi_create_int32(env, check != NULL ? (check() != 0) : -1, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "leakCheck", NAPI_AUTO_LENGTH, LeakCheck, NULL, &fn);
  napi_set_named_property(env, exports, "leakCheck", fn);
  return exports;
}
