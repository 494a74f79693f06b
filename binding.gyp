{
  "variables": {
    # Opt-in: build the kqueue backend on Linux against libkqueue (see README).
    "with_libkqueue%": "<!(node -p \"process.env.NATIVE_SELECTORS_LIBKQUEUE || ''\")",
    "libkqueue_dir%": "<!(node -p \"process.env.LIBKQUEUE_DIR || ''\")",
    # io_uring for the loop where liburing-dev is installed: the path of
    # liburing.a, linked statically, or '' (then ioUringAvailable() says why).
    # NATIVE_SELECTORS_LIBURING=0 builds without it; so does a cross build
    # (the host's liburing.a is for the host's architecture).
    "liburing_a%": "<!(node -e \"const fs=require('fs');if(process.platform==='linux'&&process.env.NATIVE_SELECTORS_LIBURING!=='0'&&fs.existsSync('/usr/include/liburing.h')){const a=['/usr/lib/'+require('os').machine()+'-linux-gnu','/usr/lib64','/usr/lib','/usr/local/lib'].map(d=>d+'/liburing.a').find(f=>fs.existsSync(f));if(a)process.stdout.write(a)}\")"
  },
  "targets": [
    {
      "target_name": "native_selectors",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/fd_watch.cc",
        "native/selector.cc",
        "native/signals.cc",
        "native/socket.cc",
        "native/address.cc",
        "native/sendfile.cc",
        "native/waker.cc",
        "native/epoll.cc",
        "native/kqueue.cc",
        "native/kqueue_logic.cc",
        "native/kqueue_testing.cc",
        "native/poll.cc",
        "native/uring.cc",
        "native/uring_probe.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-rtti"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO"
      },
      "conditions": [
        ["OS=='linux' and liburing_a!='' and target_arch==host_arch", {
          "defines": ["NS_HAVE_LIBURING"],
          "libraries": ["<(liburing_a)"],
          # Its symbols stay private to the addon.
          "ldflags": ["-Wl,--exclude-libs,liburing.a"]
        }],
        ["OS=='mac' or OS=='freebsd' or OS=='openbsd' or OS=='netbsd'", {
          "defines": ["NS_HAVE_KQUEUE"]
        }],
        ["OS=='linux' and with_libkqueue!='' and libkqueue_dir!=''", {
          "defines": ["NS_HAVE_KQUEUE"],
          "include_dirs": ["<(libkqueue_dir)/include/kqueue", "<(libkqueue_dir)/include"],
          "libraries": ["-L<(libkqueue_dir)/lib", "-Wl,-rpath,<(libkqueue_dir)/lib", "-lkqueue", "-lpthread"]
        }],
        ["OS=='linux' and with_libkqueue!='' and libkqueue_dir==''", {
          "defines": ["NS_HAVE_KQUEUE"],
          "cflags_cc": ["<!@(pkg-config --cflags libkqueue)"],
          "libraries": ["<!@(pkg-config --libs libkqueue)", "-Wl,-rpath,<!(pkg-config --variable=libdir libkqueue)"]
        }]
      ]
    }
  ]
}
