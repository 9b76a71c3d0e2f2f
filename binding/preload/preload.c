// A tiny addon with no libtorch dependency: it opens shared libraries by absolute path and keeps
// them open. src/native.ts opens the libtorch it found (libc10, libtorch_cpu, …) through it
// before it loads the main addon, whose dependencies on those libraries (by soname) then resolve
// to the ones already open: a prebuilt addon runs on whatever libtorch folder the loader chose,
// without an RPATH into the machine that built it and without LD_LIBRARY_PATH.
#include <dlfcn.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

// open(path: string): undefined; throws with dlerror()'s message.
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype type;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_string) {
    napi_throw_type_error(env, NULL, "preload.open: expected a library path (string)");
    return NULL;
  }
  size_t len = 0;
  napi_get_value_string_utf8(env, argv[0], NULL, 0, &len);
  char* path = malloc(len + 1);
  if (!path) {
    napi_throw_error(env, NULL, "preload.open: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], path, len + 1, &len);
  // RTLD_LOCAL: the symbols serve the addon that links these libraries (through its soname
  // dependencies), not every library loaded later. Never closed: libtorch stays for the process.
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  free(path);
  if (!handle) {
    const char* err = dlerror();
    napi_throw_error(env, NULL, err ? err : "dlopen failed");
    return NULL;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "open", fn) != napi_ok) return NULL;
  return exports;
}
