// Invariant checks of the fuzz targets: abort (a libFuzzer finding) with what broke.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace lockstep::fuzz {

[[noreturn]] inline void violation(const char* target, const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "%s: invariant violated: %s %.*s\n", target, what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace lockstep::fuzz

// CHECK(cond) or CHECK(cond, detail): abort with the condition (and detail).
// Each target defines LOCKSTEP_FUZZ_TARGET (its name) before using it.
#define CHECK(cond, ...)                                                                      \
  do {                                                                                        \
    if (!(cond)) ::lockstep::fuzz::violation(LOCKSTEP_FUZZ_TARGET, #cond __VA_OPT__(, ) __VA_ARGS__); \
  } while (0)
