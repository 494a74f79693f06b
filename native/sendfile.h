// sendfile.cc's hook: InitSocket calls it so that sendfile and pread stay
// on the one `socket` exports object.
#pragma once

#include <napi.h>

namespace ns {

void InitSendFile(Napi::Env env, Napi::Object socket);

}  // namespace ns
